"""CSV interaction logs: mapped columns, ratings and likes, timestamps, delimiters, malformed
rows (all-or-nothing, or --skip-invalid), encodings, and idempotent re-imports."""

from __future__ import annotations

import re

import pytest

from tests.utils.factories import add_items, count
from tests.utils.import_files import T0, events, write
from training.cli import build_parser
from training.datasets.csv_log import csv_event_id, import_csv
from training.datasets.csv_records import sniff_delimiter
from training.datasets.report import MAX_LISTED_PROBLEMS, MalformedInputError


def test_csv_with_mapped_columns_loads_events_and_new_catalog_items(db, tmp_path):
    add_items(db, [{"item_id": "m2", "kind": "article", "title": "Kept as it is"}])
    log = write(
        tmp_path / "log.csv",
        "userId,movieId,when,device\n"
        f"alice,m1,{T0},ios\n"
        f"alice,m2,{T0 + 60},\n"  # empty platform: the default
        f"bob,m1,{T0 + 120},android\n",
    )
    report = import_csv(
        db,
        log,
        columns={
            "user_id": "userId",
            "item_id": "movieId",
            "timestamp": "when",
            "platform": "device",
        },
        platform="web",
    )
    assert report.rows_read == 3 and report.rejected == []
    assert (report.users, report.items, report.items_created) == (2, 2, 1)
    assert (report.events_stored, report.events_duplicate) == (3, 0)
    assert report.events_by_type == {"view": 3}
    stored = events(db)
    assert [(e["user_id"], e["item_id"], e["platform"]) for e in stored] == [
        ("alice", "m1", "ios"),
        ("alice", "m2", "web"),
        ("bob", "m1", "android"),
    ]
    first = stored[0]
    assert first["event_id"] == csv_event_id("alice", "m1", T0 * 1000, "view")
    assert first["event_id"].startswith("csv-") and len(first["event_id"]) == 44
    assert first["ts_ms"] == first["received_ms"] == T0 * 1000
    assert first["event_type"] == "view" and first["dwell_ms"] is None
    new = db.conn.execute("SELECT * FROM items WHERE item_id = 'm1'").fetchone()
    assert (new["kind"], new["title"], new["categories"], new["hidden"]) == ("video", None, "[]", 0)
    kept = db.conn.execute("SELECT * FROM items WHERE item_id = 'm2'").fetchone()
    assert (kept["kind"], kept["title"]) == ("article", "Kept as it is")
    assert "log.csv: 3 rows -> 3 view events (0 duplicates), 2 users" in report.summary()
    assert "2 items (1 new in the catalog)" in report.summary()


def test_a_rating_is_a_view_and_at_the_threshold_also_a_like(db, tmp_path):
    log = write(
        tmp_path / "ratings.csv",
        f"user_id,item_id,timestamp,rating\nu1,i1,{T0},5\nu1,i2,{T0},4\nu1,i3,{T0},3.5\n"
        f"u2,i1,{T0},1\n",
    )
    report = import_csv(db, log)
    assert report.events_by_type == {"view": 4, "like": 2}
    assert report.events_stored == 6
    likes = {(e["user_id"], e["item_id"]) for e in events(db) if e["event_type"] == "like"}
    assert likes == {("u1", "i1"), ("u1", "i2")}

    # A lower threshold adds the 3.5 rating's like; the rest are already there.
    again = import_csv(db, log, like_threshold=3.5)
    assert again.events_by_type == {"view": 4, "like": 3}
    assert (again.events_stored, again.events_duplicate) == (1, 6)
    assert count(db, "events", "event_type = 'like'") == 3


def test_no_likes_without_a_threshold(db, tmp_path):
    log = write(tmp_path / "r.csv", f"user_id,item_id,timestamp,rating\nu1,i1,{T0},5\n")
    report = import_csv(db, log, like_threshold=None)
    assert report.events_by_type == {"view": 1}


