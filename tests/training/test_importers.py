"""Importers: MovieLens 100K folders and CSV interaction logs, all-or-nothing and idempotent.

Every file here is written into tmp_path by the test itself: no MovieLens data is copied into the
repository (its license forbids redistribution). One test, marked ``movielens``, reads the real
ml-100k from ../shared/data when it is there.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import pytest

from functions.common.clock import parse_timestamp
from functions.common.store.db import Database
from tests.utils.factories import add_items, count
from tests.utils.paths import ML_100K
from training.cli import build_parser
from training.datasets.importers import (
    MAX_LISTED_PROBLEMS,
    ImportReport,
    MalformedInputError,
    csv_event_id,
    import_csv,
    import_movielens_100k,
    sniff_delimiter,
)

T0 = 1_700_000_000  # 2023-11-14T22:13:20Z, epoch seconds


def write(path: Path, text: str, encoding: str = "utf-8") -> Path:
    path.write_bytes(text.encode(encoding))
    return path


def events(db: Database) -> list[dict]:
    rows = db.conn.execute("SELECT * FROM events ORDER BY user_id, item_id, event_type, ts_ms")
    return [dict(row) for row in rows]


# -- CSV ---------------------------------------------------------------------------------------
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


# -- MovieLens ---------------------------------------------------------------------------------
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


def test_a_tiny_movielens_folder(db, tmp_path):
    folder = movielens_folder(tmp_path)
    report = import_movielens_100k(db, folder)
    assert (report.rows_read, report.users, report.items) == (4, 2, 3)
    assert report.events_by_type == {"view": 4, "like": 2}
    assert (report.events_stored, report.events_duplicate) == (6, 0)
    assert report.summary().startswith(
        f"loaded {folder}: 4 ratings -> 4 view + 2 like events (0 duplicates), 2 users, 3 items"
    )

    items = {row["item_id"]: row for row in db.conn.execute("SELECT * FROM items")}
    assert items["1"]["title"] == "Café (1995)"
    assert items["2"]["title"] == "Señor Zoë (1996)"
    assert json.loads(items["1"]["categories"]) == ["Action", "Comedy"]
    assert json.loads(items["3"]["categories"]) == ["unknown"]
    assert items["1"]["published_ms"] == parse_timestamp("1995-01-01T00:00:00Z")
    assert items["2"]["published_ms"] == parse_timestamp("1996-09-24T00:00:00Z")
    assert items["3"]["published_ms"] is None and items["3"]["title"] == "unknown"
    assert json.loads(items["1"]["attributes"]) == {"imdb_url": "http://example.org/cafe"}
    assert json.loads(items["3"]["attributes"]) == {}
    assert {row["kind"] for row in items.values()} == {"video"}
    categories = db.conn.execute("SELECT item_id, category FROM item_categories").fetchall()
    assert sorted(map(tuple, categories)) == [
        ("1", "Action"),
        ("1", "Comedy"),
        ("2", "Drama"),
        ("3", "unknown"),
    ]

    user = db.conn.execute("SELECT attributes FROM users WHERE user_id = '2'").fetchone()
    assert json.loads(user["attributes"]) == {
        "age": 53,
        "gender": "F",
        "occupation": "other",
        "zip": "T8H1N",
    }
    stored = {e["event_id"]: e for e in events(db)}
    assert set(stored) == {
        "ml100k-1-1-view",
        "ml100k-1-1-like",
        "ml100k-1-2-view",
        "ml100k-2-1-view",
        "ml100k-2-1-like",
        "ml100k-2-3-view",
    }
    like = stored["ml100k-2-1-like"]
    assert (like["user_id"], like["item_id"], like["platform"]) == ("2", "1", "web")
    assert like["ts_ms"] == like["received_ms"] == (T0 + 20) * 1000

    again = import_movielens_100k(db, folder)
    assert (again.events_stored, again.events_duplicate) == (0, 6)
    assert count(db, "events") == 6 and count(db, "item_categories") == 4


def test_movielens_without_u_genre_uses_the_standard_genres(db, tmp_path):
    folder = movielens_folder(tmp_path, genre=False)
    full_width = "|0" * 19
    write(folder / "u.item", f"1|Café (1995)|01-Jan-1995||{full_width[:-1]}1\n", "latin-1")
    write(folder / "u.data", f"1\t1\t4\t{T0}\n")
    import_movielens_100k(db, folder)
    row = db.conn.execute("SELECT categories FROM items WHERE item_id = '1'").fetchone()
    assert json.loads(row["categories"]) == ["Western"]


def test_malformed_movielens_files_load_nothing(db, tmp_path):
    folder = movielens_folder(
        tmp_path,
        data=f"1\t1\t5\t{T0}\n1\t9\t3\t{T0}\n7\t1\t4\t{T0}\n2\t1\tfour\t{T0}\n2\t2\n",
    )
    with (folder / "u.item").open("a", encoding="latin-1") as handle:
        handle.write("4|Too short|01-Jan-1995\n5|Bad date|1995-01-01|||0|0|0|0\n")
    with pytest.raises(MalformedInputError) as caught:
        import_movielens_100k(db, folder)
    assert caught.value.problems == [
        (4, "u.item: expected 9 fields, found 3"),
        (5, "u.item: release date '1995-01-01' is not like 01-Jan-1995"),
        (2, "u.data: item '9' is not in u.item"),
        (3, "u.data: user '7' is not in u.user"),
        (4, "u.data: rating 'four' is not a number"),
        (5, "u.data: expected 4 fields, found 2"),
    ]
    assert "line 2: u.data: item '9' is not in u.item" in str(caught.value)
    assert count(db, "events") == count(db, "items") == count(db, "users") == 0

    report = import_movielens_100k(db, folder, skip_invalid=True)
    assert len(report.rejected) == 6 and report.events_stored == 2  # 1-1 view and like
    assert count(db, "items") == 3


def test_a_movielens_folder_needs_its_files(db, tmp_path):
    with pytest.raises(FileNotFoundError, match="not a folder"):
        import_movielens_100k(db, tmp_path / "nowhere")
    folder = movielens_folder(tmp_path)
    (folder / "u.user").unlink()
    with pytest.raises(FileNotFoundError, match=r"u\.user is missing"):
        import_movielens_100k(db, folder)


@pytest.mark.movielens
def test_the_real_movielens_100k(db):
    if not (ML_100K / "u.data").is_file():
        pytest.skip(f"MovieLens 100K not found at {ML_100K} (it is not redistributed)")
    started = time.perf_counter()
    report = import_movielens_100k(db, ML_100K)
    elapsed = time.perf_counter() - started
    assert (report.users, report.items, report.rows_read) == (943, 1682, 100_000)
    assert report.events_by_type == {"view": 100_000, "like": 34_174 + 21_201}
    assert report.events_stored == 155_375 and report.rejected == []
    assert count(db, "users") == 943 and count(db, "items") == 1682
    assert count(db, "events", "event_type = 'view'") == 100_000
    assert count(db, "events", "event_type = 'like'") == 55_375
    # Latin-1 titles come through (u.item is not UTF-8).
    assert count(db, "items", "title LIKE :t", t="%é%") > 0
    assert elapsed < 10, f"the import took {elapsed:.1f} s"


# -- CLI ---------------------------------------------------------------------------------------
def cli_parser() -> argparse.ArgumentParser:
    """The real ``mediarec`` parser; the tests call ``args.func`` themselves, so ``--db`` is parsed
    but not applied (the fixture's database is used)."""
    return build_parser()


def test_cli_imports_a_csv_with_flags(db, tmp_path, capsys):
    log = write(tmp_path / "log.tsv", f"uid\tmid\twhen\tstars\nu1\tm1\t{T0}\t4.5\n")
    args = cli_parser().parse_args(
        [
            "import",
            "csv",
            str(log),
            "--user-col",
            "uid",
            "--item-col",
            "mid",
            "--timestamp-col",
            "when",
            "--rating-col",
            "stars",
            "--like-threshold",
            "5",
            "--platform",
            "ios",
            "--quiet",
            "--db",
            str(tmp_path / "ignored-here.sqlite"),
        ]
    )
    assert args.func(args) == 0
    out = capsys.readouterr().out
    assert "1 row -> 1 view event (0 duplicates), 1 user, 1 item (1 new in the catalog)" in out
    assert [(e["event_type"], e["platform"]) for e in events(db)] == [("view", "ios")]


def test_cli_reports_malformed_input_and_missing_files_with_exit_code_2(db, tmp_path, capsys):
    parser = cli_parser()
    log = write(tmp_path / "bad.csv", f"user_id,item_id,timestamp\nu1,i1,{T0}\nu2,i2,soon\n")
    args = parser.parse_args(["import", "csv", str(log), "--quiet"])
    assert args.func(args) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "line 3: timestamp 'soon'" in err

    args = parser.parse_args(["import", "csv", str(log), "--quiet", "--skip-invalid"])
    assert args.func(args) == 0
    captured = capsys.readouterr()
    assert "1 malformed row skipped" in captured.out
    assert "line 3: timestamp 'soon'" in captured.err

    args = parser.parse_args(["import", "movielens-100k", str(tmp_path / "none"), "--quiet"])
    assert args.func(args) == 2
    assert "error: " in capsys.readouterr().err


def test_cli_imports_a_movielens_folder(db, tmp_path, capsys):
    folder = movielens_folder(tmp_path)
    args = cli_parser().parse_args(["import", "movielens-100k", str(folder), "--quiet"])
    assert args.func(args) == 0
    assert "4 ratings -> 4 view + 2 like events" in capsys.readouterr().out


@pytest.mark.parametrize("command", [["import", "csv"], ["import", "movielens-100k"]])
def test_cli_import_commands_have_help(command, capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli_parser().parse_args([*command, "--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert "--db" in out and "--skip-invalid" in out


def test_the_like_threshold_flag_accepts_none():
    args = cli_parser().parse_args(["import", "csv", "f.csv", "--like-threshold", "none"])
    assert args.like_threshold is None and args.delimiter is None
    args = cli_parser().parse_args(["import", "csv", "f.csv", "--delimiter", "tab"])
    assert args.delimiter == "\t"


def test_report_summary_reads_well():
    report = ImportReport(
        source="u.data",
        rows_read=100_000,
        users=943,
        items=1682,
        events_stored=155_375,
        events_by_type={"view": 100_000, "like": 55_375},
        seconds=4.06,
        row_label="rating",
    )
    assert report.summary() == (
        "loaded u.data: 100000 ratings -> 100000 view + 55375 like events (0 duplicates), "
        "943 users, 1682 items in 4.1 s"
    )
