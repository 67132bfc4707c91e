-- Reads behind the console's pages (functions/metrics/browse.py): known users, one user's
-- recent activity, one catalog item, the model registry. Read-only, indexed, bounded by LIMIT.

-- name: users_by_prefix
-- Users with events whose id starts with :prefix, in id order: the range [:prefix, :prefix_end)
-- walks events_user_item (ids compare by their UTF-8 bytes on both engines); :prefix_end is
-- :prefix followed by U+10FFFF, the greatest code point.
-- The ids are found first (the first :limit distinct ones of the range), then counted, so that
-- neither engine aggregates the whole range for an empty or one-letter prefix.
WITH found AS (
    SELECT DISTINCT user_id FROM events
    WHERE user_id >= :prefix AND user_id < :prefix_end
    ORDER BY user_id
    LIMIT :limit
)
SELECT f.user_id, COUNT(*) AS events, MAX(e.ts_ms) AS last_ms
FROM found f JOIN events e ON e.user_id = f.user_id
GROUP BY f.user_id
ORDER BY f.user_id;

-- name: user_attributes
SELECT attributes FROM users WHERE user_id = :user_id;

-- name: user_event_count
SELECT COUNT(*) AS n FROM events WHERE user_id = :user_id;

-- name: user_recent_events
SELECT event_id, item_id, event_type, platform, ts_ms, recommendation_id, position, dwell_ms
FROM events
WHERE user_id = :user_id
ORDER BY ts_ms DESC, event_id DESC
LIMIT :limit;

-- name: user_feed_count
SELECT COUNT(*) AS n FROM recommendations WHERE user_id = :user_id;

-- name: user_recent_feeds
SELECT recommendation_id, platform, k, model_version, arm, served_ms
FROM recommendations
WHERE user_id = :user_id
ORDER BY served_ms DESC, recommendation_id DESC
LIMIT :limit;

-- name: feed_impressions
SELECT recommendation_id, item_id, position, score, reason
FROM impressions
WHERE recommendation_id IN (:recommendation_ids)
ORDER BY recommendation_id, position;

-- name: item_by_id
SELECT item_id, kind, title, categories, published_ms, attributes, hidden
FROM items
WHERE item_id = :item_id;

-- name: registered_models
-- The latest :limit registrations, newest first, with their manifests.
SELECT version, manifest, created_ms, activated_ms, active
FROM models
ORDER BY created_ms DESC, version DESC
LIMIT :limit;

-- name: serving_models
-- The active model and the A/B version (:ab_version, NULL: none), wherever they are in the list.
SELECT version, manifest, created_ms, activated_ms, active
FROM models
WHERE active = 1 OR version = :ab_version
ORDER BY created_ms DESC, version DESC;
