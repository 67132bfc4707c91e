-- Writes of the ingest function (and of `mediarec seed` / `mediarec import`, which reuse them).

-- name: insert_event
INSERT INTO events (event_id, user_id, item_id, event_type, platform, ts_ms, received_ms,
                    recommendation_id, position, dwell_ms)
VALUES (:event_id, :user_id, :item_id, :event_type, :platform, :ts_ms, :received_ms,
        :recommendation_id, :position, :dwell_ms)
ON CONFLICT (event_id) DO NOTHING;

-- name: event_owner
SELECT user_id FROM events WHERE event_id = :event_id;

-- name: stored_event_owners
-- Which of a batch's event ids are stored already, and whose they are (one lookup per chunk).
SELECT event_id, user_id FROM events WHERE event_id IN (:event_ids);

-- name: upsert_user
INSERT INTO users (user_id, attributes, created_ms, updated_ms)
VALUES (:user_id, :attributes, :now_ms, :now_ms)
ON CONFLICT (user_id) DO UPDATE SET attributes = excluded.attributes,
                                    updated_ms = excluded.updated_ms;

-- name: upsert_item
INSERT INTO items (item_id, kind, title, categories, published_ms, attributes, hidden,
                   created_ms, updated_ms)
VALUES (:item_id, :kind, :title, :categories, :published_ms, :attributes, :hidden,
        :now_ms, :now_ms)
ON CONFLICT (item_id) DO UPDATE SET kind = excluded.kind,
                                    title = excluded.title,
                                    categories = excluded.categories,
                                    published_ms = excluded.published_ms,
                                    attributes = excluded.attributes,
                                    hidden = excluded.hidden,
                                    updated_ms = excluded.updated_ms;

-- name: delete_item_categories
DELETE FROM item_categories WHERE item_id = :item_id;

-- name: insert_item_category
INSERT INTO item_categories (item_id, category) VALUES (:item_id, :category)
ON CONFLICT (item_id, category) DO NOTHING;

-- name: delete_user_impressions
DELETE FROM impressions WHERE user_id = :user_id;

-- name: delete_user_recommendations
DELETE FROM recommendations WHERE user_id = :user_id;

-- name: delete_user_events
DELETE FROM events WHERE user_id = :user_id;

-- name: delete_user
DELETE FROM users WHERE user_id = :user_id;

-- name: upsert_deleted_user
-- The tombstone of a deletion (see sql/migrations/0005_access.sql): the SHA-256 of the user id,
-- never the id, and the time of the latest deletion.
INSERT INTO deleted_users (user_hash, deleted_ms) VALUES (:user_hash, :deleted_ms)
ON CONFLICT (user_hash) DO UPDATE SET deleted_ms = excluded.deleted_ms;

-- name: secure_delete_setting
PRAGMA secure_delete;

-- name: secure_delete_on
PRAGMA secure_delete = ON;

-- name: secure_delete_off
PRAGMA secure_delete = OFF;

-- name: secure_delete_fast
PRAGMA secure_delete = FAST;
