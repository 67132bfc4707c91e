"""``mediarec keys create | list | revoke``: the API keys every HTTP request presents."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from functions.common.http.api_keys import SCOPES, ApiKey
from training.cli.options import Commands


def _when(ms: int | None) -> str:
    from functions.common.clock import to_iso

    return to_iso(ms)[:19].replace("T", " ") if ms else "-"


def _reusable(path: Path) -> str | None:
    """The key saved in ``path`` when this database still honours it."""
    from functions.common.clock import now_ms
    from functions.common.http.api_keys import key_cache
    from functions.common.store.db import get_database

    if not path.is_file():
        return None
    key = path.read_text(encoding="utf-8").strip()
    database = get_database()
    found = key_cache.lookup(database, key, ttl=0, now_ms=now_ms())
    database.write(lambda conn: None)  # carries the key's last-used time
    return key if found is not None and found.revoked_ms is None else None


def cmd_keys_create(args: argparse.Namespace) -> int:
    from functions.common.clock import now_ms
    from functions.common.http.api_keys import create_key
    from functions.common.store.db import get_database

    if args.reuse and args.key_file is not None:
        kept = _reusable(args.key_file)
        if kept is not None:
            print(kept if args.key_only else f"reusing the key in {args.key_file}:\n{kept}")
            return 0
    try:
        record, key = create_key(get_database(), args.scope, args.name, now_ms())
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if args.key_file is not None:
        args.key_file.parent.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(args.key_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            handle.write(key + "\n")
    if args.key_only:
        print(key)
        return 0
    print(f"created {record.prefix} ({record.name!r}) with scopes: {', '.join(record.scopes)}")
    print(key)
    print("Keep it now: it is not shown again (the database keeps only its SHA-256).")
    if args.key_file is not None:
        print(f"also written to {args.key_file} (mode 600)")
    return 0


def _row(key: ApiKey) -> str:
    state = f"revoked {_when(key.revoked_ms)}" if key.revoked_ms else "active"
    return (
        f"{key.prefix:<17} {key.name[:24]:<24} {','.join(key.scopes):<26} "
        f"{_when(key.created_ms):<19} {_when(key.last_used_ms):<19} {state}"
    )


def cmd_keys_list(args: argparse.Namespace) -> int:
    from functions.common.http.api_keys import list_keys
    from functions.common.store.db import get_database

    keys = list_keys(get_database())
    if not keys:
        print("no API keys yet: mediarec keys create --scope read --name my-app")
        return 0
    print(f"{'key':<17} {'name':<24} {'scopes':<26} {'created (UTC)':<19} {'last used':<19} state")
    for key in keys:
        print(_row(key))
    return 0


def cmd_keys_revoke(args: argparse.Namespace) -> int:
    from functions.common.clock import now_ms
    from functions.common.http.api_keys import key_prefix, revoke_key
    from functions.common.settings import get_settings
    from functions.common.store.db import get_database

    prefix = key_prefix(args.key)  # never print a whole key back
    if not revoke_key(get_database(), args.key, now_ms()):
        print(f"error: no active key {prefix} (see mediarec keys list)", file=sys.stderr)
        return 2
    delay = get_settings().api_key_cache_seconds
    print(f"revoked {prefix}; running functions refuse it within {delay:g} s")
    return 0


def register(commands: Commands) -> None:
    keys = commands.group(
        "keys",
        "create, list and revoke the API keys that HTTP requests present (x-api-key)",
        description="API keys, sent as the x-api-key header. Scopes: ingest (POST /events), "
        "read (GET /recommendations), metrics (GET /metrics), admin (everything, including "
        "catalog and user writes and DELETE /users/{id}).",
        dest="keys_action",
    )
    create = keys.add("create", "create a key and print it (once)", func=cmd_keys_create)
    create.add_argument(
        "--scope",
        action="append",
        required=True,
        choices=SCOPES,
        help="a scope the key holds; repeat for several",
    )
    create.add_argument("--name", default="unnamed", help="who or what uses it (shown in list)")
    create.add_argument("--key-only", action="store_true", help="print the key alone (scripts)")
    create.add_argument(
        "--key-file", type=Path, metavar="PATH", help="also write the key to PATH (mode 600)"
    )
    create.add_argument(
        "--reuse",
        action="store_true",
        help="with --key-file: if PATH holds a key this database honours, print it instead",
    )
    keys.add("list", "names, scopes, created and last-used times, prefixes", func=cmd_keys_list)
    revoke = keys.add("revoke", "revoke a key", func=cmd_keys_revoke)
    revoke.add_argument("key", help="the key's prefix from `keys list` (mrk_...) or the key")
