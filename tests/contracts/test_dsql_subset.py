"""What the PostgreSQL engine runs stays inside the subset Aurora DSQL accepts (issue 12): no
temporary tables, triggers, savepoints, extensions, sequences or identity columns, foreign keys,
partial indexes, PL/pgSQL, TRUNCATE or VACUUM; migrations hold DDL only (the engine runs each
statement in a transaction of its own). Static: over the text, no server needed."""

from __future__ import annotations

import re

import pytest

from functions.common.store import sql
from functions.common.store.db import migration_files
from tests.engines.test_postgres import (
    NOT_YET_ON_POSTGRES,
    SQLITE_ONLY_QUERIES,
    SQLITE_SIDE_FILES,
    query_files,
)

OUTSIDE_THE_SUBSET = {
    "a temporary table or view": r"\bCREATE\s+(TEMP|TEMPORARY)\b|\btemp\.",
    "a trigger": r"\bCREATE\s+(OR\s+REPLACE\s+)?TRIGGER\b",
    "a savepoint": r"\bSAVEPOINT\b",
    "an extension": r"\bCREATE\s+EXTENSION\b",
    "a sequence": r"\bCREATE\s+SEQUENCE\b|\b(BIG)?SERIAL\b|\bnextval\s*\(",
    "an identity column": r"\bGENERATED\s+(ALWAYS|BY\s+DEFAULT)\s+AS\s+IDENTITY\b",
    "a foreign key": r"\bREFERENCES\b|\bFOREIGN\s+KEY\b",
    "a non-SQL function": r"\bLANGUAGE\s+plpgsql\b|\bDO\s+\$\$",
    "TRUNCATE": r"\bTRUNCATE\b",
    "VACUUM": r"\bVACUUM\b",
    "a materialized view": r"\bMATERIALIZED\s+VIEW\b",
    "a new type": r"\bCREATE\s+TYPE\b",
    "a partition": r"\bPARTITION\s+(BY|OF)\b",
    "CREATE TABLE AS": r"\bCREATE\s+TABLE\b[^;(]*\bAS\s+SELECT\b",
    "SQLite's own syntax": (
        r"\bPRAGMA\b|\bjson_each\b|\bAUTOINCREMENT\b|\bWITHOUT\s+ROWID\b|\browid\b|\bINSERT\s+OR\b"
    ),
}


def _strip_comments(text: str) -> str:
    return re.sub(r"--[^\n]*", "", text)


def offences(text: str) -> list[str]:
    body = _strip_comments(text)
    found = [what for what, pattern in OUTSIDE_THE_SUBSET.items() if re.search(pattern, body, re.I)]
    for index in re.finditer(r"\bCREATE\s+(UNIQUE\s+)?INDEX\b[^;]*", body, re.I):
        if re.search(r"\bWHERE\b", index.group(0), re.I):
            found.append("a partial index")
    return found


def test_the_checker_finds_what_it_looks_for():
    assert offences("CREATE TEMP TABLE t (a INT)") == ["a temporary table or view"]
    assert offences("CREATE INDEX i ON t (a) WHERE a IS NOT NULL") == ["a partial index"]
    assert offences("id BIGINT GENERATED ALWAYS AS IDENTITY") == ["an identity column"]
    assert offences("a TEXT REFERENCES b (a)") == ["a foreign key"]
    assert offences("SELECT 1 -- CREATE TEMP TABLE in a comment") == []


def postgres_queries() -> list[tuple[str, str, str]]:
    skipped = SQLITE_SIDE_FILES.keys() | NOT_YET_ON_POSTGRES.keys()
    return [
        (relative, name, text)
        for relative in sorted(query_files() - skipped)
        for name, text in sql.load_file(relative, "postgresql").items()
        if (relative, name) not in SQLITE_ONLY_QUERIES
    ]


@pytest.mark.parametrize("relative,name,text", postgres_queries(), ids=lambda v: str(v)[:40])
def test_every_query_postgresql_runs_is_inside_the_dsql_subset(relative, name, text):
    assert not offences(text), f"{relative}:{name} uses {offences(text)}"


def test_postgresql_migrations_are_ddl_inside_the_dsql_subset():
    for _, path in migration_files("postgresql"):
        for statement in sql.statements(path.read_text(encoding="utf-8")):
            assert not offences(statement), f"{path.name}: {offences(statement)}: {statement[:60]}"
            verb = _strip_comments(statement).split()[0].upper()
            assert verb in {"CREATE", "ALTER", "DROP"}, f"{path.name}: DML in a migration: {verb}"
