-- Reads of the offline training pipeline (training/data.py), and the temporary tables it fills:
-- temp.training_pairs and temp.feature_events, the training split's events that the feature
-- queries (sql/serving/features.sql) read.
--
-- Deleted users: every read below leaves out the events and impressions of a user with a
-- deletion tombstone (deleted_users) that were received or served up to the deletion, such as a
-- batch that was being written while the deletion ran. What an id sends after its deletion is a
-- new user's data and is trained on. temp.forgotten_users resolves the tombstones (which hold
-- only SHA-256 hashes of ids) to the ids present, once per connection and training read.

-- name: create_forgotten_users
CREATE TEMP TABLE IF NOT EXISTS forgotten_users (
    user_id    TEXT PRIMARY KEY,
    deleted_ms INTEGER NOT NULL
);

-- name: clear_forgotten_users
DELETE FROM temp.forgotten_users;

-- name: fill_forgotten_users
-- sha256_hex() is registered on the connection (functions/common/store/tombstones.py). The CROSS JOIN
-- keeps the distinct ids in the outer loop: one hash and one primary-key probe per id; the
-- EXISTS term is constant, so nothing is scanned while no user has ever been deleted.
INSERT INTO temp.forgotten_users (user_id, deleted_ms)
SELECT u.user_id, d.deleted_ms
FROM (SELECT user_id FROM main.events UNION SELECT user_id FROM main.impressions) AS u
CROSS JOIN main.deleted_users AS d
WHERE EXISTS (SELECT 1 FROM main.deleted_users)
  AND d.user_hash = sha256_hex(u.user_id);

-- name: interactions
-- Distinct (user, item) pairs with at least one event of the given types, stamped with the first.
SELECT e.user_id, e.item_id, MIN(e.ts_ms) AS ts_ms
FROM events e
LEFT JOIN temp.forgotten_users f ON f.user_id = e.user_id
WHERE e.event_type IN (:types)
  AND (f.deleted_ms IS NULL OR e.received_ms > f.deleted_ms)
GROUP BY e.user_id, e.item_id;

-- name: create_training_pairs
CREATE TEMP TABLE IF NOT EXISTS training_pairs (
    user_id TEXT NOT NULL,
    item_id TEXT NOT NULL,
    PRIMARY KEY (user_id, item_id)
);

-- name: clear_training_pairs
DELETE FROM temp.training_pairs;

-- name: add_training_pair
INSERT INTO temp.training_pairs (user_id, item_id) VALUES (:user_id, :item_id)
ON CONFLICT (user_id, item_id) DO NOTHING;

-- name: unengaged_impressions
-- Impressions that drew no positive engagement from the user on that item within the
-- attribution window: the natural negatives when impression logs exist.
SELECT i.user_id, i.item_id, MIN(i.served_ms) AS served_ms
FROM impressions i
LEFT JOIN temp.forgotten_users f ON f.user_id = i.user_id
WHERE i.served_ms <= :until_ms
  AND (f.deleted_ms IS NULL OR i.served_ms > f.deleted_ms)
  AND NOT EXISTS (
      SELECT 1 FROM events e
      WHERE e.user_id = i.user_id AND e.item_id = i.item_id
        AND e.event_type IN (:positive_types)
        AND e.ts_ms >= i.served_ms - :skew_ms
        AND e.ts_ms <= i.served_ms + :window_ms)
GROUP BY i.user_id, i.item_id;

-- name: create_training_source
-- Training's `feature_events` (serving's is a view: sql/serving/features.sql), filled with the
-- training split's events by fill_training_source.
CREATE TEMP TABLE IF NOT EXISTS feature_events (
    user_id    TEXT NOT NULL,
    item_id    TEXT NOT NULL,
    event_type TEXT NOT NULL,
    ts_ms      INTEGER NOT NULL
);

-- name: clear_training_source
DELETE FROM temp.feature_events;

-- name: fill_training_source
-- The training split's events (every type, up to :as_of_ms) into temp.feature_events.
INSERT INTO temp.feature_events (user_id, item_id, event_type, ts_ms)
SELECT e.user_id, e.item_id, e.event_type, e.ts_ms
FROM events e
JOIN temp.training_pairs p ON p.user_id = e.user_id AND p.item_id = e.item_id
LEFT JOIN temp.forgotten_users f ON f.user_id = e.user_id
WHERE e.ts_ms <= :as_of_ms
  AND (f.deleted_ms IS NULL OR e.received_ms > f.deleted_ms);
