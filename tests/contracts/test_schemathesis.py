"""Schemathesis over every route, with a valid key: no 5xx, and no answer that contradicts the
OpenAPI document (a schema-valid request refused, an undocumented status or header, a
schema-invalid request accepted, auth ignored, a 405 without Allow).

The schema is mediarec serve's (all three functions' routes in one document). Each operation is
run twice: against the FastAPI app in-process (``mediarec serve``), and through the Lambda
handlers as API Gateway would invoke them (tests/utils/lambda_asgi.py), which is where the fast
path and the entry point's door answer. Bounded: a few dozen generated cases per operation plus
schemathesis' deterministic coverage cases, about a minute in all on 2 cores.
"""

from __future__ import annotations

from unittest import mock

import pytest
import schemathesis
from hypothesis import HealthCheck, settings

from functions.common import clock
from tests.conftest import FIXED_NOW_MS
from tests.utils.lambda_asgi import LambdaASGI
from training.local.lambda_invoke import EXAMPLE_API_KEY
from training.local.server import build_api, build_app

CONFIG = schemathesis.Config.from_dict(
    {
        "generation": {"mode": "all", "with-security-parameters": False},
        "checks": {"max_response_time": 10},
    }
)


def schema_for(app: object) -> schemathesis.BaseSchema:
    """mediarec serve's document as the tests' pinned clock sees it (it states the accepted
    times, which move with the clock), served by ``app``."""
    with mock.patch.object(clock, "now_ms", lambda: FIXED_NOW_MS):
        document = build_api().openapi()
    schema = schemathesis.openapi.from_dict(document, config=CONFIG)
    schema.app = app
    return schema


local_schema = schema_for(build_app())
lambda_schema = schema_for(LambdaASGI())
BOUNDED = settings(
    max_examples=30, deadline=None, database=None, suppress_health_check=list(HealthCheck)
)
KEY = {"x-api-key": EXAMPLE_API_KEY}  # registered as an admin key in every test's database


@pytest.mark.slow
@local_schema.parametrize()
@BOUNDED
def test_local_server_keeps_its_openapi_promises(case):
    case.call_and_validate(headers=KEY)


@pytest.mark.slow
@lambda_schema.parametrize()
@BOUNDED
def test_lambda_handlers_keep_the_openapi_promises(case):
    case.call_and_validate(headers=KEY)
