"""Interaction files the importer tests write into tmp_path (CSV logs, tiny MovieLens folders),
and the events an import stored. No MovieLens data is copied into the repository (its license
forbids redistribution)."""

from __future__ import annotations

from pathlib import Path

from functions.common.store.db import Database

T0 = 1_700_000_000  # 2023-11-14T22:13:20Z, epoch seconds


def write(path: Path, text: str, encoding: str = "utf-8") -> Path:
    path.write_bytes(text.encode(encoding))
    return path


def events(db: Database) -> list[dict]:
    rows = db.conn.execute("SELECT * FROM events ORDER BY user_id, item_id, event_type, ts_ms")
    return [dict(row) for row in rows]


GENRES = ["unknown", "Action", "Comedy", "Drama"]  # a shortened u.genre: the file decides


def movielens_folder(tmp_path: Path, *, data: str | None = None, genre: bool = True) -> Path:
    folder = tmp_path / "ml-tiny"
    folder.mkdir()
    if genre:
        lines = "".join(f"{name}|{index}\n" for index, name in enumerate(GENRES)) + "\n"
        write(folder / "u.genre", lines, "latin-1")
    write(
        folder / "u.item",
        "1|Café (1995)|01-Jan-1995||http://example.org/cafe|0|1|1|0\n"
        "2|Señor Zoë (1996)|24-Sep-1996||http://example.org/senor|0|0|0|1\n"
        "3|unknown||||1|0|0|0\n",
        "latin-1",
    )
    write(folder / "u.user", "1|24|M|technician|85711\n2|53|F|other|T8H1N\n", "latin-1")
    write(
        folder / "u.data",
        data
        if data is not None
        else f"1\t1\t5\t{T0}\n1\t2\t3\t{T0 + 10}\n2\t1\t4\t{T0 + 20}\n2\t3\t1\t{T0 + 30}\n",
        "latin-1",
    )
    return folder
