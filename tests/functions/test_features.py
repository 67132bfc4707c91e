"""The feature SQL: the per-user serving query agrees with the all-users training query."""

from __future__ import annotations

import pytest

from functions.common.serving import features as F
from functions.common.store.db import Database
from tests.conftest import FIXED_NOW_MS
from training.datasets.synthetic.generation import generate_world
from training.datasets.synthetic.world import WorldConfig
from training.datasets.synthetic.write import write_world


@pytest.fixture
def world(db: Database) -> Database:
    config = WorldConfig(seed=2, users=40, items=60, events=3000, end_ms=FIXED_NOW_MS)
    write_world(db, generate_world(config))
    return db


def test_one_user_query_matches_the_all_users_query(world):
    spec = F.FeatureSpec()
    F.use_serving_source(world.conn)
    everyone = F.raw_user_rows(world.conn, spec, FIXED_NOW_MS)
    assert len(everyone) == 40
    for user_id in list(everyone)[:10]:
        assert F.raw_user_rows(world.conn, spec, FIXED_NOW_MS, user_id=user_id) == {
            user_id: everyone[user_id]
        }
    assert F.raw_user_rows(world.conn, spec, FIXED_NOW_MS, user_id="nobody") == {}


@pytest.mark.sqlite_only("SQLite's EXPLAIN QUERY PLAN")
def test_one_user_query_uses_an_index(world):
    from functions.common.store import sql

    F.use_serving_source(world.conn)
    text, params = sql.expand_params(
        sql.query("serving/features", "one_user_features"),
        {**F.FeatureSpec().params(FIXED_NOW_MS), "user_id": "u1"},
    )
    plan = " ".join(str(tuple(r)) for r in world.conn.execute(f"EXPLAIN QUERY PLAN {text}", params))
    assert "USING INDEX" in plan or "USING COVERING INDEX" in plan, plan
