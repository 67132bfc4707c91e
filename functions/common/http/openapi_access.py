"""The OpenAPI document made true to the door and to the deployment's configuration.

FastAPI documents what the route signatures say. What the door (functions/common/http/door.py)
enforces before them, and what the deployment configures (its platforms, event types, batch
size), it cannot see; a client generated from the schema, or a schema-driven fuzzer, would send
requests the API then refuses. This module adds them, from the same tables the door and the
validators use: the API-key security scheme and each operation's requirement, the 400, 401,
403 and 413 answers, the configured platforms and event types as enums, and the batch limits.
"""

from __future__ import annotations

from typing import Any

from functions.common.clock import event_time_bounds, published_time_bounds
from functions.common.http import openapi_values as values
from functions.common.http.door import API_KEY_HEADER, match_route
from functions.common.http.schemas import MAX_ATTRIBUTE_NESTING
from functions.common.settings import Settings

SCHEME = "ApiKey"
_ERROR = {"$ref": "#/components/schemas/ErrorBody"}
_ANSWERS = {
    "400": "Malformed request: a query or body limit, invalid JSON",
    "401": "Missing, unknown or revoked API key",
    "403": "The key lacks the route's scope, or an end-user token acts for another user",
    "413": "Body larger than the byte limit",
}


def _error_response(description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": _ERROR}}}


def describe_access(schema: dict[str, Any]) -> None:
    """The security scheme, each operation's requirement and its door answers, in place."""
    components = schema.setdefault("components", {})
    components.setdefault("securitySchemes", {})[SCHEME] = {
        "type": "apiKey",
        "in": "header",
        "name": API_KEY_HEADER,
        "description": "An API key from `mediarec keys create`; scopes ingest, read, metrics, "
        "admin. End users may instead call the client API with a JWT (see the README).",
    }
    schemas = components.setdefault("schemas", {})
    if "ErrorBody" not in schemas:
        schemas.update(_error_body_schemas())
    for path, operations in schema.get("paths", {}).items():
        for method, operation in operations.items():
            route, _ = match_route(method.upper(), path)
            responses = operation.setdefault("responses", {})
            statuses = ["400"]
            if route.scope is None:
                operation["security"] = [{}, {SCHEME: []}]  # a key is optional
            else:
                operation["security"] = [{SCHEME: []}]
                statuses += ["401", "403"]
            if route.json_body:
                statuses.append("413")
            for status in statuses:
                responses.setdefault(status, _error_response(_ANSWERS[status]))


WINDOW_PATHS = frozenset({"/metrics", "/metrics/compare"})
"""Routes whose ``from`` and ``to`` make a window of any two times (functions/metrics/query.py)."""


def describe_deployment(schema: dict[str, Any], settings: Settings, now_ms: int) -> None:
    """The configured platforms and event types as enums, the batch limits, the accepted times
    as of ``now_ms`` and the attribute values, in place."""
    schemas = schema.setdefault("components", {}).setdefault("schemas", {})
    schemas.update(values.attribute_values(settings.max_number_digits, MAX_ATTRIBUTE_NESTING))
    for path, operations in schema.get("paths", {}).items():
        for operation in operations.values():
            for parameter in operation.get("parameters", []):
                name, where = parameter.get("name"), parameter.get("in")
                if name == "platform" and where == "query":
                    extra = ["any"] if path in WINDOW_PATHS else []
                    _set_enum(parameter.get("schema", {}), [*settings.platforms, *extra])
                elif path in WINDOW_PATHS and name in ("from", "to") and where == "query":
                    parameter["schema"] = values.window_time(parameter.get("description", ""))
            body = operation.get("requestBody", {}).get("content", {}).get("application/json")
            if body is not None:
                _describe_body(body.get("schema", {}), settings, now_ms)


def _describe_body(node: Any, settings: Settings, now_ms: int) -> None:
    if isinstance(node, list):
        for child in node:
            _describe_body(child, settings, now_ms)
        return
    if not isinstance(node, dict):
        return
    for option in node.get("oneOf", []):  # the three body forms of a batch route
        batch = option if option.get("type") == "array" else None
        if option.get("type") == "object" and option.get("additionalProperties") is False:
            batch = next(iter(option.get("properties", {}).values()), None)
        if batch is not None and batch.get("type") == "array":
            batch["minItems"] = 1
            batch["maxItems"] = settings.max_batch_size
    properties = node.get("properties")
    if isinstance(properties, dict):
        if {"event_type", "platform"} <= set(properties):
            _set_enum(properties["event_type"], list(settings.event_types))
            _set_enum(properties["platform"], list(settings.platforms))
        if "ts" in properties:
            bounds = event_time_bounds(
                now_ms, settings.event_max_age_days, settings.event_future_tolerance_s
            )
            properties["ts"] = values.event_time(bounds, settings.event_max_age_days)
        if "published_at" in properties:
            bounds = published_time_bounds(now_ms, settings.event_future_tolerance_s)
            properties["published_at"] = values.published_time(bounds)
        if "attributes" in properties:
            properties["attributes"] = {
                "type": "object",
                "additionalProperties": {"$ref": values.attribute_ref(1)},
                "description": "A JSON object of at most 16 KB (UTF-8 JSON), with at most "
                f"{MAX_ATTRIBUTE_NESTING} arrays or objects inside one another.",
            }
    for child in node.values():
        _describe_body(child, settings, now_ms)


def _set_enum(node: dict[str, Any], values: list[str]) -> None:
    target = node
    for option in node.get("anyOf", []):  # str | None
        if option.get("type") == "string":
            target = option
    target["enum"] = values


def _error_body_schemas() -> dict[str, Any]:
    from functions.common.http.schemas import ErrorBody

    body = ErrorBody.model_json_schema(ref_template="#/components/schemas/{model}")
    return {"ErrorBody": body, **body.pop("$defs", {})}
