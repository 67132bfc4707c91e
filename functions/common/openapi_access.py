"""The OpenAPI document made true to the door and to the deployment's configuration.

FastAPI documents what the route signatures say. What the door (functions/common/door.py)
enforces before them, and what the deployment configures (its platforms, event types, batch
size), it cannot see; a client generated from the schema, or a schema-driven fuzzer, would send
requests the API then refuses. This module adds them, from the same tables the door and the
validators use: the API-key security scheme and each operation's requirement, the 400, 401,
403 and 413 answers, the configured platforms and event types as enums, and the batch limits.
"""

from __future__ import annotations

from typing import Any

from functions.common.door import API_KEY_HEADER, match_route
from functions.common.settings import Settings

SCHEME = "ApiKey"
_ERROR = {"$ref": "#/components/schemas/ErrorBody"}
_ANSWERS = {
    "400": "Malformed request: a query or body limit, invalid JSON",
    "401": "Missing, unknown or revoked API key",
    "403": "The key lacks the route's scope, or an end-user token acts for another user",
    "413": "Body or batch too large",
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


def describe_deployment(schema: dict[str, Any], settings: Settings) -> None:
    """The configured platforms and event types as enums, the batch limits, in place."""
    for path, operations in schema.get("paths", {}).items():
        for operation in operations.values():
            for parameter in operation.get("parameters", []):
                if parameter.get("name") == "platform" and parameter.get("in") == "query":
                    extra = ["any"] if path == "/metrics" else []
                    _set_enum(parameter.get("schema", {}), [*settings.platforms, *extra])
            body = operation.get("requestBody", {}).get("content", {}).get("application/json")
            if body is not None:
                _describe_body(body.get("schema", {}), settings)


def _describe_body(node: Any, settings: Settings) -> None:
    if isinstance(node, list):
        for child in node:
            _describe_body(child, settings)
        return
    if not isinstance(node, dict):
        return
    if node.get("type") == "array":
        node["minItems"] = 1
        node["maxItems"] = settings.max_batch_size
    properties = node.get("properties")
    if isinstance(properties, dict) and {"event_type", "platform"} <= set(properties):
        _set_enum(properties["event_type"], list(settings.event_types))
        _set_enum(properties["platform"], list(settings.platforms))
    for child in node.values():
        _describe_body(child, settings)


def _set_enum(node: dict[str, Any], values: list[str]) -> None:
    target = node
    for option in node.get("anyOf", []):  # str | None
        if option.get("type") == "string":
            target = option
    target["enum"] = values


def _error_body_schemas() -> dict[str, Any]:
    from functions.common.models import ErrorBody

    body = ErrorBody.model_json_schema(ref_template="#/components/schemas/{model}")
    return {"ErrorBody": body, **body.pop("$defs", {})}
