-- The snapshot tables (migration 0004) as functions/common/store/snapshots.py runs a refresh:
-- claim -> write the rows of the pending generation in chunks -> publish (swap the pointer, drop
-- the generation two back). The serving reads of the rows are in sql/serving/.

-- name: ensure_snapshot
INSERT INTO snapshots (name, info) VALUES (:name, :info) ON CONFLICT (name) DO NOTHING;

-- name: snapshot
SELECT name, generation, previous_generation, pending_generation, as_of_ms, built_ms, row_count,
       info, claimed_until_ms
FROM snapshots WHERE name = :name;

-- name: snapshots_named
SELECT name, generation, as_of_ms, built_ms, row_count, info, claimed_until_ms
FROM snapshots WHERE name IN (:names);

-- name: all_snapshots
SELECT name, generation, as_of_ms, built_ms, row_count, info, claimed_until_ms
FROM snapshots ORDER BY name;

-- name: new_generation
-- A generation number never used before (AUTOINCREMENT), returned.
INSERT INTO snapshot_generations (name) VALUES (:name) RETURNING generation;

-- name: claim_snapshot
UPDATE snapshots
SET claimed_until_ms = :until_ms, pending_generation = :generation
WHERE name = :name AND (claimed_until_ms IS NULL OR claimed_until_ms < :now_ms);

-- name: release_claim
-- After a failed refresh (its rows are deleted first), if the claim is still this refresh's.
UPDATE snapshots SET claimed_until_ms = NULL, pending_generation = NULL
WHERE name = :name AND pending_generation = :generation;

-- name: publish_snapshot
UPDATE snapshots
SET previous_generation = generation,
    generation = pending_generation,
    pending_generation = NULL,
    claimed_until_ms = NULL,
    as_of_ms = :as_of_ms,
    built_ms = :built_ms,
    row_count = :row_count,
    info = :info
WHERE name = :name AND pending_generation = :generation;

-- name: delete_snapshot
DELETE FROM snapshots WHERE name = :name;

-- name: delete_popularity_generation
DELETE FROM popularity_snapshot WHERE generation = :generation;

-- name: delete_item_features_generation
DELETE FROM item_features_snapshot WHERE generation = :generation;

-- name: insert_popularity
INSERT INTO popularity_snapshot (generation, platform, rank, item_id, score)
VALUES (:generation, :platform, :rank, :item_id, :score);

-- name: insert_item_features
INSERT INTO item_features_snapshot (generation, item_ids, columns, features)
VALUES (:generation, :item_ids, :columns, :features);
