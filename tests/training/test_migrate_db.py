"""`mediarec migrate-db` between two SQLite files (no server needed; SQLite -> PostgreSQL and a
resumed copy are in tests/engines/test_postgres.py): the source is only read, the copy verified."""

from __future__ import annotations

import sqlite3

from functions.common.store.sqlite_engine import SqliteDatabase
from tests.conftest import FIXED_NOW_MS
from training.cli import main
from training.datasets.synthetic.generation import generate_world
from training.datasets.synthetic.world import WorldConfig
from training.datasets.synthetic.write import write_world


def seeded(path, journal_mode="delete"):
    database = SqliteDatabase(path, journal_mode=journal_mode)
    database.migrate()
    config = WorldConfig(seed=3, users=30, items=40, events=800, days=5, end_ms=FIXED_NOW_MS)
    write_world(database, generate_world(config))
    database.close()


def test_a_copy_between_files_is_verified_and_leaves_the_source_as_it_was(tmp_path, capsys):
    source, target = tmp_path / "live.sqlite", tmp_path / "copy.sqlite"
    seeded(source)
    before = source.read_bytes()
    state = tmp_path / "state.json"
    code = main(["migrate-db", "--from", f"sqlite:///{source}", "--to", f"sqlite:///{target}",
                 "--state", str(state), "--quiet"])  # fmt: skip
    out = capsys.readouterr().out
    assert code == 0, out
    assert "events" in out and "ok" in out and not state.exists()
    assert source.read_bytes() == before  # not migrated, not switched to WAL
    with sqlite3.connect(source) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "delete"
    with sqlite3.connect(target) as conn, sqlite3.connect(source) as live:
        query = "SELECT event_id, ts_ms FROM events ORDER BY event_id"
        assert conn.execute(query).fetchall() == live.execute(query).fetchall()


def test_a_missing_or_outdated_source_is_refused(tmp_path, capsys):
    target = f"sqlite:///{tmp_path / 'copy.sqlite'}"
    assert (
        main(["migrate-db", "--from", f"sqlite:///{tmp_path / 'none.sqlite'}", "--to", target]) == 2
    )
    assert "no SQLite file" in capsys.readouterr().err
    empty = tmp_path / "empty.sqlite"
    sqlite3.connect(empty).close()
    assert main(["migrate-db", "--from", f"sqlite:///{empty}", "--to", target]) == 2
    assert "mediarec migrate" in capsys.readouterr().err


def test_an_unreachable_server_is_an_error_message_not_a_traceback(tmp_path, capsys):
    nowhere = "postgresql://nobody@127.0.0.1:9/nothing?connect_timeout=2"
    source = tmp_path / "live.sqlite"
    seeded(source)
    assert main(["migrate-db", "--from", f"sqlite:///{source}", "--to", nowhere]) == 2
    assert "error:" in capsys.readouterr().err
    assert main(["migrate", "--db", nowhere]) == 2  # any command: the store's error, exit 2
    assert "the store failed" in capsys.readouterr().err
