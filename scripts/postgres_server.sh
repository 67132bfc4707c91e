#!/usr/bin/env bash
# A throwaway PostgreSQL server for the tests (.ci/run, or by hand): `start DIR` installs
# Debian's postgresql when its binaries are missing, initialises DIR, starts the server on
# 127.0.0.1:$PGPORT (default 55432) and prints the URL for MEDIAREC_TEST_POSTGRES_URL; `stop DIR`
# stops it. Runs the server as the `postgres` user when started as root (initdb refuses root).
set -euo pipefail
action=${1:?usage: postgres_server.sh start|stop DIR}
dir=${2:?usage: postgres_server.sh start|stop DIR}
port=${PGPORT:-55432}

bindir() { ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1; }

as_owner() {
    if [ "$(id -u)" = 0 ]; then su postgres -s /bin/bash -c "$*"; else bash -c "$*"; fi
}

case "$action" in
start)
    if [ -z "$(bindir)" ]; then
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
    fi
    bin=$(bindir)
    mkdir -p "$dir"
    [ "$(id -u)" = 0 ] && chown postgres "$dir"
    as_owner "'$bin/initdb' -D '$dir/data' -A trust -U postgres >'$dir/initdb.log'"
    as_owner "'$bin/pg_ctl' -D '$dir/data' -l '$dir/server.log' -w \
        -o \"-p $port -k '$dir' -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200\" start >/dev/null"
    echo "postgresql://postgres@127.0.0.1:$port/postgres"
    ;;
stop)
    bin=$(bindir)
    as_owner "'$bin/pg_ctl' -D '$dir/data' -m fast stop >/dev/null" || true
    ;;
*)
    echo "usage: postgres_server.sh start|stop DIR" >&2
    exit 2
    ;;
esac
