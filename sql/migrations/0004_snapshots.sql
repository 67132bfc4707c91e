-- Serving snapshots: what the recommend function would otherwise compute from every event on a
-- cold start (the popularity ranking and the model's item features), computed by the scheduled
-- refresh with the same SQL and read by serving for a handful of rows per request.
--
-- A snapshot is a set of rows tagged with a generation. `snapshots` names the current generation
-- of each snapshot (and the one before it, kept so that a request that read the old pointer still
-- finds its rows); a refresh writes a new generation in small transactions and then swaps the
-- pointer in one, so no write holds the lock for long and a reader never sees half a snapshot.

CREATE TABLE snapshots (
    name                 TEXT PRIMARY KEY,      -- 'popularity' or 'item_features:<spec key>'
    generation           INTEGER,               -- NULL until the first refresh finished
    previous_generation  INTEGER,
    pending_generation   INTEGER,               -- being written by the refresh that holds the claim
    as_of_ms             INTEGER,               -- the time the rows describe
    built_ms             INTEGER,
    row_count            INTEGER NOT NULL DEFAULT 0,
    info                 TEXT NOT NULL DEFAULT '{}', -- JSON: the parameters the rows were built with
    claimed_until_ms     INTEGER                -- a refresh in progress, until this time
);

-- Generation numbers: AUTOINCREMENT never hands out a number twice, even after every snapshot was
-- deleted (seed --reset) or dropped, so a container's cache keyed by generation cannot mistake a
-- new snapshot for one it already holds.
CREATE TABLE snapshot_generations (
    generation  INTEGER PRIMARY KEY AUTOINCREMENT,
    name        TEXT NOT NULL
);

-- Time-decayed popularity per platform ('any' = every platform), best first.
CREATE TABLE popularity_snapshot (
    generation  INTEGER NOT NULL,
    platform    TEXT NOT NULL,
    rank        INTEGER NOT NULL,
    item_id     TEXT NOT NULL,
    score       REAL NOT NULL,
    PRIMARY KEY (generation, platform, rank)
) WITHOUT ROWID;

-- The output of sql/features/item_features.sql for every catalog item as of the snapshot time, as
-- one row per generation that a container loads once: the features.ITEM_COLUMNS values as a
-- row-major float64 matrix whose row r belongs to the item with rowid r in `items`, and a JSON
-- array naming the item of each row (null for none), which a request checks so that a rowid
-- changed since (VACUUM may renumber them) can never lend one item another's features.
CREATE TABLE item_features_snapshot (
    generation  INTEGER PRIMARY KEY,
    item_ids    TEXT NOT NULL,
    columns     TEXT NOT NULL,
    features    BLOB NOT NULL
);

-- Serving looks up a few hundred candidates per request by item_id for their visibility and kind:
-- a covering index answers that without touching the table rows.
CREATE INDEX items_serving ON items (item_id, hidden, kind);

-- The per-request reads of one user's events (seen items, recent interactions, user features)
-- also need event_type: with it in the index they never touch the table rows, which on a cold
-- page cache cost up to ~25 ms for a user with a few hundred events. Same key prefix as before,
-- so every query that used the index still does.
DROP INDEX events_user_item;
CREATE INDEX events_user_item ON events (user_id, item_id, ts_ms, event_type);