@pytest.mark.parametrize(
    ("text", "expected_ms"),
    [
        (str(T0), T0 * 1000),
        (f"{T0}.5", T0 * 1000 + 500),
        (str(T0 * 1000 + 7), T0 * 1000 + 7),  # >= 1e11: milliseconds
        ("2023-11-14T22:13:20Z", T0 * 1000),
        ("2023-11-14T23:13:20+01:00", T0 * 1000),
        ("2023-11-14 22:13:20", T0 * 1000),  # no zone: UTC
        ("2023-11-14T22:13:20.250Z", T0 * 1000 + 250),
    ],
)
def test_epoch_and_iso_timestamps(db, tmp_path, text, expected_ms):
    log = write(tmp_path / "t.csv", f"user_id,item_id,timestamp\nu1,i1,{text}\n")
    import_csv(db, log)
    assert [e["ts_ms"] for e in events(db)] == [expected_ms]


@pytest.mark.parametrize(
    ("delimiter", "name"), [(";", "semi.csv"), ("\t", "tabs.tsv"), ("|", "pipes.txt")]
)
def test_the_delimiter_is_guessed_from_the_header(db, tmp_path, delimiter, name):
    iso = "2023-11-14T22:13:20Z"
    lines = [["user_id", "item_id", "timestamp", "rating"], ["u1", "i1", iso, "4.5"]]
    log = write(tmp_path / name, "\n".join(delimiter.join(row) for row in lines) + "\n")
    assert import_csv(db, log).events_by_type == {"view": 1, "like": 1}
    assert sniff_delimiter(delimiter.join(lines[0])) == delimiter


def test_event_type_platform_and_item_kind_columns(db, tmp_path):
    log = write(
        tmp_path / "log.csv",
        "user,item,ts,type,platform,item_kind\n"
        f"u1,a1,{T0},click,web,article\n"
        f"u1,a1,{T0 + 5},like,web,\n"
        f"u2,p1,{T0},share,android,post\n"
        f"u2,v1,{T0},skip,ios,\n",
    )
    report = import_csv(
        db,
        log,
        columns={"user_id": "user", "item_id": "item", "timestamp": "ts", "event_type": "type"},
    )
    assert report.events_by_type == {"click": 1, "like": 1, "share": 1, "skip": 1}
    kinds = dict(db.conn.execute("SELECT item_id, kind FROM items").fetchall())
    assert kinds == {"a1": "article", "p1": "post", "v1": "video"}


def test_malformed_rows_load_nothing_and_are_listed_with_their_lines(db, tmp_path):
    long_id = "x" * 129
    log = write(
        tmp_path / "bad.csv",
        "user_id,item_id,timestamp,rating,platform,note\n"  # line 1
        f"u1,i1,{T0},5,web,\n"  # 2: fine
        "\n"  # 3: blank, skipped
        f'u1,i0,{T0},4,web,"a note\nover two lines"\n'  # 4-5: fine (a quoted newline)
        f"u1,i2,{T0},5,web\n"  # 6: a field short
        f",i3,{T0},5,web,\n"  # 7: empty user
        f"{long_id},i4,{T0},5,web,\n"  # 8: id too long
        "u1,i5,yesterday,5,web,\n"  # 9: timestamp
        f"u1,i6,{T0},great,web,\n"  # 10: rating
        f"u1,i7,{T0},5,smart-tv,\n"  # 11: platform
        "u1,,-5,,web,\n",  # 12: three problems at once
    )
    with pytest.raises(MalformedInputError) as caught:
        import_csv(db, log)
    error = caught.value
    assert [line for line, _ in error.problems] == [6, 7, 8, 9, 10, 11, 12]
    reasons = dict(error.problems)
    assert reasons[6] == "expected 6 fields, found 5"
    assert reasons[7] == "empty user_id"
    assert reasons[8] == "user_id longer than 128 characters (129)"
    assert reasons[9] == "timestamp 'yesterday': not an ISO-8601 timestamp"
    assert reasons[10] == "rating 'great' is not a number"
    assert reasons[11].startswith("unknown platform 'smart-tv'; expected one of ['web',")
    assert reasons[12] == (
        "empty item_id; timestamp '-5': epoch timestamp out of range; empty rating"
    )
    message = str(error)
    assert message.startswith(f"{log}: 7 malformed rows; nothing was loaded")
    assert "\n  line 6: expected 6 fields, found 5" in message
    assert "\n  line 11: unknown platform" in message
    assert count(db, "events") == 0 and count(db, "items") == 0


