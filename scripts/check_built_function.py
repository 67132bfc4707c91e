"""Smoke-test the built recommend function the way Lambda loads it, outside Lambda.

Run it with a bare python3.12 (a virtual environment with no packages, see `make build-check`):
only the built function folder (``.aws-sam/build/RecommendFunction``) and the built layer
(``.aws-sam/build/DependenciesLayer/python``) are put on sys.path, as /var/task and /opt/python are
in Lambda, followed by ``--runtime-dir`` when given: a folder holding what Lambda's python3.12
runtime itself provides after the layers (/var/runtime: boto3, botocore and what they import), which
the layer leaves out (functions/Makefile, RUNTIME_PROVIDED). It checks that torch and pandas cannot
be imported, that the runtime's packages do not come from the layer or the function (and do come
from ``--runtime-dir`` when given, along with the X-Ray SDK's botocore patch that MEDIAREC_TRACING
imports), imports the handler and invokes it with ``events/recommend_get.json`` and a stand-in
Lambda context: without an API key (401), then with a read key it mints in the check's database
through the built code, and prints the response.

With ``--world DIR`` (what `make build-check` passes: a seeded database whose trained model was
published and activated by the development environment) it serves a copy of DIR/mediarec.sqlite
and, with ``--expect-model VERSION``, fails unless that model answered: the response names the
version and its items were ranked by the model. Without it, a fresh empty database is used.

    python3.12 scripts/check_built_function.py [--build-dir .aws-sam/build] [--event PATH]
        [--runtime-dir DIR] [--world DIR --expect-model VERSION]
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
import time
import uuid
from pathlib import Path

FORBIDDEN_MODULES = ("torch", "pandas")
# Lambda's python3.12 runtime provides these (the SDK for Python and its imports); the layer must
# not carry them (functions/Makefile, RUNTIME_PROVIDED names their distributions).
RUNTIME_MODULES = ("boto3", "botocore", "s3transfer", "dateutil", "six", "urllib3")
# What Powertools' Tracer imports when MEDIAREC_TRACING is on: the X-Ray SDK patching botocore.
TRACING_MODULES = ("aws_xray_sdk.core", "aws_xray_sdk.ext.botocore.patch")
FUNCTION = "RecommendFunction"
HANDLER_MODULE = "functions.recommend.app"
API_KEY_HEADER = "x-api-key"


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
    parser.add_argument(
        "--runtime-dir", type=Path, help="stands in for Lambda's /var/runtime (boto3, botocore...)"
    )
    parser.add_argument("--world", type=Path, help="folder holding a mediarec.sqlite to serve")
    parser.add_argument("--expect-model", help="the model version that must answer")
    args = parser.parse_args(argv)

    layer_dir = (args.build_dir / "DependenciesLayer" / "python").resolve()
    function_dir = (args.build_dir / FUNCTION).resolve()
    runtime_dir = args.runtime_dir.resolve() if args.runtime_dir is not None else None
    for folder in (layer_dir, function_dir):
        if not folder.is_dir():
            print(f"missing {folder}: run `make build` first", file=sys.stderr)
            return 2
    if runtime_dir is not None and not runtime_dir.is_dir():
        print(f"missing {runtime_dir}: the runtime's SDK folder", file=sys.stderr)
        return 2
    # Lambda's order: the function's own code first, then the layers, then the runtime's packages.
    sys.path[:0] = [str(function_dir), str(layer_dir), *([str(runtime_dir)] if runtime_dir else [])]
    print(f"python {sys.version.split()[0]} at {sys.executable}")

    for name in FORBIDDEN_MODULES:
        spec = importlib.util.find_spec(name)
        assert spec is None, f"{name} is importable ({spec.origin}): it must stay out of the bundle"
    print(f"not importable, as it should be: {', '.join(FORBIDDEN_MODULES)}")

    for name in RUNTIME_MODULES:
        origin = _origin(name)
        for bundled in (function_dir, layer_dir):
            assert origin is None or not origin.is_relative_to(bundled), (
                f"{name} comes from {origin}: Lambda's runtime provides it, keep it out"
            )
        if runtime_dir is not None:
            assert origin is not None and origin.is_relative_to(runtime_dir), (
                f"{name} should come from the runtime folder {runtime_dir}, not {origin}"
            )
    if runtime_dir is not None:
        for name in TRACING_MODULES:
            importlib.import_module(name)
        print(f"from the runtime folder, not the bundle: {', '.join(RUNTIME_MODULES)}")
        print(f"importable with the layer and the runtime's SDK: {', '.join(TRACING_MODULES)}")
    else:
        print(f"not in the bundle (the runtime provides them): {', '.join(RUNTIME_MODULES)}")

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
        # the door is in the bundle: no key is a 401; a read key minted in this copy is let in
        headers = {
            name: value
            for name, value in (event.get("headers") or {}).items()
            if name.lower() != API_KEY_HEADER
        }
        anonymous = module.handler({**event, "headers": headers}, FakeLambdaContext())
        assert anonymous.get("statusCode") == 401, f"no API key, yet: {anonymous}"
        print(f"{HANDLER_MODULE}.handler -> 401 without an API key")
        event = {**event, "headers": {**headers, API_KEY_HEADER: _mint_read_key()}}
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
        runtime = importlib.import_module("functions.common.serving.model_runtime")
        served = runtime.serving_models(
            importlib.import_module("functions.common.store.db").get_database(),
            importlib.import_module("functions.common.settings").get_settings(),
        ).active.model
        assert served is not None and served.encoder is not None, (
            "the served bundle has no sequence encoder (encoder.onnx)"
        )
        print(
            f"with its sequence encoder: the latest {served.history_length} items of the user, "
            "encoded by encoder.onnx in the built function"
        )
    print(json.dumps(body, indent=2))
    return 0


def _mint_read_key() -> str:
    """A new API key with the read scope, stored in the check's database by the built code."""
    api_keys = importlib.import_module("functions.common.http.api_keys")
    database = importlib.import_module("functions.common.store.db").get_database()
    _record, key = api_keys.create_key(database, ["read"], "build-check", int(time.time() * 1000))
    return str(key)


def _origin(name: str) -> Path | None:
    """Where ``import name`` would load from (a package's folder or a module's file), or None."""
    spec = importlib.util.find_spec(name)
    if spec is None or spec.origin is None:
        return None
    return Path(spec.origin).resolve()


if __name__ == "__main__":
    sys.exit(main())
