-- The events that features are computed from, as the temporary relation `feature_events`.
-- Training fills a temporary table with the events of its training split (so no validation or
-- test interaction leaks into a feature); serving reads every event up to now through a view.
-- Both sides then run the same sql/features/*.sql queries.

-- name: create_training_source
CREATE TEMP TABLE IF NOT EXISTS feature_events (
    user_id    TEXT NOT NULL,
    item_id    TEXT NOT NULL,
    event_type TEXT NOT NULL,
    ts_ms      INTEGER NOT NULL
);

-- name: clear_training_source
DELETE FROM temp.feature_events;

-- name: add_training_event
INSERT INTO temp.feature_events (user_id, item_id, event_type, ts_ms)
VALUES (:user_id, :item_id, :event_type, :ts_ms);

-- name: create_serving_source
CREATE TEMP VIEW IF NOT EXISTS feature_events AS
SELECT user_id, item_id, event_type, ts_ms FROM main.events;

-- name: drop_source
DROP TABLE IF EXISTS temp.feature_events;
