"""``mediarec benchmark off-policy``: does the off-policy estimate find the PaC a candidate
actually earns? Checked in the closed-loop simulator, seed by seed.

For each seed, two simulations over the same synthetic world (same users, tastes, catalog and
history), each serving one trained model to every user with the default exploration share:
``strong`` (the simulator's usual training) and ``weak`` (one epoch, another training seed). Each
model is then estimated by ``evaluate-offline`` on the *other* simulation's logs, and the
estimate (self-normalised IPS, with its 95% interval over users) is set beside the PaC the model
earned when it served (its Wilson interval). A row passes when the actual PaC lies inside the
estimate's interval.
"""

from __future__ import annotations

import statistics
import tempfile
from pathlib import Path
from typing import Any

from training.benchmarks.report import machine, table, write_json

SIMULATION_SEEDS = (3, 5, 7)


def _simulate(seed: int, users: int, days: int, epochs: int, folder: Path) -> dict[str, Any]:
    from training.simulation import SimulationConfig, simulate

    config = SimulationConfig(
        users=users,
        days=days,
        policy="model",
        seed=seed,
        epochs=epochs,
        model_seed=seed if epochs > 1 else seed + 1000,
    )
    result = simulate(config, folder, progress=False)
    (version, pac), *_ = result.pac.items()
    return {
        "version": version,
        "pac": pac,
        "bundle": result.bundles[version],
        "db": folder / "simulation.sqlite",
        "seconds": result.seconds,
    }


def _estimate(bundle: Path, db_path: Path, days: int) -> dict[str, Any]:
    from functions.common import caches
    from functions.common.serving.model_runtime import load_model
    from functions.common.settings import Settings
    from functions.common.store.db import Database
    from training.off_policy import evaluate_offline
    from training.simulation.loop import DAY_MS, START_MS

    caches.reset_all()  # the snapshot caches belong to the other simulation's database
    database = Database(db_path)
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


def run_off_policy_benchmark(
    seeds: list[int], users: int, days: int, out: Path, progress: bool = True
) -> dict[str, Any]:
    rows: list[dict[str, Any]] = []
    for seed in seeds:
        with tempfile.TemporaryDirectory(prefix="mediarec-ope-") as tmp:
            runs = {
                name: _simulate(seed, users, days, epochs, Path(tmp) / name)
                for name, epochs in (("strong", 8), ("weak", 1))
            }
            for candidate, logger in (("strong", "weak"), ("weak", "strong")):
                estimate = _estimate(runs[candidate]["bundle"], runs[logger]["db"], days)
                actual = runs[candidate]["pac"]
                low, high = estimate["snips"]["ci95"] or (None, None)
                inside = low is not None and low <= actual["value"] <= high
                rows.append(
                    {
                        "seed": seed,
                        "candidate": candidate,
                        "logged_by": logger,
                        "estimate": estimate["snips"]["value"],
                        "estimate_ci95": [low, high],
                        "ips": estimate["ips"]["value"],
                        "coverage": estimate["coverage"],
                        "eta": estimate["position_bias"]["eta"],
                        "actual": actual["value"],
                        "actual_ci95": actual["ci95"],
                        "error": estimate["snips"]["value"] - actual["value"],
                        "inside": inside,
                        "warnings": estimate["warnings"],
                    }
                )
                if progress:
                    print(
                        f"seed {seed}: {candidate} estimated on {logger}'s logs: "
                        f"{estimate['snips']['value']:.4f} vs actual {actual['value']:.4f}"
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
            ],
            [
                [
                    r["seed"],
                    r["candidate"],
                    r["logged_by"],
                    f"{100 * r['estimate']:.2f}% [{100 * r['estimate_ci95'][0]:.2f}, "
                    f"{100 * r['estimate_ci95'][1]:.2f}]",
                    f"{100 * r['ips']:.2f}%",
                    f"{r['coverage']:.2f}",
                    f"{r['eta']:.2f}",
                    f"{100 * r['actual']:.2f}% [{100 * r['actual_ci95'][0]:.2f}, "
                    f"{100 * r['actual_ci95'][1]:.2f}]",
                    "yes" if r["inside"] else "no",
                ]
                for r in rows
            ],
        )
    )
    errors = [abs(r["error"]) for r in rows]
    summary = {
        "rows": rows,
        "inside": sum(r["inside"] for r in rows),
        "checks": len(rows),
        "median_abs_error": statistics.median(errors) if errors else None,
        "max_abs_error": max(errors) if errors else None,
        "users": users,
        "days": days,
        "machine": machine(),
    }
    print(
        f"{summary['inside']} of {summary['checks']} actual PaCs inside the estimate's "
        f"interval; median |estimate - actual| {100 * (summary['median_abs_error'] or 0):.2f} "
        f"points, max {100 * (summary['max_abs_error'] or 0):.2f}"
    )
    write_json(out, summary)
    return summary
