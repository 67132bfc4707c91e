"""CloudWatch metrics through Powertools (Embedded Metric Format on stdout)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit, single_metric

METRIC_NAMES = {
    "pac": "PrecisionAtCuration",
    "ctr": "ClickThroughRate",
    "coverage": "CatalogCoverage",
}


def emit_metric_rows(rows: Iterable[dict[str, Any]], namespace: str) -> int:
    """One EMF record per pooled (platform ``all``) or per-platform row that has a value."""
    emitted = 0
    for row in rows:
        if row["value"] is None or row["model_version"] != "all":
            continue
        with single_metric(
            name=METRIC_NAMES[row["name"]],
            unit=MetricUnit.Percent,
            value=round(100 * row["value"], 4),
            namespace=namespace,
        ) as metric:
            metric.add_dimension(name="Granularity", value=row["granularity"])
            metric.add_dimension(name="Status", value="final" if row["final"] else "provisional")
            metric.add_dimension(name="Platform", value=row["platform"])
            metric.add_dimension(name="K", value=str(row["k"]))
        emitted += 1
    return emitted
