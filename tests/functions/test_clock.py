"""One text timestamp parser (``clock.parse_timestamp_text``) for the CSV importer and the API:
the same texts give the same epoch milliseconds through ``mediarec import csv`` and through
``GET /metrics?from=...&to=...``, and the texts one refuses the other refuses too.

A number is what Python's ``int()`` (else ``float()``) reads, so underscores between digits, a
sign, surrounding whitespace and exponents are accepted, as both did before they shared it.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from functions.common.clock import DAY_MS, parse_timestamp_text, to_iso
from functions.common.store.db import Database
from functions.metrics.app import handler
from training.datasets.csv_log import import_csv
from training.datasets.report import MalformedInputError
from training.local.lambda_invoke import http_event, invoke

T0_MS = 1_700_000_000_000  # 2023-11-14T22:13:20Z

ACCEPTED = [
    ("1e12", 1_000_000_000_000),  # a float from 1e11 on: milliseconds
    ("1700000000", T0_MS),  # epoch seconds
    ("1700000000123", T0_MS + 123),  # epoch milliseconds, exact
    ("1700000000.25", T0_MS + 250),
    ("2023-11-14T22:13:20Z", T0_MS),
    ("2023-11-14T23:13:20+01:00", T0_MS),
    ("2023-11-14 22:13:20", T0_MS),  # no zone: UTC
    (" 1700000000 ", T0_MS),
    ("+1700000000", T0_MS),
    ("1_700_000_000", T0_MS),  # int() takes underscores between digits
    ("1_700_000_000.5", T0_MS + 500),  # and so does float()
    ("\u0661\u0667\u0660\u0660\u0660\u0660\u0660\u0660\u0660\u0660", T0_MS),  # any Unicode digits
]
REFUSED = [
    "yesterday",
    "2026-13-40",
    "-5",  # before 1970
    "1e400",  # not finite
    "nan",
    "inf",
    "0x10",
    "1__700_000_000",  # underscores only one at a time, between digits
    "_1700000000",
    "1700000000_",
    "253402300800000",  # the year 10000, in milliseconds
]


def csv_timestamp(db: Database, tmp_path: Path, text: str) -> int:
    """The ts_ms that ``import_csv`` stores for a row whose timestamp cell is ``text``."""
    log = tmp_path / "t.csv"
    log.write_text(f"user_id,item_id,timestamp\nu1,i1,{text}\n", encoding="utf-8")
    import_csv(db, log)
    row = db.conn.execute("SELECT ts_ms FROM events").fetchone()
    return int(row["ts_ms"])


def metrics(query: dict[str, str]) -> tuple[int, dict]:
    status, body = invoke(handler, http_event("GET", "/metrics", query=query))
    return status, body


@pytest.mark.parametrize(("text", "expected_ms"), ACCEPTED)
def test_the_importer_and_the_api_read_a_text_the_same(db, tmp_path, text, expected_ms):
    assert parse_timestamp_text(text) == expected_ms
    assert csv_timestamp(db, tmp_path, text) == expected_ms
    status, body = metrics({"from": text, "to": to_iso(expected_ms + DAY_MS)})
    assert status == 200 and body["from"] == to_iso(expected_ms)
    status, body = metrics({"from": to_iso(expected_ms - DAY_MS), "to": text})
    assert status == 200 and body["to"] == to_iso(expected_ms)


@pytest.mark.parametrize("text", REFUSED)
def test_a_text_one_refuses_the_other_refuses_with_the_same_reason(db, tmp_path, text):
    with pytest.raises(ValueError) as parsed:
        parse_timestamp_text(text)
    reason = str(parsed.value)

    with pytest.raises(MalformedInputError) as caught:
        csv_timestamp(db, tmp_path, text)
    assert caught.value.problems == [(2, f"timestamp {text!r}: {reason.split(': ', 1)[0]}")]

    for name in ("from", "to"):
        status, body = metrics({name: text})
        assert status == 422 and body["message"] == f"invalid {name}"
        assert body["errors"] == [{"field": name, "reason": reason}]


def test_an_empty_text_is_refused_by_both(db, tmp_path):
    with pytest.raises(ValueError):
        parse_timestamp_text("")
    with pytest.raises(MalformedInputError) as caught:
        csv_timestamp(db, tmp_path, "")
    assert caught.value.problems == [(2, "empty timestamp")]
    status, body = metrics({"from": ""})
    assert status == 422 and body["errors"][0]["field"] == "from"


def test_an_integer_is_read_as_an_integer():
    """``int()`` before ``float()``: a whole number keeps every digit, so one too big for a float
    is out of range rather than "not finite", and the last millisecond of 9999 is exact."""
    with pytest.raises(ValueError, match="epoch timestamp out of range"):
        parse_timestamp_text("1" + "0" * 400)
    with pytest.raises(ValueError, match="must be a finite number"):
        parse_timestamp_text("1e400")
    assert parse_timestamp_text("253402300799999") == 253_402_300_799_999
