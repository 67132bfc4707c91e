"""``mediarec report``: the online evaluation of a time range as PNG charts and a Markdown summary
(optionally uploaded to S3), from the same computations as GET /metrics and /metrics/compare.

- ``pac_over_time.png``: PaC per window (hours for a range up to 3 days, else days) for each
  platform x model version, its Wilson 95% interval drawn as a band;
- ``pac_by_position.png``: PaC at each feed position over the whole range, with intervals;
- ``ab_comparison.png`` (when two versions are compared): each arm's PaC and CTR with the
  user-level intervals, and the difference b - a;
- ``summary.md``: the same numbers as tables, the A/B verdict and its warnings, the charts.
"""

from __future__ import annotations

import math
from collections import defaultdict
from pathlib import Path
from typing import Any

from functions.common.clock import DAY_MS, HOUR_MS, to_iso
from functions.common.settings import Settings
from functions.common.store.db import Database

LABELS = {"pac": "PaC", "ctr": "CTR"}
MAX_WINDOWS = 400  # windows per chart: beyond that a day chart of a longer range is unreadable
HOURLY_UP_TO_MS = 3 * DAY_MS


def _windows(start_ms: int, end_ms: int) -> tuple[str, list[tuple[int, int]]]:
    step = HOUR_MS if end_ms - start_ms <= HOURLY_UP_TO_MS else DAY_MS
    first = start_ms - start_ms % step
    # whole hours or days, the first and last cut to the range: every point sums into the total
    bounds = [(max(t, start_ms), min(t + step, end_ms)) for t in range(first, end_ms, step)]
    if len(bounds) > MAX_WINDOWS:
        raise ValueError(
            f"{len(bounds)} day windows: a report covers at most {MAX_WINDOWS}; shorten --from/--to"
        )
    return ("hour" if step == HOUR_MS else "day"), bounds


def _versions_by_traffic(series: dict[tuple[str, str], list[dict[str, Any]]]) -> list[str]:
    served: dict[str, int] = defaultdict(int)
    for (_, version), points in series.items():
        served[version] += sum(p["impressions"] for p in points)
    return sorted(served, key=lambda v: -served[v])


def collect(
    db: Database,
    settings: Settings,
    start_ms: int,
    end_ms: int,
    k: int = 10,
    platform: str | None = None,
    versions: tuple[str, str] | None = None,
    share: float | None = None,
) -> dict[str, Any]:
    """The report's numbers: PaC per window per platform x version, the whole range's metrics
    (by position among them) and, for ``versions`` (default: the two most served, when there
    are two), the A/B comparison."""
    from functions.metrics.compare import compare_versions
    from functions.metrics.logic import Window, window_metrics
    from functions.metrics.maths import proportion

    granularity, bounds = _windows(start_ms, end_ms)
    series: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)

    def metrics_of(lo: int, hi: int) -> dict[str, Any]:
        return db.read(lambda c: window_metrics(c, Window(lo, hi), k, platform, settings))

    for lo, hi in bounds:
        report = metrics_of(lo, hi)
        totals: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0])
        for part in report["breakdown"]:  # A/B arms pooled: one line per platform x version
            key = (part["platform"], part["model_version"])
            totals[key][0] += part["pac"]["numerator"]
            totals[key][1] += part["pac"]["denominator"]
        for key, (hits, shown) in totals.items():
            pac = proportion(hits, shown)
            series[key].append(
                {"start_ms": lo, "value": pac.value, "ci95": pac.ci95, "impressions": shown}
            )
    whole = db.read(lambda c: window_metrics(c, Window(start_ms, end_ms), k, platform, settings))
    if versions is None:
        ranked = _versions_by_traffic(series)
        versions = (ranked[0], ranked[1]) if len(ranked) >= 2 else None
    comparison = None
    if versions is not None:
        a, b = versions
        comparison = db.read(
            lambda c: compare_versions(
                c, a, b, Window(start_ms, end_ms), k, platform, settings, share
            )
        )
    return {
        "from": to_iso(start_ms),
        "to": to_iso(end_ms),
        "k": k,
        "platform": platform,
        "granularity": granularity,
        "series": [
            {"platform": p, "model_version": v, "points": points}
            for (p, v), points in sorted(series.items())
        ],
        "whole": whole,
        "comparison": comparison,
    }