def test_unknown_event_type_is_malformed(db, tmp_path):
    log = write(tmp_path / "t.csv", f"user_id,item_id,timestamp,event_type\nu1,i1,{T0},purchase\n")
    with pytest.raises(MalformedInputError, match="line 2: unknown event_type 'purchase'"):
        import_csv(db, log)


def test_the_message_lists_the_first_problems_and_counts_the_rest(db, tmp_path):
    rows = "".join(f"u{n},i{n},not-a-time\n" for n in range(30))
    log = write(tmp_path / "many.csv", "user_id,item_id,timestamp\n" + rows)
    with pytest.raises(MalformedInputError) as caught:
        import_csv(db, log)
    message = str(caught.value)
    assert len(caught.value.problems) == 30
    assert message.count("\n  line ") == MAX_LISTED_PROBLEMS
    assert "line 21:" in message and "line 22:" not in message
    assert message.endswith("... and 10 more")


def test_skip_invalid_loads_the_valid_rows_and_reports_the_rest(db, tmp_path):
    log = write(
        tmp_path / "mixed.csv",
        f"user_id,item_id,timestamp\nu1,i1,{T0}\nu1,i2,never\nu2,i1,{T0}\nu3\n",
    )
    report = import_csv(db, log, skip_invalid=True)
    assert report.rows_read == 4
    assert report.rejected == [
        (3, "timestamp 'never': not an ISO-8601 timestamp"),
        (5, "expected 3 fields, found 1"),
    ]
    assert report.events_stored == 2 and count(db, "events") == 2
    assert count(db, "items") == 1  # i2 came only from a rejected row
    assert "2 users, 1 item (1 new in the catalog); 2 malformed rows skipped in " in (
        report.summary()
    )


def test_a_missing_column_names_the_column_and_the_header(db, tmp_path):
    log = write(tmp_path / "log.csv", f"userId,movieId,ts\nu1,i1,{T0}\n")
    with pytest.raises(MalformedInputError) as caught:
        import_csv(db, log, columns={"user_id": "userId", "item_id": "movieId"})
    message = str(caught.value)
    assert "missing column timestamp" in message
    assert "['userId', 'movieId', 'ts']" in message
    # A mapped optional column must be there too.
    with pytest.raises(MalformedInputError, match=r"missing column stars \(for rating\)"):
        import_csv(
            db,
            log,
            columns={
                "user_id": "userid",
                "item_id": "MOVIEID",
                "timestamp": "ts",
                "rating": "stars",
            },
        )
    assert count(db, "events") == 0


def test_header_names_match_ignoring_case(db, tmp_path):
    log = write(tmp_path / "log.csv", f"User_ID,Item_Id,TimeStamp\nu1,i1,{T0}\n")
    assert import_csv(db, log).events_stored == 1


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("", "is empty"),
        ("\n\n", "is empty"),
        ("user_id,item_id,timestamp\n", "has a header .* but no rows"),
        ("user_id item_id timestamp\n", "cannot tell the delimiter"),
    ],
)
def test_files_without_rows_are_errors(db, tmp_path, text, match):
    log = write(tmp_path / "empty.csv", text)
    with pytest.raises(MalformedInputError, match=match):
        import_csv(db, log)


