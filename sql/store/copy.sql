-- `mediarec migrate-db` (training/store_copy.py): every table read in key order, a chunk at a
-- time: `first_<table>` the first chunk, `read_<table>` the chunk after the last key copied (a
-- row-value comparison the key's index answers, so a resumed copy starts where the last one
-- stopped), and written with ON CONFLICT DO NOTHING (a chunk copied twice lands once). The
-- tables are listed in training/store_copy.py in this file's order; `count_<table>` is what the
-- verification compares. items carries its row number (SQLite's rowid, PostgreSQL's row_number
-- column: sql/store/copy.postgresql.sql), which the item-features snapshot is indexed by.

-- name: first_users
SELECT user_id,
       attributes,
       created_ms,
       updated_ms
FROM users
ORDER BY user_id
LIMIT :limit;

-- name: read_users
SELECT user_id,
       attributes,
       created_ms,
       updated_ms
FROM users
WHERE user_id > :after_user_id
ORDER BY user_id
LIMIT :limit;

-- name: write_users
INSERT INTO users (user_id, attributes, created_ms, updated_ms)
VALUES (:user_id, :attributes, :created_ms, :updated_ms)
ON CONFLICT DO NOTHING;

-- name: count_users
SELECT COUNT(*) FROM users;

-- name: first_items
SELECT item_id,
       kind,
       title,
       categories,
       published_ms,
       attributes,
       hidden,
       created_ms,
       updated_ms,
       rowid AS row_number
FROM items
ORDER BY item_id
LIMIT :limit;

-- name: read_items
SELECT item_id,
       kind,
       title,
       categories,
       published_ms,
       attributes,
       hidden,
       created_ms,
       updated_ms,
       rowid AS row_number
FROM items
WHERE item_id > :after_item_id
ORDER BY item_id
LIMIT :limit;

-- name: write_items
INSERT INTO items (item_id, kind, title, categories, published_ms, attributes, hidden, created_ms, updated_ms, rowid)
VALUES (:item_id, :kind, :title, :categories, :published_ms, :attributes, :hidden, :created_ms, :updated_ms, :row_number)
ON CONFLICT DO NOTHING;

-- name: count_items
SELECT COUNT(*) FROM items;

-- name: first_item_categories
SELECT item_id,
       category
FROM item_categories
ORDER BY item_id, category
LIMIT :limit;

-- name: read_item_categories
SELECT item_id,
       category
FROM item_categories
WHERE (item_id, category) > (:after_item_id, :after_category)
ORDER BY item_id, category
LIMIT :limit;

-- name: write_item_categories
INSERT INTO item_categories (item_id, category)
VALUES (:item_id, :category)
ON CONFLICT DO NOTHING;

-- name: count_item_categories
SELECT COUNT(*) FROM item_categories;

-- name: first_events
SELECT event_id,
       user_id,
       item_id,
       event_type,
       platform,
       ts_ms,
       received_ms,
       recommendation_id,
       position,
       dwell_ms
FROM events
ORDER BY event_id
LIMIT :limit;

-- name: read_events
SELECT event_id,
       user_id,
       item_id,
       event_type,
       platform,
       ts_ms,
       received_ms,
       recommendation_id,
       position,
       dwell_ms
FROM events
WHERE event_id > :after_event_id
ORDER BY event_id
LIMIT :limit;

-- name: write_events
INSERT INTO events (event_id, user_id, item_id, event_type, platform, ts_ms, received_ms, recommendation_id, position, dwell_ms)
VALUES (:event_id, :user_id, :item_id, :event_type, :platform, :ts_ms, :received_ms, :recommendation_id, :position, :dwell_ms)
ON CONFLICT DO NOTHING;

-- name: count_events
SELECT COUNT(*) FROM events;

-- name: first_recommendations
SELECT recommendation_id,
       user_id,
       platform,
       k,
       model_version,
       request,
       served_ms,
       arm
FROM recommendations
ORDER BY recommendation_id
LIMIT :limit;

-- name: read_recommendations
SELECT recommendation_id,
       user_id,
       platform,
       k,
       model_version,
       request,
       served_ms,
       arm
FROM recommendations
WHERE recommendation_id > :after_recommendation_id
ORDER BY recommendation_id
LIMIT :limit;

-- name: write_recommendations
INSERT INTO recommendations (recommendation_id, user_id, platform, k, model_version, request, served_ms, arm)
VALUES (:recommendation_id, :user_id, :platform, :k, :model_version, :request, :served_ms, :arm)
ON CONFLICT DO NOTHING;

