"""Smoke-test the built recommend function the way Lambda loads it, outside Lambda.

Run it with a bare python3.12 (a virtual environment with no packages, see `make build-check`):
only the built layer (``.aws-sam/build/DependenciesLayer/python``) and the built function folder
(``.aws-sam/build/RecommendFunction``) are put on sys.path, as /opt/python and /var/task are in
Lambda. It checks that torch and pandas cannot be imported, imports the handler, invokes it with
``events/recommend_get.json`` and a stand-in Lambda context, and prints the response.

With ``--world DIR`` (what `make build-check` passes: a seeded database whose trained model was
published and activated by the development environment) it serves a copy of DIR/mediarec.sqlite
and, with ``--expect-model VERSION``, fails unless that model answered: the response names the
version and its items were ranked by the model. Without it, a fresh empty database is used.

    python3.12 scripts/check_built_function.py [--build-dir .aws-sam/build] [--event PATH]
        [--world DIR --expect-model VERSION]
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import json
import os
import shutil
import sys
import tempfile
import uuid
from pathlib import Path

FORBIDDEN_MODULES = ("torch", "pandas")
FUNCTION = "RecommendFunction"
HANDLER_MODULE = "functions.recommend.app"


class FakeLambdaContext:
    """The attributes of Lambda's context object that Powertools and Mangum read."""

    function_name = "mediarec-recommend"
    function_version = "$LATEST"
    memory_limit_in_mb = 1024
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:mediarec-recommend"
    log_group_name = "/aws/lambda/mediarec-recommend"
    log_stream_name = "2026/01/01/[$LATEST]0123456789abcdef"

    def __init__(self) -> None:
        self.aws_request_id = str(uuid.uuid4())

    @staticmethod
    def get_remaining_time_in_millis() -> int:
        return 10_000


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--build-dir", type=Path, default=Path(".aws-sam/build"))
    parser.add_argument("--event", type=Path, default=Path("events/recommend_get.json"))
    parser.add_argument("--world", type=Path, help="folder holding a mediarec.sqlite to serve")
    parser.add_argument("--expect-model", help="the model version that must answer")
    args = parser.parse_args(argv)

    layer_dir = (args.build_dir / "DependenciesLayer" / "python").resolve()
    function_dir = (args.build_dir / FUNCTION).resolve()
    for folder in (layer_dir, function_dir):
        if not folder.is_dir():
            print(f"missing {folder}: run `make build` first", file=sys.stderr)
            return 2
    # Lambda's order: the function's own code first, then the layers.
    sys.path[:0] = [str(function_dir), str(layer_dir)]
    print(f"python {sys.version.split()[0]} at {sys.executable}")

    for name in FORBIDDEN_MODULES:
        spec = importlib.util.find_spec(name)
        assert spec is None, f"{name} is importable ({spec.origin}): it must stay out of the bundle"
    print(f"not importable, as it should be: {', '.join(FORBIDDEN_MODULES)}")

    event = json.loads(args.event.read_text(encoding="utf-8"))
    with tempfile.TemporaryDirectory(prefix="mediarec-build-check-") as tmp:
        if args.world is not None:  # a copy: the check writes impressions
            shutil.copy(args.world / "mediarec.sqlite", Path(tmp) / "mediarec.sqlite")
        os.environ.update(
            {
                "MEDIAREC_DB_PATH": str(Path(tmp) / "mediarec.sqlite"),
                "MEDIAREC_JOURNAL_MODE": "wal",
                "MEDIAREC_MODELS_URI": str(Path(tmp) / "models"),
                "POWERTOOLS_SERVICE_NAME": "recommend",
                "POWERTOOLS_METRICS_NAMESPACE": "mediarec",
                "POWERTOOLS_TRACE_DISABLED": "true",
            }
        )
        os.chdir(tmp)  # no stray .env from the repository is read

        module = importlib.import_module(HANDLER_MODULE)
        origin = Path(module.__file__ or "").resolve()
        assert origin.is_relative_to(function_dir), f"{HANDLER_MODULE} came from {origin}"
        response = module.handler(event, FakeLambdaContext())

    assert response.get("statusCode") == 200, f"statusCode {response.get('statusCode')}: {response}"
    body = json.loads(response["body"])
    assert isinstance(body, dict) and "items" in body, f"no 'items' in the body: {body}"
    print(f"{HANDLER_MODULE}.handler -> 200 with {len(body['items'])} items")
    if args.expect_model is not None:
        assert body.get("model_version") == args.expect_model, (
            f"served by {body.get('model_version')!r}, not the model {args.expect_model!r}"
        )
        reasons = {item["reason"] for item in body["items"]}
        assert "model" in reasons, f"no item ranked by the model (reasons: {sorted(reasons)})"
        print(f"served by the trained model {args.expect_model} (reasons: {sorted(reasons)})")
    print(json.dumps(body, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
