"""CloudWatch metrics through Powertools (Embedded Metric Format on stdout)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit, single_metric

# stored name -> (CloudWatch name, unit, scale): proportions as percent, means as they are
METRICS = {
    "pac": ("PrecisionAtCuration", MetricUnit.Percent, 100.0),
    "ctr": ("ClickThroughRate", MetricUnit.Percent, 100.0),
    "coverage": ("CatalogCoverage", MetricUnit.Percent, 100.0),
    "online_auc": ("OnlineAUC", MetricUnit.NoUnit, 1.0),
    "novelty": ("NoveltyRank", MetricUnit.Count, 1.0),
    "diversity": ("IntraListDiversity", MetricUnit.NoUnit, 1.0),
}


def emit_metric_rows(rows: Iterable[dict[str, Any]], namespace: str) -> int:
    """One EMF record per stored row that has a value and is not split by arm or position:
    pooled, per platform and per model version (dimensions Platform and ModelVersion, "all"
    where not split), stamped with its window's start."""
    emitted = 0
    for row in rows:
        if row["value"] is None or row.get("arm", "all") != "all" or row.get("position", 0):
            continue
        name, unit, scale = METRICS[row["name"]]
        with single_metric(
            name=name, unit=unit, value=round(scale * row["value"], 6), namespace=namespace
        ) as metric:
            metric.add_dimension(name="Granularity", value=row["granularity"])
            metric.add_dimension(name="Status", value="final" if row["final"] else "provisional")
            metric.add_dimension(name="Platform", value=row["platform"])
            metric.add_dimension(name="ModelVersion", value=row["model_version"])
            metric.add_dimension(name="K", value=str(row["k"]))
            # the datapoint belongs to its window, not to the run that computed it
            metric.set_timestamp(int(row["window_start_ms"]))
        emitted += 1
    return emitted
