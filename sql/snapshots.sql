-- The snapshot tables (migration 0004): claims, generations, the rows, and the serving reads.
-- Python (functions/common/store/snapshots.py) runs a refresh as: claim -> write rows of the pending
-- generation in chunks -> publish (swap the pointer, drop the generation two back).

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
-- A generation number never used before (the caller reads the cursor's lastrowid).
INSERT INTO snapshot_generations (name) VALUES (:name);

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

-- name: item_features_table
SELECT item_ids, columns, features FROM item_features_snapshot WHERE generation = :generation;

-- name: popular_items
-- The platform's most popular visible items, best first, of one kind and/or category if asked,
-- leaving out what :exclude_user has events on (NULL: nobody). Walks the primary key in rank
-- order and stops at :limit.
SELECT p.item_id, p.score, i.kind
FROM popularity_snapshot p
JOIN items i ON i.item_id = p.item_id
WHERE p.generation = :generation
  AND p.platform = :platform
  AND i.hidden = 0
  AND (:kind IS NULL OR i.kind = :kind)
  AND (:category IS NULL OR EXISTS (SELECT 1 FROM item_categories c
                                    WHERE c.item_id = p.item_id AND c.category = :category))
  AND (:exclude_user IS NULL OR p.item_id NOT IN (SELECT e.item_id FROM events e
                                                  WHERE e.user_id = :exclude_user))
ORDER BY p.rank
LIMIT :limit;

-- name: item_rows
-- Where each catalog item's features go in the item-features snapshot: at its rowid.
SELECT rowid AS row_number, item_id FROM items;

-- name: top_popular_ids
-- The platform's most popular items, unfiltered: the model ranks them beside its own candidates.
SELECT item_id FROM popularity_snapshot
WHERE generation = :generation AND platform = :platform
ORDER BY rank
LIMIT :limit;

-- name: candidate_items
-- The visible items among :item_ids (a JSON array) that pass the kind/category filters, with their
-- rowids (their rows in the item-features snapshot). The items_serving index answers it without
-- reading table rows unless a category is asked for. One JSON parameter rather than an expanded
-- list keeps the statement text constant, so it is prepared once per connection, not per request
-- (preparing 400 placeholders cost as much as running the query).
SELECT i.item_id, i.kind, i.rowid
FROM items i
WHERE i.item_id IN (SELECT value FROM json_each(:item_ids))
  AND i.hidden = 0
  AND (:kind IS NULL OR i.kind = :kind)
  AND (:category IS NULL OR EXISTS (SELECT 1 FROM item_categories c
                                    WHERE c.item_id = i.item_id AND c.category = :category));
