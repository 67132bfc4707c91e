-- Reads of the offline training pipeline.

-- name: interactions
-- Distinct (user, item) pairs with at least one event of the given types, stamped with the first.
SELECT user_id, item_id, MIN(ts_ms) AS ts_ms
FROM events
WHERE event_type IN (:types)
GROUP BY user_id, item_id;

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
WHERE i.served_ms <= :until_ms
  AND NOT EXISTS (
      SELECT 1 FROM events e
      WHERE e.user_id = i.user_id AND e.item_id = i.item_id
        AND e.event_type IN (:positive_types)
        AND e.ts_ms >= i.served_ms - :skew_ms
        AND e.ts_ms <= i.served_ms + :window_ms)
GROUP BY i.user_id, i.item_id;

-- name: fill_training_source
-- The training split's events (every type, up to :as_of_ms) into temp.feature_events.
INSERT INTO temp.feature_events (user_id, item_id, event_type, ts_ms)
SELECT e.user_id, e.item_id, e.event_type, e.ts_ms
FROM events e
JOIN temp.training_pairs p ON p.user_id = e.user_id AND p.item_id = e.item_id
WHERE e.ts_ms <= :as_of_ms;
