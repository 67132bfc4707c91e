-- mediarec schema, version 1. Times are epoch milliseconds (UTC) in INTEGER columns; JSON
-- documents are TEXT. Standard SQL where it costs nothing, so that a PostgreSQL engine can follow.

CREATE TABLE users (
    user_id      TEXT PRIMARY KEY,
    attributes   TEXT NOT NULL DEFAULT '{}',
    created_ms   INTEGER NOT NULL,
    updated_ms   INTEGER NOT NULL
);

CREATE TABLE items (
    item_id       TEXT PRIMARY KEY,
    kind          TEXT NOT NULL CHECK (kind IN ('video', 'article', 'post')),
    title         TEXT,
    categories    TEXT NOT NULL DEFAULT '[]',
    published_ms  INTEGER,
    attributes    TEXT NOT NULL DEFAULT '{}',
    hidden        INTEGER NOT NULL DEFAULT 0 CHECK (hidden IN (0, 1)),
    created_ms    INTEGER NOT NULL,
    updated_ms    INTEGER NOT NULL
);
CREATE INDEX items_published ON items (published_ms);

-- One row per (item, category): category filters without JSON functions.
CREATE TABLE item_categories (
    item_id   TEXT NOT NULL REFERENCES items (item_id) ON DELETE CASCADE,
    category  TEXT NOT NULL,
    PRIMARY KEY (item_id, category)
);
CREATE INDEX item_categories_category ON item_categories (category, item_id);

-- Interaction events. event_id is the client's idempotency key. Items need not be in the catalog
-- yet: an event for an unknown item is kept (it is the user's history) but the item is only
-- recommended once POST /items registers it.
CREATE TABLE events (
    event_id           TEXT PRIMARY KEY,
    user_id            TEXT NOT NULL,
    item_id            TEXT NOT NULL,
    event_type         TEXT NOT NULL,
    platform           TEXT NOT NULL,
    ts_ms              INTEGER NOT NULL,
    received_ms        INTEGER NOT NULL,
    recommendation_id  TEXT,
    position           INTEGER,
    dwell_ms           INTEGER
);
CREATE INDEX events_user_item ON events (user_id, item_id, ts_ms);
CREATE INDEX events_ts ON events (ts_ms);
CREATE INDEX events_recommendation ON events (recommendation_id) WHERE recommendation_id IS NOT NULL;

-- One row per served feed.
CREATE TABLE recommendations (
    recommendation_id  TEXT PRIMARY KEY,
    user_id            TEXT NOT NULL,
    platform           TEXT NOT NULL,
    k                  INTEGER NOT NULL,
    model_version      TEXT NOT NULL,
    request            TEXT NOT NULL DEFAULT '{}',
    served_ms          INTEGER NOT NULL
);
CREATE INDEX recommendations_user ON recommendations (user_id, served_ms);

-- One row per item shown: exactly what the response carried.
CREATE TABLE impressions (
    recommendation_id  TEXT NOT NULL REFERENCES recommendations (recommendation_id) ON DELETE CASCADE,
    item_id            TEXT NOT NULL,
    user_id            TEXT NOT NULL,
    position           INTEGER NOT NULL CHECK (position >= 1),
    score              REAL NOT NULL,
    reason             TEXT NOT NULL,
    model_version      TEXT NOT NULL,
    platform           TEXT NOT NULL,
    served_ms          INTEGER NOT NULL,
    PRIMARY KEY (recommendation_id, item_id)
);
CREATE INDEX impressions_served ON impressions (served_ms);
CREATE INDEX impressions_user_item ON impressions (user_id, item_id, served_ms);

-- Stored metric values, one row per (metric, window, slice); rewritten idempotently.
CREATE TABLE metrics (
    name            TEXT NOT NULL,
    granularity     TEXT NOT NULL,
    window_start_ms INTEGER NOT NULL,
    window_end_ms   INTEGER NOT NULL,
    platform        TEXT NOT NULL,
    model_version   TEXT NOT NULL,
    k               INTEGER NOT NULL,
    value           REAL,
    numerator       INTEGER NOT NULL,
    denominator     INTEGER NOT NULL,
    ci_low          REAL,
    ci_high         REAL,
    final           INTEGER NOT NULL DEFAULT 0,
    computed_ms     INTEGER NOT NULL,
    PRIMARY KEY (name, granularity, window_start_ms, platform, model_version, k)
);

-- Registry of model bundles; at most one is active.
CREATE TABLE models (
    version       TEXT PRIMARY KEY,
    uri           TEXT NOT NULL,
    checksum      TEXT NOT NULL,
    manifest      TEXT NOT NULL DEFAULT '{}',
    created_ms    INTEGER NOT NULL,
    activated_ms  INTEGER,
    active        INTEGER NOT NULL DEFAULT 0 CHECK (active IN (0, 1))
);
CREATE UNIQUE INDEX models_one_active ON models (active) WHERE active = 1;
