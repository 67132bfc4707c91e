-- The PostgreSQL engine's schema bookkeeping (functions/common/store/postgres_engine.py). SQLite
-- keeps its schema version in PRAGMA user_version instead, so this file has no portable twin.

-- name: schema_table_exists
SELECT to_regclass('schema_version') IS NOT NULL;

-- name: schema_version
SELECT MAX(version) FROM schema_version;

-- name: record_version
INSERT INTO schema_version (version, applied_ms) VALUES (:version, :now_ms)
ON CONFLICT (version) DO NOTHING;

-- name: refresh_statistics
-- The planner's statistics of every table, after a bulk copy (mediarec migrate-db): until
-- autovacuum gets to a freshly filled table, the planner guesses its size and picks scans that
-- made a feed several times slower.
ANALYZE;
