-- Queries of `mediarec seed` (training/datasets/synthetic/write.py): guard, reset and row counts.

-- name: count_events
SELECT COUNT(*) AS n FROM events;

-- name: table_counts
-- Read only by tests/training/test_synthetic.py, to check what the seed wrote.
SELECT (SELECT COUNT(*) FROM users)           AS users,
       (SELECT COUNT(*) FROM items)           AS items,
       (SELECT COUNT(*) FROM item_categories) AS item_categories,
       (SELECT COUNT(*) FROM events)          AS events,
       (SELECT COUNT(*) FROM recommendations) AS recommendations,
       (SELECT COUNT(*) FROM impressions)     AS impressions,
       (SELECT COUNT(*) FROM metrics)         AS metrics;

-- name: event_by_id
-- Read only by tests/training/test_synthetic.py, to check what the seed wrote.
SELECT event_id, user_id, item_id, event_type, platform, ts_ms, received_ms,
       recommendation_id, position, dwell_ms
FROM events WHERE event_id = :event_id;

-- Reset, children before parents (impressions -> recommendations, item_categories -> items).

-- name: reset_impressions
DELETE FROM impressions;

-- name: reset_recommendations
DELETE FROM recommendations;

-- name: reset_events
DELETE FROM events;

-- name: reset_item_categories
DELETE FROM item_categories;

-- name: reset_items
DELETE FROM items;

-- name: reset_users
DELETE FROM users;

-- name: reset_metrics
DELETE FROM metrics;

-- name: reset_snapshots
-- Snapshots describe the data just deleted; the next request or refresh rebuilds them.
DELETE FROM snapshots;

-- name: reset_popularity_snapshot
DELETE FROM popularity_snapshot;

-- name: reset_item_features_snapshot
DELETE FROM item_features_snapshot;
