"""What the fast-path equivalence tests share: a request through FastAPI behind Mangum, the same
request through a fast path behind the door, and a cold start in a fresh interpreter that says
which web frameworks it imported."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from mangum import Mangum

from functions.common.http.lambda_runtime import behind_door
from training.local.lambda_invoke import FakeLambdaContext

FRAMEWORKS = ["fastapi", "mangum", "starlette"]
LOADED = """
import json, sys

def loaded():
    return sorted({name.split(".")[0] for name in sys.modules} & set(sys.argv[1:]))
"""


def through_fastapi(app: Any, event: dict[str, Any]) -> dict[str, Any]:
    """FastAPI behind Mangum (its route dependency passes the same door)."""
    response: dict[str, Any] = Mangum(app, lifespan="off")(event, FakeLambdaContext())
    return response


def through_fast_path(
    answer: Callable[[dict[str, Any], Any], dict[str, Any] | None], event: dict[str, Any]
) -> dict[str, Any]:
    """The fast path behind the door, as the handler calls it."""

    def respond() -> dict[str, Any]:
        response = answer(event, FakeLambdaContext())
        assert response is not None, "the fast path left this request to FastAPI"
        return response

    return behind_door(event, respond)


def cold_start(script: str, cwd: Path, frameworks: list[str] = FRAMEWORKS) -> dict[str, Any]:
    """Run ``script`` (which may call ``loaded()``, the frameworks imported so far, and prints
    one JSON line) in a fresh interpreter with template.yaml's tracing setting."""
    env = {**os.environ, "MEDIAREC_TRACING": "false"}  # as template.yaml deploys it
    done = subprocess.run(
        [sys.executable, "-c", LOADED + script, *frameworks],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    result: dict[str, Any] = json.loads(done.stdout.splitlines()[-1])
    return result
