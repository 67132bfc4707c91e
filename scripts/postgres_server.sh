#!/usr/bin/env bash
# A throwaway PostgreSQL server for the tests (.ci/run, or by hand): `start DIR` installs
# Debian's postgresql when its binaries are missing (as root), initialises DIR with the C locale
# (byte order, as SQLite compares text), starts the server on 127.0.0.1 ($PGPORT, else the first
# free port from 55432) and prints the URL for MEDIAREC_TEST_POSTGRES_URL; `stop DIR` stops it
# and removes DIR. Runs the server as the `postgres` user when started as root (initdb refuses
# root).
set -euo pipefail
action=${1:?usage: postgres_server.sh start|stop DIR}
dir=${2:?usage: postgres_server.sh start|stop DIR}

bindir() { ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1 || true; }

as_owner() {
    if [ "$(id -u)" = 0 ]; then su postgres -s /bin/bash -c "$*"; else bash -c "$*"; fi
}

free_port() {
    local port
    for port in $(seq 55432 55532); do
        if ! (echo >"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
            echo "$port"
            return
        fi
    done
    echo "no free port in 55432-55532" >&2
    return 1
}

case "$action" in
start)
    if [ -z "$(bindir)" ]; then
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
    fi
    bin=$(bindir)
    port=${PGPORT:-$(free_port)}
    rm -rf "$dir/data"
    mkdir -p "$dir"
    if [ "$(id -u)" = 0 ]; then chown postgres "$dir"; fi
    as_owner "'$bin/initdb' -D '$dir/data' -A trust -U postgres --locale=C --encoding=UTF8 \
        >'$dir/initdb.log'"
    if ! as_owner "'$bin/pg_ctl' -D '$dir/data' -l '$dir/server.log' -w \
        -o \"-p $port -k '$dir' -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200\" \
        start >/dev/null"; then
        cat "$dir/server.log" >&2
        exit 1
    fi
    echo "postgresql://postgres@127.0.0.1:$port/postgres"
    ;;
stop)
    bin=$(bindir)
    if [ -n "$bin" ] && [ -d "$dir/data" ]; then
        as_owner "'$bin/pg_ctl' -D '$dir/data' -m fast stop >/dev/null" || true
    fi
    rm -rf "$dir"
    ;;
*)
    echo "usage: postgres_server.sh start|stop DIR" >&2
    exit 2
    ;;
esac
