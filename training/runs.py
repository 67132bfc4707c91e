"""The experiment log: one record per training run in the training_runs table."""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass, field
from typing import Any

from functions.common.clock import to_iso
from functions.common.store.db import Database, execute, fetch_all


@dataclass
class RunRecord:
    run_id: str
    started_ms: int
    seconds: float
    status: str
    params: dict[str, Any]
    data_fingerprint: str
    metrics: dict[str, Any] = field(default_factory=dict)
    run_dir: str | None = None
    bundle_path: str | None = None
    model_version: str | None = None


def record_run(database: Database, run: RunRecord) -> None:
    row = {**run.__dict__, "params": json.dumps(run.params), "metrics": json.dumps(run.metrics)}

    def write(conn: sqlite3.Connection) -> None:
        execute(conn, "training/models", "record_run", row)

    database.write(write)


def list_runs(database: Database, limit: int = 20) -> list[RunRecord]:
    rows = database.read(lambda c: fetch_all(c, "training/models", "list_runs", {"limit": limit}))
    return [
        RunRecord(
            **{**dict(r), "params": json.loads(r["params"]), "metrics": json.loads(r["metrics"])}
        )
        for r in rows
    ]


def runs_table(runs: list[RunRecord]) -> list[list[object]]:
    rows: list[list[object]] = []
    for run in runs:
        metrics = run.metrics.get("test", run.metrics)
        rows.append(
            [
                run.run_id,
                to_iso(run.started_ms)[:19],
                f"{run.seconds:.1f}",
                run.status,
                run.data_fingerprint[:10],
                _fmt(metrics.get("hr@10")),
                _fmt(metrics.get("ndcg@10")),
                _fmt(metrics.get("auc")),
                run.model_version or "-",
            ]
        )
    return rows


def _fmt(value: object) -> str:
    return f"{value:.4f}" if isinstance(value, float) else "-"
