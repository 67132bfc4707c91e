-- Reads of the model registry (models table) by serving: the active model and an A/B arm
-- (functions/common/serving/model_runtime.py), the registered feature specifications
-- (functions/common/serving/snapshot_refresh.py). Training's writes: sql/training/models.sql.

-- name: active_model
SELECT version, uri, checksum, manifest, created_ms, activated_ms FROM models WHERE active = 1;

-- name: model_by_version
SELECT version, uri, checksum, manifest, created_ms, activated_ms, active FROM models
WHERE version = :version;

-- name: registered_manifests
SELECT version, manifest FROM models ORDER BY created_ms;
