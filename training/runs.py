"""The experiment log: one record per training run in the training_runs table.

`mediarec train --split none` logs two runs: the validated one (status "validated", split
leave-last-out, its test metrics, no bundle) and the production one trained on every interaction
(status "trained", split "none", ``params.validated_run`` naming the first, its metrics under
``metrics.validated_run``: it has no held-out metrics of its own). The runs table shows those
in parentheses.
"""

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


def split_of(run: RunRecord) -> str:
    """leave-last-out, time-cut or none (runs logged before --split existed: by their --cut)."""
    if run.params.get("cut"):
        return "time-cut"
    return str(run.params.get("split") or "leave-last-out")


def runs_table(runs: list[RunRecord]) -> list[list[object]]:
    """Rows of `mediarec runs`; a --split none run shows its validated run's test metrics in
    parentheses."""
    rows: list[list[object]] = []
    for run in runs:
        borrowed = "test" not in run.metrics and "validated_run" in run.metrics
        if borrowed:
            metrics = run.metrics["validated_run"].get("test", {})
        else:
            metrics = run.metrics.get("test", run.metrics)
        rows.append(
            [
                run.run_id,
                to_iso(run.started_ms)[:19],
                f"{run.seconds:.1f}",
                run.status,
                split_of(run),
                run.data_fingerprint[:10],
                *(_fmt(metrics.get(k), borrowed) for k in ("hr@10", "ndcg@10", "auc")),
                run.model_version or "-",
            ]
        )
    return rows


def _fmt(value: object, borrowed: bool = False) -> str:
    if not isinstance(value, float):
        return "-"
    return f"({value:.4f})" if borrowed else f"{value:.4f}"
