"""``mediarec benchmark off-policy``: does the off-policy estimate find the PaC a candidate
actually earns? Checked in the closed-loop simulator, seed by seed.

For each seed, two simulations over the same synthetic world (same users, tastes, catalog and
history), each serving one trained model to every user with the default exploration share:
``strong`` (the simulator's own training) and ``weak`` (one epoch of 16 steps, another training
seed). Each model is then estimated by ``evaluate-offline`` on the *other* simulation's logs,
and the estimate (self-normalised IPS, with its 95% interval over users) is set beside the PaC
the model earned when it served (every feed of its run, with its Wilson interval). A row is
``consistent`` when the difference lies within 1.96 standard errors of a difference of the two
(both are noisy), and ``inside`` when the actual PaC lies inside the estimate's interval. The
command exits 1 when a row is not consistent.
"""

from __future__ import annotations

import statistics
import tempfile
from pathlib import Path
from typing import Any

from training.benchmarks.report import machine, table, write_json

SIMULATION_SEEDS = (3, 5, 7)


MODELS: dict[str, dict[str, int]] = {
    "strong": {},  # the simulator's own training
    "weak": {"epochs": 1, "batch_size": 6400, "seed_offset": 1000},  # 16 steps of training
}


def _simulate(seed: int, users: int, days: int, name: str, folder: Path) -> dict[str, Any]:
    from functions.metrics.maths import proportion
    from training.simulation import SimulationConfig, simulate

    options = MODELS[name]
    config = SimulationConfig(
        users=users,
        days=days,
        policy="model",
        seed=seed,
        model_seed=seed + options.get("seed_offset", 0),
        epochs=options.get("epochs", SimulationConfig.epochs),
        batch_size=options.get("batch_size", SimulationConfig.batch_size),
    )
    result = simulate(config, folder, progress=False)
    (version,) = result.bundles
    # every feed of the run, those the model left to popularity included, as the estimate
    hits = sum(p["numerator"] for p in result.pac.values())
    shown = sum(p["denominator"] for p in result.pac.values())
    pac = proportion(hits, shown).as_dict()
    return {"version": version, "pac": pac, "bundle": result.bundles[version],
            "db": folder / "simulation.sqlite", "seconds": result.seconds}  # fmt: skip


def _estimate(bundle: Path, db_path: Path, days: int) -> dict[str, Any]:
    from functions.common import caches
    from functions.common.serving.model_runtime import load_model
    from functions.common.settings import Settings
    from functions.common.store.sqlite_engine import SqliteDatabase
    from training.off_policy import evaluate_offline
    from training.simulation.loop import DAY_MS, START_MS

    caches.reset_all()  # the snapshot caches belong to the other simulation's database
    database = SqliteDatabase(db_path)
    try:
        return evaluate_offline(
            load_model(bundle),
            database,
            Settings.from_env(env_file=None),
            START_MS,
            START_MS + days * DAY_MS,
        )
    finally:
        database.close()
        caches.reset_all()


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.2f}%"


def _ci(pair: Any) -> str:
    if not pair or pair[0] is None:
        return "[-]"
    return f"[{100 * pair[0]:.2f}, {100 * pair[1]:.2f}]"


def _row(
    seed: int, candidate: str, logger: str, estimate: dict[str, Any], actual: dict[str, Any]
) -> dict[str, Any]:
    """One check: the estimate beside the actual PaC. ``consistent``: their difference lies
    within 1.96 standard errors of a difference (both are noisy); ``inside``: the actual PaC
    lies inside the estimate's own interval."""
    snips = estimate["snips"]
    value, ci = snips["value"], snips["ci95"]
    act, act_ci = actual["value"], actual["ci95"]
    error = None if value is None or act is None else value - act
    consistent = inside = False
    if error is not None and ci and act_ci:
        se_estimate = (ci[1] - ci[0]) / (2 * 1.959964)
        se_actual = (act_ci[1] - act_ci[0]) / (2 * 1.959964)
        consistent = abs(error) <= 1.959964 * (se_estimate**2 + se_actual**2) ** 0.5
        inside = ci[0] <= act <= ci[1]
    return {
        "seed": seed, "candidate": candidate, "logged_by": logger,
        "estimate": value, "estimate_ci95": ci, "ips": estimate["ips"]["value"],
        "coverage": estimate["coverage"], "eta": estimate["position_bias"]["eta"],
        "actual": act, "actual_ci95": act_ci, "error": error,
        "inside": inside, "consistent": consistent, "warnings": estimate["warnings"],
    }  # fmt: skip


def run_off_policy_benchmark(
    seeds: list[int], users: int, days: int, out: Path, progress: bool = True
) -> dict[str, Any]:
    rows: list[dict[str, Any]] = []
    for seed in seeds:
        with tempfile.TemporaryDirectory(prefix="mediarec-ope-") as tmp:
            runs = {name: _simulate(seed, users, days, name, Path(tmp) / name) for name in MODELS}
            for candidate, logger in (("strong", "weak"), ("weak", "strong")):
                estimate = _estimate(runs[candidate]["bundle"], runs[logger]["db"], days)
                rows.append(_row(seed, candidate, logger, estimate, runs[candidate]["pac"]))
                if progress:
                    row = rows[-1]
                    print(
                        f"seed {seed}: {candidate} estimated on {logger}'s logs: "
                        f"{_pct(row['estimate'])} vs actual {_pct(row['actual'])}"
                    )
    print(
        table(
            [
                "seed",
                "candidate",
                "logged by",
                "estimate (SNIPS) [95%]",
                "IPS",
                "coverage",
                "eta",
                "actual PaC [95%]",
                "inside",
                "consistent",
            ],
            [
                [
                    r["seed"],
                    r["candidate"],
                    r["logged_by"],
                    f"{_pct(r['estimate'])} {_ci(r['estimate_ci95'])}",
                    _pct(r["ips"]),
                    "-" if r["coverage"] is None else f"{r['coverage']:.2f}",
                    f"{r['eta']:.2f}",
                    f"{_pct(r['actual'])} {_ci(r['actual_ci95'])}",
                    "yes" if r["inside"] else "no",
                    "yes" if r["consistent"] else "no",
                ]
                for r in rows
            ],
        )
    )
    errors = [abs(r["error"]) for r in rows if r["error"] is not None]
    summary = {
        "rows": rows,
        "inside": sum(r["inside"] for r in rows),
        "consistent": sum(r["consistent"] for r in rows),
        "checks": len(rows),
        "median_abs_error": statistics.median(errors) if errors else None,
        "max_abs_error": max(errors) if errors else None,
        "users": users,
        "days": days,
        "machine": machine(),
    }
    print(
        f"{summary['inside']} of {summary['checks']} actual PaCs inside the estimate's interval, "
        f"{summary['consistent']} consistent with it (the difference within 1.96 standard "
        f"errors of both); median |estimate - actual| {_pct(summary['median_abs_error'])}, "
        f"max {_pct(summary['max_abs_error'])}"
    )
    write_json(out, summary)
    return summary