-- name: count_recommendations
SELECT COUNT(*) FROM recommendations;

-- name: first_impressions
SELECT recommendation_id,
       item_id,
       user_id,
       position,
       score,
       reason,
       model_version,
       platform,
       served_ms,
       arm,
       propensity
FROM impressions
ORDER BY recommendation_id, item_id
LIMIT :limit;

-- name: read_impressions
SELECT recommendation_id,
       item_id,
       user_id,
       position,
       score,
       reason,
       model_version,
       platform,
       served_ms,
       arm,
       propensity
FROM impressions
WHERE (recommendation_id, item_id) > (:after_recommendation_id, :after_item_id)
ORDER BY recommendation_id, item_id
LIMIT :limit;

-- name: write_impressions
INSERT INTO impressions (recommendation_id, item_id, user_id, position, score, reason, model_version, platform, served_ms, arm, propensity)
VALUES (:recommendation_id, :item_id, :user_id, :position, :score, :reason, :model_version, :platform, :served_ms, :arm, :propensity)
ON CONFLICT DO NOTHING;

-- name: count_impressions
SELECT COUNT(*) FROM impressions;

-- name: first_metrics
SELECT name,
       granularity,
       window_start_ms,
       window_end_ms,
       platform,
       model_version,
       arm,
       position,
       k,
       value,
       numerator,
       denominator,
       ci_low,
       ci_high,
       final,
       computed_ms
FROM metrics
ORDER BY name, granularity, window_start_ms, platform, model_version, arm, position, k
LIMIT :limit;

-- name: read_metrics
SELECT name,
       granularity,
       window_start_ms,
       window_end_ms,
       platform,
       model_version,
       arm,
       position,
       k,
       value,
       numerator,
       denominator,
       ci_low,
       ci_high,
       final,
       computed_ms
FROM metrics
WHERE (name, granularity, window_start_ms, platform, model_version, arm, position, k) > (:after_name, :after_granularity, :after_window_start_ms, :after_platform, :after_model_version, :after_arm, :after_position, :after_k)
ORDER BY name, granularity, window_start_ms, platform, model_version, arm, position, k
LIMIT :limit;

-- name: write_metrics
INSERT INTO metrics (name, granularity, window_start_ms, window_end_ms, platform, model_version, arm, position, k, value, numerator, denominator, ci_low, ci_high, final, computed_ms)
VALUES (:name, :granularity, :window_start_ms, :window_end_ms, :platform, :model_version, :arm, :position, :k, :value, :numerator, :denominator, :ci_low, :ci_high, :final, :computed_ms)
ON CONFLICT DO NOTHING;

-- name: count_metrics
SELECT COUNT(*) FROM metrics;

-- name: first_models
SELECT version,
       uri,
       checksum,
       manifest,
       created_ms,
       activated_ms,
       active
FROM models
ORDER BY version
LIMIT :limit;

-- name: read_models
SELECT version,
       uri,
       checksum,
       manifest,
       created_ms,
       activated_ms,
       active
FROM models
WHERE version > :after_version
ORDER BY version
LIMIT :limit;

-- name: write_models
INSERT INTO models (version, uri, checksum, manifest, created_ms, activated_ms, active)
VALUES (:version, :uri, :checksum, :manifest, :created_ms, :activated_ms, :active)
ON CONFLICT DO NOTHING;

-- name: count_models
SELECT COUNT(*) FROM models;

-- name: first_training_runs
SELECT run_id,
       started_ms,
       seconds,
       status,
       params,
       data_fingerprint,
       metrics,
       run_dir,
       bundle_path,
       model_version
FROM training_runs
ORDER BY run_id
LIMIT :limit;

-- name: read_training_runs
SELECT run_id,
       started_ms,
       seconds,
       status,
       params,
       data_fingerprint,
       metrics,
       run_dir,
       bundle_path,
       model_version
FROM training_runs
WHERE run_id > :after_run_id
ORDER BY run_id
LIMIT :limit;

-- name: write_training_runs
INSERT INTO training_runs (run_id, started_ms, seconds, status, params, data_fingerprint, metrics, run_dir, bundle_path, model_version)
VALUES (:run_id, :started_ms, :seconds, :status, :params, :data_fingerprint, :metrics, :run_dir, :bundle_path, :model_version)
ON CONFLICT DO NOTHING;

-- name: count_training_runs
SELECT COUNT(*) FROM training_runs;