def _pct(value: float | None) -> str:
    return (
        "-"
        if value is None or (isinstance(value, float) and math.isnan(value))
        else (f"{100 * value:.2f}%")
    )


def _interval(ci: Any) -> str:
    return "-" if not ci else f"[{_pct(ci[0])}, {_pct(ci[1])}]"


def draw(data: dict[str, Any], out: Path) -> list[Path]:
    """The charts of the module docstring in ``out``; returns their paths."""
    import matplotlib

    matplotlib.use("Agg")  # files only, never a display
    import matplotlib.pyplot as plt
    import numpy as np

    written = []
    fig, ax = plt.subplots(figsize=(10, 4.5))
    for line in data["series"]:
        points = [p for p in line["points"] if p["value"] is not None]
        if not points:
            continue
        times = np.array([p["start_ms"] for p in points], dtype="datetime64[ms]")
        values = [100 * p["value"] for p in points]
        (drawn,) = ax.plot(
            times,
            values,
            marker="o",
            markersize=3,
            label=f"{line['platform']} / {line['model_version']}",
        )
        ax.fill_between(
            times,
            [100 * p["ci95"][0] for p in points],
            [100 * p["ci95"][1] for p in points],
            color=drawn.get_color(),
            alpha=0.2,
            linewidth=0,
        )
    ax.set_title(
        f"PaC@{data['k']} per {data['granularity']} ({data['from']} to {data['to']}), "
        "95% Wilson bands"
    )
    ax.set_ylabel("PaC (%)")
    ax.grid(alpha=0.3)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize="small")
    fig.autofmt_xdate()
    written.append(_save(fig, out / "pac_over_time.png"))

    fig, ax = plt.subplots(figsize=(7, 4))
    rows = [r for r in data["whole"]["by_position"] if r["pac"]["value"] is not None]
    if rows:
        positions = [r["position"] for r in rows]
        values = [100 * r["pac"]["value"] for r in rows]
        errors = [
            [100 * (r["pac"]["value"] - r["pac"]["ci95"][0]) for r in rows],
            [100 * (r["pac"]["ci95"][1] - r["pac"]["value"]) for r in rows],
        ]
        ax.bar(positions, values, yerr=errors, capsize=3, color="#4878a8")
        ax.set_xticks(positions)
    ax.set_title(f"PaC by feed position, {data['from']} to {data['to']}")
    ax.set_xlabel("position")
    ax.set_ylabel("PaC (%)")
    ax.grid(axis="y", alpha=0.3)
    written.append(_save(fig, out / "pac_by_position.png"))

    comparison = data["comparison"]
    if comparison is not None:
        fig, axes = plt.subplots(1, 2, figsize=(10, 4))
        for ax, metric in zip(axes, ("pac", "ctr"), strict=True):
            arms = [comparison["a"], comparison["b"]]
            values = [100 * (arm[metric]["value"] or 0.0) for arm in arms]
            half = [1.959964 * 100 * (arm[metric].get("se") or 0.0) for arm in arms]
            labels = [f"a: {arm['model_version']}" for arm in arms[:1]] + [
                f"b: {arm['model_version']}" for arm in arms[1:]
            ]
            ax.bar(labels, values, yerr=half, capsize=4, color=["#8c8c8c", "#4878a8"])
            diff = comparison[metric]["difference"]
            ax.set_title(
                f"{LABELS[metric]}: b - a = {_pct(diff['value'])} {_interval(diff['ci95'])}",
                fontsize="medium",
            )
            ax.set_ylabel(f"{LABELS[metric]} (%)")
            ax.grid(axis="y", alpha=0.3)
        fig.suptitle("A/B comparison, 95% intervals with the user as the unit")
        written.append(_save(fig, out / "ab_comparison.png"))
    return written


