-- Experiment log: one row per training run (`mediarec train`, `mediarec benchmark quality`).

CREATE TABLE training_runs (
    run_id            TEXT PRIMARY KEY,
    started_ms        INTEGER NOT NULL,
    seconds           REAL NOT NULL,
    status            TEXT NOT NULL,
    params            TEXT NOT NULL DEFAULT '{}',
    data_fingerprint  TEXT NOT NULL,
    metrics           TEXT NOT NULL DEFAULT '{}',
    run_dir           TEXT,
    bundle_path       TEXT,
    model_version     TEXT
);
CREATE INDEX training_runs_started ON training_runs (started_ms);
