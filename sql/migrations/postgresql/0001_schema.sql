-- mediarec schema on PostgreSQL: the tables of SQLite's migrations 0001-0006 as they stand after
-- them, in one file (no PostgreSQL store existed before it). Later schema changes add a file here
-- and one beside it for SQLite.
--
-- Written to the subset Aurora DSQL accepts (tests/contracts/test_dsql_subset.py): one statement
-- per transaction (the engine runs each on its own), every one safe to run again (IF NOT EXISTS),
-- no foreign keys (every delete in sql/ names its tables explicitly, as SQLite's cascades were
-- never relied on), no sequences or identity columns, no partial indexes, no triggers. Times are
-- epoch milliseconds in BIGINT; JSON documents are TEXT, as on SQLite; REAL is DOUBLE PRECISION.
--
-- Every text column is COLLATE "C": compared and ordered byte by byte as SQLite does, whatever
-- collation the database was created with (Aurora's default is en_US.UTF-8), so that ties break
-- the same way on both engines. Aurora DSQL has the C collation only.

CREATE TABLE IF NOT EXISTS schema_version (
    version     INTEGER PRIMARY KEY,
    applied_ms  BIGINT NOT NULL
);

CREATE TABLE IF NOT EXISTS users (
    user_id      TEXT COLLATE "C" PRIMARY KEY,
    attributes   TEXT COLLATE "C" NOT NULL DEFAULT '{}',
    created_ms   BIGINT NOT NULL,
    updated_ms   BIGINT NOT NULL
);

CREATE TABLE IF NOT EXISTS items (
    item_id       TEXT COLLATE "C" PRIMARY KEY,
    kind          TEXT COLLATE "C" NOT NULL CHECK (kind IN ('video', 'article', 'post')),
    title         TEXT COLLATE "C",
    categories    TEXT COLLATE "C" NOT NULL DEFAULT '[]',
    published_ms  BIGINT,
    attributes    TEXT COLLATE "C" NOT NULL DEFAULT '{}',
    hidden        INTEGER NOT NULL DEFAULT 0 CHECK (hidden IN (0, 1)),
    created_ms    BIGINT NOT NULL,
    updated_ms    BIGINT NOT NULL,
    -- what SQLite's rowid is to the item-features snapshot: the item's row in it, client-given
    -- (sql/ingest.postgresql.sql) since DSQL has no sequences
    row_number    BIGINT NOT NULL
);

CREATE INDEX IF NOT EXISTS items_published_item ON items (published_ms, item_id);

CREATE INDEX IF NOT EXISTS items_serving ON items (item_id, hidden, kind);

CREATE UNIQUE INDEX IF NOT EXISTS items_row_number ON items (row_number);

CREATE TABLE IF NOT EXISTS item_categories (
    item_id   TEXT COLLATE "C" NOT NULL,
    category  TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (item_id, category)
);

CREATE INDEX IF NOT EXISTS item_categories_category ON item_categories (category, item_id);

CREATE TABLE IF NOT EXISTS events (
    event_id           TEXT COLLATE "C" PRIMARY KEY,
    user_id            TEXT COLLATE "C" NOT NULL,
    item_id            TEXT COLLATE "C" NOT NULL,
    event_type         TEXT COLLATE "C" NOT NULL,
    platform           TEXT COLLATE "C" NOT NULL,
    ts_ms              BIGINT NOT NULL,
    received_ms        BIGINT NOT NULL,
    recommendation_id  TEXT COLLATE "C",
    position           INTEGER,
    dwell_ms           BIGINT
);

CREATE INDEX IF NOT EXISTS events_user_item ON events (user_id, item_id, ts_ms, event_type);

CREATE INDEX IF NOT EXISTS events_ts ON events (ts_ms);

CREATE INDEX IF NOT EXISTS events_recommendation ON events (recommendation_id);

CREATE INDEX IF NOT EXISTS events_received ON events (received_ms);

CREATE TABLE IF NOT EXISTS recommendations (
    recommendation_id  TEXT COLLATE "C" PRIMARY KEY,
    user_id            TEXT COLLATE "C" NOT NULL,
    platform           TEXT COLLATE "C" NOT NULL,
    k                  INTEGER NOT NULL,
    model_version      TEXT COLLATE "C" NOT NULL,
    request            TEXT COLLATE "C" NOT NULL DEFAULT '{}',
    served_ms          BIGINT NOT NULL,
    arm                TEXT COLLATE "C"
);

CREATE INDEX IF NOT EXISTS recommendations_user ON recommendations (user_id, served_ms);

CREATE TABLE IF NOT EXISTS impressions (
    recommendation_id  TEXT COLLATE "C" NOT NULL,
    item_id            TEXT COLLATE "C" NOT NULL,
    user_id            TEXT COLLATE "C" NOT NULL,
    position           INTEGER NOT NULL CHECK (position >= 1),
    score              DOUBLE PRECISION NOT NULL,
    reason             TEXT COLLATE "C" NOT NULL,
    model_version      TEXT COLLATE "C" NOT NULL,
    platform           TEXT COLLATE "C" NOT NULL,
    served_ms          BIGINT NOT NULL,
    arm                TEXT COLLATE "C",
    propensity         DOUBLE PRECISION,
    PRIMARY KEY (recommendation_id, item_id)
);

CREATE INDEX IF NOT EXISTS impressions_served ON impressions (served_ms);

CREATE INDEX IF NOT EXISTS impressions_user_item ON impressions (user_id, item_id, served_ms);

CREATE TABLE IF NOT EXISTS metrics (
    name            TEXT COLLATE "C" NOT NULL,
    granularity     TEXT COLLATE "C" NOT NULL,
    window_start_ms BIGINT NOT NULL,
    window_end_ms   BIGINT NOT NULL,
    platform        TEXT COLLATE "C" NOT NULL,
    model_version   TEXT COLLATE "C" NOT NULL,
    arm             TEXT COLLATE "C" NOT NULL DEFAULT 'all',
    position        INTEGER NOT NULL DEFAULT 0,
    k               INTEGER NOT NULL,
    value           DOUBLE PRECISION,
    numerator       DOUBLE PRECISION NOT NULL,
    denominator     DOUBLE PRECISION NOT NULL,
    ci_low          DOUBLE PRECISION,
    ci_high         DOUBLE PRECISION,
    final           INTEGER NOT NULL DEFAULT 0,
    computed_ms     BIGINT NOT NULL,
    PRIMARY KEY (name, granularity, window_start_ms, platform, model_version, arm, position, k)
);

CREATE INDEX IF NOT EXISTS metrics_windows ON metrics (granularity, final, window_start_ms);

CREATE TABLE IF NOT EXISTS models (
    version       TEXT COLLATE "C" PRIMARY KEY,
    uri           TEXT COLLATE "C" NOT NULL,
    checksum      TEXT COLLATE "C" NOT NULL,
    manifest      TEXT COLLATE "C" NOT NULL DEFAULT '{}',
    created_ms    BIGINT NOT NULL,
    activated_ms  BIGINT,
    active        INTEGER NOT NULL DEFAULT 0 CHECK (active IN (0, 1))
);

CREATE TABLE IF NOT EXISTS training_runs (
    run_id            TEXT COLLATE "C" PRIMARY KEY,
    started_ms        BIGINT NOT NULL,
    seconds           DOUBLE PRECISION NOT NULL,
    status            TEXT COLLATE "C" NOT NULL,
    params            TEXT COLLATE "C" NOT NULL DEFAULT '{}',
    data_fingerprint  TEXT COLLATE "C" NOT NULL,
    metrics           TEXT COLLATE "C" NOT NULL DEFAULT '{}',
    run_dir           TEXT COLLATE "C",
    bundle_path       TEXT COLLATE "C",
    model_version     TEXT COLLATE "C"
);

CREATE INDEX IF NOT EXISTS training_runs_started ON training_runs (started_ms);

CREATE TABLE IF NOT EXISTS snapshots (
    name                 TEXT COLLATE "C" PRIMARY KEY,
    generation           BIGINT,
    previous_generation  BIGINT,
    pending_generation   BIGINT,
    as_of_ms             BIGINT,
    built_ms             BIGINT,
    row_count            BIGINT NOT NULL DEFAULT 0,
    info                 TEXT COLLATE "C" NOT NULL DEFAULT '{}',
    claimed_until_ms     BIGINT
);

-- Generation numbers are MAX + 1 of this table, which is never deleted from (no sequences on
-- DSQL); two refreshes that draw the same number collide on the key and one is run again.
CREATE TABLE IF NOT EXISTS snapshot_generations (
    generation  BIGINT PRIMARY KEY,
    name        TEXT COLLATE "C" NOT NULL
);

CREATE TABLE IF NOT EXISTS popularity_snapshot (
    generation  BIGINT NOT NULL,
    platform    TEXT COLLATE "C" NOT NULL,
    rank        INTEGER NOT NULL,
    item_id     TEXT COLLATE "C" NOT NULL,
    score       DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (generation, platform, rank)
);

CREATE TABLE IF NOT EXISTS item_features_snapshot (
    generation  BIGINT PRIMARY KEY,
    item_ids    TEXT COLLATE "C" NOT NULL,
    columns     TEXT COLLATE "C" NOT NULL,
    features    BYTEA NOT NULL
);

CREATE TABLE IF NOT EXISTS api_keys (
    key_id        TEXT COLLATE "C" PRIMARY KEY,
    name          TEXT COLLATE "C" NOT NULL,
    scopes        TEXT COLLATE "C" NOT NULL,
    secret_hash   TEXT COLLATE "C" NOT NULL,
    created_ms    BIGINT NOT NULL,
    last_used_ms  BIGINT,
    revoked_ms    BIGINT
);

CREATE TABLE IF NOT EXISTS deleted_users (
    user_hash   TEXT COLLATE "C" PRIMARY KEY,
    deleted_ms  BIGINT NOT NULL
);

-- What the feature queries of sql/serving/features.sql read at serving time: every stored event.
CREATE OR REPLACE VIEW feature_events AS
SELECT user_id, item_id, event_type, ts_ms FROM events;
