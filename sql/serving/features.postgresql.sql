-- PostgreSQL's side of sql/serving/features.sql: serving's `feature_events` is a view of the
-- schema there (sql/migrations/postgresql/0001_schema.sql), since DSQL has no temporary views;
-- this only checks that it is in place. Training always reads a local SQLite copy of the store
-- (training/store_copy.py, local_reader), where the temporary relations of sql/training/ live.

-- name: create_serving_source
SELECT 1 FROM feature_events LIMIT 0;