def _save(fig: Any, path: Path) -> Path:
    import matplotlib.pyplot as plt

    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def summary_markdown(data: dict[str, Any], charts: list[Path]) -> str:
    whole = data["whole"]
    scope = f", platform {data['platform']}" if data["platform"] else ""
    lines = [
        f"# mediarec online evaluation, {data['from']} to {data['to']}",
        "",
        f"PaC@{data['k']} as DESIGN.md section 3 defines it (attribution window "
        f"{whole['attribution_window_hours']:g} h){scope}.",
        "",
        "| metric | value | 95% interval |",
        "|---|---|---|",
        f"| PaC@{data['k']} | {_pct(whole['pac']['value'])} | {_interval(whole['pac']['ci95'])} |",
        f"| CTR@{data['k']} | {_pct(whole['ctr']['value'])} | {_interval(whole['ctr']['ci95'])} |",
        f"| impressions | {whole['pac']['denominator']} | |",
        f"| catalog coverage | {_pct(whole['coverage']['value'])} | |",
        "",
        "## By platform and model version",
        "",
        "| platform | model version | A/B arm | impressions | PaC | 95% interval |",
        "|---|---|---|---|---|---|",
    ]
    for part in whole["breakdown"]:
        lines.append(
            f"| {part['platform']} | {part['model_version']} | {part['arm'] or '-'} | "
            f"{part['pac']['denominator']} | {_pct(part['pac']['value'])} | "
            f"{_interval(part['pac']['ci95'])} |"
        )
    lines += [
        "",
        "## By position",
        "",
        "| position | impressions | PaC | 95% interval |",
        "|---|---|---|---|",
    ]
    for row in whole["by_position"]:
        lines.append(
            f"| {row['position']} | {row['pac']['denominator']} | "
            f"{_pct(row['pac']['value'])} | {_interval(row['pac']['ci95'])} |"
        )
    comparison = data["comparison"]
    lines += ["", "## A/B comparison", ""]
    if comparison is None:
        lines.append("Fewer than two model versions served in this range: nothing to compare.")
    else:
        lines += [
            "| arm | model version | users | impressions | PaC | CTR |",
            "|---|---|---|---|---|---|",
        ]
        for name in ("a", "b"):
            arm = comparison[name]
            lines.append(
                f"| {name} | {arm['model_version']} | {arm['users']} | "
                f"{arm['impressions']} | {_pct(arm['pac']['value'])} | "
                f"{_pct(arm['ctr']['value'])} |"
            )
        for metric in ("pac", "ctr"):
            diff = comparison[metric]["difference"]
            pooled = comparison[metric]["pooled_z_test"]
            p = "-" if diff["p_value"] is None else f"{diff['p_value']:.3g}"
            lines.append("")
            lines.append(
                f"- {LABELS[metric]} b - a, users as the unit (delta method): "
                f"{_pct(diff['value'])} {_interval(diff['ci95'])}, p = {p}; pooled "
                f"z-test over impressions (overstates certainty): "
                f"{_interval(pooled['ci95'])}"
            )
        ratio = comparison["sample_ratio"]
        if ratio.get("p_value") is not None:
            lines.append(
                f"- sample ratio: b share {ratio['observed_b_share']:.4f} against "
                f"{ratio['expected_b_share']} configured, p = {ratio['p_value']:.3g}"
            )
        lines += [f"- **warning:** {w}" for w in comparison["warnings"]]
    lines += ["", "## Charts", ""] + [f"![{c.stem}]({c.name})" for c in charts]
    return "\n".join(lines) + "\n"


def write_report(data: dict[str, Any], out: Path) -> list[Path]:
    """Charts and ``summary.md`` in ``out`` (created); returns every file written."""
    out.mkdir(parents=True, exist_ok=True)
    charts = draw(data, out)
    summary = out / "summary.md"
    summary.write_text(summary_markdown(data, charts), encoding="utf-8")
    return [*charts, summary]


def upload(files: list[Path], uri: str, client: Any = None) -> list[str]:
    """Copies ``files`` under ``s3://bucket/prefix/``; returns their keys."""
    if not uri.startswith("s3://") or not uri.removeprefix("s3://").split("/", 1)[0]:
        raise ValueError(f"an S3 destination looks like s3://bucket/prefix, not {uri!r}")
    bucket, _, prefix = uri.removeprefix("s3://").partition("/")
    if client is None:
        import boto3

        client = boto3.client("s3")
    types = {".png": "image/png", ".md": "text/markdown; charset=utf-8"}
    keys = []
    for path in files:
        key = f"{prefix.strip('/')}/{path.name}".lstrip("/")
        client.upload_file(
            str(path),
            bucket,
            key,
            ExtraArgs={"ContentType": types.get(path.suffix, "application/octet-stream")},
        )
        keys.append(key)
    return keys
