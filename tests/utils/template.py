"""template.yaml as data, read once for every test that checks it."""

from __future__ import annotations

from typing import Any

from scripts.cfn_template import TEMPLATE, load_template

TEMPLATE_DATA: dict[str, Any] = load_template(TEMPLATE)
GLOBAL_FUNCTION: dict[str, Any] = (TEMPLATE_DATA.get("Globals") or {}).get("Function") or {}
FUNCTIONS: dict[str, dict[str, Any]] = {
    logical_id: resource.get("Properties") or {}
    for logical_id, resource in TEMPLATE_DATA["Resources"].items()
    if resource["Type"] == "AWS::Serverless::Function"
}

__all__ = ["FUNCTIONS", "GLOBAL_FUNCTION", "TEMPLATE", "TEMPLATE_DATA"]
