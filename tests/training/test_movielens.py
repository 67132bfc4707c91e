"""MovieLens 100K folders: users, movies and ratings loaded all-or-nothing and idempotently.

Every folder here is written into tmp_path by the test itself: no MovieLens data is copied into
the repository (its license forbids redistribution). One test, marked ``movielens``, reads the
real ml-100k from ../shared/data when it is there.
"""

from __future__ import annotations

import json
import time

import pytest

from functions.common.clock import parse_timestamp
from tests.utils.factories import count
from tests.utils.import_files import T0, events, movielens_folder, write
from tests.utils.paths import ML_100K
from training.datasets.movielens import import_movielens_100k
from training.datasets.report import MalformedInputError


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
