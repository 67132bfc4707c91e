"""Named SQL queries kept in ``sql/*.sql``, one ``-- name: query_name`` block per query.

A file ``sql/metrics/pac.sql`` holding ``-- name: count_hits`` is loaded as ``metrics/pac`` and the
query is fetched with ``query("metrics/pac", "count_hits")``: always with literal names, so that
grep finds every use. Which file holds a query (the room of the code that runs it): sql/README.md.
Parameters are named (``:user_id``); a parameter whose value is a list or tuple expands to
``:name_0, :name_1, ...`` so that ``event_type IN (:types)`` works with any number of types.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from functions.common import caches

_NAME_LINE = re.compile(r"^--\s*name:\s*([A-Za-z_][A-Za-z0-9_]*)\s*$", re.MULTILINE)


class QueryNotFoundError(KeyError):
    """A query name that no ``sql/`` file defines."""


def sql_dir() -> Path:
    """The folder of .sql files: ``sql/`` beside ``functions/`` (repository, Lambda bundle)."""
    functions_dir = Path(__file__).resolve().parents[2]
    candidate = functions_dir.parent / "sql"
    if candidate.is_dir():
        return candidate
    raise FileNotFoundError(f"no sql/ folder next to {functions_dir}")


def parse_queries(text: str) -> dict[str, str]:
    """Split one file's text into ``{name: sql}``; text before the first name is ignored."""
    queries: dict[str, str] = {}
    matches = list(_NAME_LINE.finditer(text))
    for index, match in enumerate(matches):
        end = matches[index + 1].start() if index + 1 < len(matches) else len(text)
        body = text[match.end() : end].strip()
        name = match.group(1)
        if name in queries:
            raise ValueError(f"query {name!r} is defined twice")
        queries[name] = body.rstrip(";").strip()
    return queries


@functools.cache
def load_file(relative: str) -> dict[str, str]:
    """All named queries of ``sql/<relative>.sql``, cached for the container's life."""
    path = sql_dir() / f"{relative}.sql"
    return parse_queries(path.read_text(encoding="utf-8"))


caches.register(load_file.cache_clear)


def query(relative: str, name: str) -> str:
    """The SQL of one named query."""
    queries = load_file(relative)
    try:
        return queries[name]
    except KeyError:
        raise QueryNotFoundError(f"{name!r} is not defined in sql/{relative}.sql") from None


def expand_params(sql: str, params: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
    """Expand list/tuple parameters into one placeholder per element."""
    out: dict[str, Any] = {}
    for key, value in params.items():
        if isinstance(value, (list, tuple)):
            if not value:
                raise ValueError(f"parameter {key!r} is an empty list")
            names = [f"{key}__{i}" for i in range(len(value))]
            sql = re.sub(rf":{key}\b", ", ".join(f":{n}" for n in names), sql)
            out.update(zip(names, value, strict=True))
        else:
            out[key] = value
    return sql, out


def statements(script: str) -> Sequence[str]:
    """Split a schema script into single statements (semicolon-terminated, comments kept)."""
    import sqlite3

    result: list[str] = []
    buffer = ""
    for line in script.splitlines(keepends=True):
        buffer += line
        if sqlite3.complete_statement(buffer):
            statement = buffer.strip()
            if statement.rstrip(";").strip():
                result.append(statement)
            buffer = ""
    if buffer.strip() and not all(
        part.strip().startswith("--") or not part.strip() for part in buffer.splitlines()
    ):
        raise ValueError(f"unterminated SQL statement: {buffer.strip()[:80]}")
    return result
