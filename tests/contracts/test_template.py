"""template.yaml agrees with the code: each handler imports, has event files, is documented."""

from __future__ import annotations

import importlib
import json
import re

import pytest

from tests.utils.paths import ROOT
from tests.utils.template import FUNCTIONS, GLOBAL_FUNCTION

EVENTS = ROOT / "events"


def event_prefix(logical_id: str) -> str:
    """IngestFunction -> ingest: event files for it are named ``ingest_*.json``."""
    return re.sub(r"Function$", "", logical_id).lower()


def test_template_declares_functions() -> None:
    assert FUNCTIONS, "template.yaml declares no AWS::Serverless::Function"


@pytest.mark.parametrize("logical_id", sorted(FUNCTIONS))
def test_handler_imports_and_is_callable(logical_id: str) -> None:
    handler_path = FUNCTIONS[logical_id].get("Handler") or GLOBAL_FUNCTION.get("Handler")
    assert isinstance(handler_path, str), f"{logical_id} has no Handler"
    module_name, _, attribute = handler_path.rpartition(".")
    assert module_name, f"{logical_id}: Handler {handler_path!r} is not module.attribute"

    module = importlib.import_module(module_name)

    handler = getattr(module, attribute, None)
    assert callable(handler), f"{module_name}.{attribute} is missing or not callable"


@pytest.mark.parametrize("logical_id", sorted(FUNCTIONS))
def test_every_function_has_an_event_file(logical_id: str) -> None:
    prefix = event_prefix(logical_id)
    files = sorted(EVENTS.glob(f"{prefix}_*.json"))
    assert files, f"no events/{prefix}_*.json for {logical_id}"
    for path in files:
        event = json.loads(path.read_text(encoding="utf-8"))
        assert isinstance(event, dict), f"{path.name} is not a JSON object"


@pytest.mark.parametrize("document", ["README.md", ".env.example"])
def test_mediarec_settings_in_template_are_documented(document: str) -> None:
    path = ROOT / document
    if not path.is_file():
        pytest.skip(f"{document} does not exist yet: MEDIAREC_* variables not checked against it")
    variables = (GLOBAL_FUNCTION.get("Environment") or {}).get("Variables") or {}
    names = sorted(name for name in variables if name.startswith("MEDIAREC_"))
    assert names, "Globals.Function.Environment sets no MEDIAREC_* variable"
    text = path.read_text(encoding="utf-8")
    missing = [name for name in names if not re.search(rf"\b{re.escape(name)}\b", text)]
    assert not missing, f"{document} does not mention {', '.join(missing)}"


def test_schedule_inputs_are_event_files_the_handler_accepts() -> None:
    """A schedule with a constant Input sends exactly that JSON: it must be one of the function's
    event files (which test_event_files.py invokes)."""
    checked = 0
    for logical_id, properties in FUNCTIONS.items():
        prefix = event_prefix(logical_id)
        files = [json.loads(p.read_text(encoding="utf-8")) for p in EVENTS.glob(f"{prefix}_*.json")]
        for event in (properties.get("Events") or {}).values():
            if event.get("Type") == "Schedule" and "Input" in event.get("Properties", {}):
                assert json.loads(event["Properties"]["Input"]) in files, logical_id
                checked += 1
    assert checked, "no scheduled job with a constant input in template.yaml"
