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


def override_path(relative: str, dialect: str) -> Path:
    """Where one engine's override of ``sql/<relative>.sql`` sits (``<relative>.<dialect>.sql``)."""
    return sql_dir() / f"{relative}.{dialect}.sql"


@functools.cache
def load_file(relative: str, dialect: str = "sqlite") -> dict[str, str]:
    """All named queries of ``sql/<relative>.sql`` as ``dialect`` runs them, cached for the
    container's life: the portable file's queries, with those that
    ``sql/<relative>.<dialect>.sql`` defines (when it exists) in place of theirs. SQLite runs
    the portable text. An override may only replace a query the portable file defines; a file
    with no portable counterpart holds what only that engine runs (its schema bookkeeping)."""
    path = sql_dir() / f"{relative}.sql"
    override = override_path(relative, dialect)
    if dialect != "sqlite" and not path.is_file() and override.is_file():
        return parse_queries(override.read_text(encoding="utf-8"))  # one engine's own file
    queries = parse_queries(path.read_text(encoding="utf-8"))
    if dialect == "sqlite":
        return queries
    if override.is_file():
        replaced = parse_queries(override.read_text(encoding="utf-8"))
        unknown = sorted(set(replaced) - set(queries))
        if unknown:
            raise ValueError(f"{override.name} overrides queries {relative}.sql lacks: {unknown}")
        queries = {**queries, **replaced}
    return queries


caches.register(load_file.cache_clear)


_INCLUDE = re.compile(r"\{\{\s*(?:([A-Za-z0-9_/]+):)?([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")


@functools.cache
def query(relative: str, name: str, dialect: str = "sqlite") -> str:
    """The SQL of one named query, as the engine ``dialect`` runs it. ``{{other}}`` in a query
    stands for the text of the query ``other`` of the same file, ``{{file:other}}`` for one of
    another file (both as the same engine runs them): a relation that one engine fills once
    and another computes inside each query that reads it is written once."""
    queries = load_file(relative, dialect)
    try:
        text = queries[name]
    except KeyError:
        raise QueryNotFoundError(f"{name!r} is not defined in sql/{relative}.sql") from None
    return _INCLUDE.sub(lambda m: query(m.group(1) or relative, m.group(2), dialect), text)


caches.register(query.cache_clear)


Query = tuple[str, str, Mapping[str, Any]]
"""A named query with its parameters, ``(file, name, params)``: what a module hands to
:meth:`Database.prefetch` and reads with ``fetch_all_of``/``fetch_one_of``."""


def named(file: str, name: str, params: Mapping[str, Any]) -> Query:
    """The query ``name`` of ``sql/<file>.sql`` with ``params`` (literal names, as every ask)."""
    return (file, name, params)


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