def test_a_missing_file_and_bad_settings_are_errors(db, tmp_path):
    with pytest.raises(FileNotFoundError):
        import_csv(db, tmp_path / "nope.csv")
    log = write(tmp_path / "log.csv", f"user_id,item_id,timestamp\nu1,i1,{T0}\n")
    with pytest.raises(ValueError, match="event type 'purchase' is not configured"):
        import_csv(db, log, default_event_type="purchase")
    with pytest.raises(ValueError, match="platform 'tv' is not configured"):
        import_csv(db, log, platform="tv")
    with pytest.raises(ValueError, match="unknown column roles"):
        import_csv(db, log, columns={"user": "user_id"})


def test_text_in_another_encoding_is_an_error_unless_named(db, tmp_path):
    log = write(
        tmp_path / "latin.csv", f"user_id,item_id,timestamp\nu1,i1,{T0}\nJosé,i1,{T0}\n", "latin-1"
    )
    with pytest.raises(MalformedInputError, match="line 3 is not utf-8-sig text"):
        import_csv(db, log)
    assert count(db, "events") == 0
    assert import_csv(db, log, encoding="latin-1").users == 2
    assert count(db, "events", "user_id = 'José'") == 1


def test_a_byte_order_mark_is_not_part_of_the_first_column(db, tmp_path):
    log = write(tmp_path / "bom.csv", f"user_id,item_id,timestamp\nu1,i1,{T0}\n", "utf-8-sig")
    assert import_csv(db, log).events_stored == 1


def test_importing_the_same_rows_again_stores_nothing_twice(db, tmp_path):
    log = write(
        tmp_path / "log.csv",
        f"user_id,item_id,timestamp,rating\nu1,i1,{T0},5\nu1,i2,{T0},2\nu1,i1,{T0},5\n",
    )
    first = import_csv(db, log)
    assert (first.events_stored, first.events_duplicate) == (3, 2)  # the last row repeats
    second = import_csv(db, log)
    assert (second.events_stored, second.events_duplicate) == (0, 5)
    assert second.items_created == 0
    assert count(db, "events") == 3
    assert "(5 duplicates)" in second.summary()


def test_messages_name_the_flags_a_user_types(db, tmp_path):
    """The errors say what to type (``--skip-invalid``, ``--user-col NAME``...), and every flag
    they name is one that ``mediarec import csv`` takes."""
    said: list[str] = []
    bad_row = write(tmp_path / "bad.csv", "user_id,item_id,timestamp\nu1,i1,never\n")
    no_column = write(tmp_path / "cols.csv", f"userId,item_id,timestamp\nu1,i1,{T0}\n")
    no_delimiter = write(tmp_path / "one.csv", f"user_id item_id timestamp\nu1 i1 {T0}\n")
    latin = write(tmp_path / "latin.csv", f"user_id,item_id,timestamp\nJosé,i1,{T0}\n", "latin-1")
    for log, expected in [
        (bad_row, "(mediarec import ... --skip-invalid loads the valid rows and skips these)"),
        (no_column, "Map the file's names with --user-col NAME, --item-col NAME, "),
        (no_delimiter, "; pass --delimiter (mediarec import csv)"),
        (latin, "pass the file's encoding (e.g. mediarec import csv --encoding latin-1)"),
    ]:
        with pytest.raises(MalformedInputError) as caught:
            import_csv(db, log)
        assert expected in str(caught.value)
        said.append(str(caught.value))
    flags = set(re.findall(r"--[a-z-]+", "\n".join(said)))
    assert {"--user-col", "--item-kind-col", "--delimiter", "--encoding"} <= flags
    for flag in sorted(flags):
        value = [] if flag == "--skip-invalid" else ["x"]
        build_parser().parse_args(["import", "csv", "f.csv", flag, *value])  # exits if unknown
    assert not re.search(r"\b[a-z_]+=", "\n".join(said))  # no Python keyword arguments