-- name: first_snapshots
SELECT name,
       generation,
       previous_generation,
       pending_generation,
       as_of_ms,
       built_ms,
       row_count,
       info,
       claimed_until_ms
FROM snapshots
ORDER BY name
LIMIT :limit;

-- name: read_snapshots
SELECT name,
       generation,
       previous_generation,
       pending_generation,
       as_of_ms,
       built_ms,
       row_count,
       info,
       claimed_until_ms
FROM snapshots
WHERE name > :after_name
ORDER BY name
LIMIT :limit;

-- name: write_snapshots
INSERT INTO snapshots (name, generation, previous_generation, pending_generation, as_of_ms, built_ms, row_count, info, claimed_until_ms)
VALUES (:name, :generation, :previous_generation, :pending_generation, :as_of_ms, :built_ms, :row_count, :info, :claimed_until_ms)
ON CONFLICT DO NOTHING;

-- name: count_snapshots
SELECT COUNT(*) FROM snapshots;

-- name: first_snapshot_generations
SELECT generation,
       name
FROM snapshot_generations
ORDER BY generation
LIMIT :limit;

-- name: read_snapshot_generations
SELECT generation,
       name
FROM snapshot_generations
WHERE generation > :after_generation
ORDER BY generation
LIMIT :limit;

-- name: write_snapshot_generations
INSERT INTO snapshot_generations (generation, name)
VALUES (:generation, :name)
ON CONFLICT DO NOTHING;

-- name: count_snapshot_generations
SELECT COUNT(*) FROM snapshot_generations;

-- name: first_popularity_snapshot
SELECT generation,
       platform,
       rank,
       item_id,
       score
FROM popularity_snapshot
ORDER BY generation, platform, rank
LIMIT :limit;

-- name: read_popularity_snapshot
SELECT generation,
       platform,
       rank,
       item_id,
       score
FROM popularity_snapshot
WHERE (generation, platform, rank) > (:after_generation, :after_platform, :after_rank)
ORDER BY generation, platform, rank
LIMIT :limit;

-- name: write_popularity_snapshot
INSERT INTO popularity_snapshot (generation, platform, rank, item_id, score)
VALUES (:generation, :platform, :rank, :item_id, :score)
ON CONFLICT DO NOTHING;

-- name: count_popularity_snapshot
SELECT COUNT(*) FROM popularity_snapshot;

-- name: first_item_features_snapshot
SELECT generation,
       item_ids,
       columns,
       features
FROM item_features_snapshot
ORDER BY generation
LIMIT :limit;

-- name: read_item_features_snapshot
SELECT generation,
       item_ids,
       columns,
       features
FROM item_features_snapshot
WHERE generation > :after_generation
ORDER BY generation
LIMIT :limit;

-- name: write_item_features_snapshot
INSERT INTO item_features_snapshot (generation, item_ids, columns, features)
VALUES (:generation, :item_ids, :columns, :features)
ON CONFLICT DO NOTHING;

-- name: count_item_features_snapshot
SELECT COUNT(*) FROM item_features_snapshot;

-- name: first_api_keys
SELECT key_id,
       name,
       scopes,
       secret_hash,
       created_ms,
       last_used_ms,
       revoked_ms
FROM api_keys
ORDER BY key_id
LIMIT :limit;

-- name: read_api_keys
SELECT key_id,
       name,
       scopes,
       secret_hash,
       created_ms,
       last_used_ms,
       revoked_ms
FROM api_keys
WHERE key_id > :after_key_id
ORDER BY key_id
LIMIT :limit;

-- name: write_api_keys
INSERT INTO api_keys (key_id, name, scopes, secret_hash, created_ms, last_used_ms, revoked_ms)
VALUES (:key_id, :name, :scopes, :secret_hash, :created_ms, :last_used_ms, :revoked_ms)
ON CONFLICT DO NOTHING;

-- name: count_api_keys
SELECT COUNT(*) FROM api_keys;

-- name: first_deleted_users
SELECT user_hash,
       deleted_ms
FROM deleted_users
ORDER BY user_hash
LIMIT :limit;

-- name: read_deleted_users
SELECT user_hash,
       deleted_ms
FROM deleted_users
WHERE user_hash > :after_user_hash
ORDER BY user_hash
LIMIT :limit;

-- name: write_deleted_users
INSERT INTO deleted_users (user_hash, deleted_ms)
VALUES (:user_hash, :deleted_ms)
ON CONFLICT DO NOTHING;

-- name: count_deleted_users
SELECT COUNT(*) FROM deleted_users;
