-- The model registry (models table: training/publish.py) and the experiment log (training_runs:
-- training/runs.py). Serving's reads of the registry: sql/serving/models.sql.

-- name: register_model
INSERT INTO models (version, uri, checksum, manifest, created_ms, activated_ms, active)
VALUES (:version, :uri, :checksum, :manifest, :created_ms, NULL, 0)
ON CONFLICT (version) DO UPDATE SET uri = excluded.uri,
                                    checksum = excluded.checksum,
                                    manifest = excluded.manifest;

-- name: deactivate_models
UPDATE models SET active = 0 WHERE active = 1;

-- name: activate_model
UPDATE models SET active = 1, activated_ms = :now_ms WHERE version = :version;

-- name: list_models
SELECT version, uri, checksum, created_ms, activated_ms, active FROM models
ORDER BY created_ms DESC;

-- name: record_run
INSERT INTO training_runs (run_id, started_ms, seconds, status, params, data_fingerprint,
                           metrics, run_dir, bundle_path, model_version)
VALUES (:run_id, :started_ms, :seconds, :status, :params, :data_fingerprint, :metrics,
        :run_dir, :bundle_path, :model_version)
ON CONFLICT (run_id) DO UPDATE SET seconds = excluded.seconds,
                                   status = excluded.status,
                                   metrics = excluded.metrics,
                                   bundle_path = excluded.bundle_path,
                                   model_version = excluded.model_version;

-- name: list_runs
SELECT run_id, started_ms, seconds, status, params, data_fingerprint, metrics, run_dir,
       bundle_path, model_version
FROM training_runs
ORDER BY started_ms DESC
LIMIT :limit;
