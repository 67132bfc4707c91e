"""OpenAPI request-body documentation for routes that parse their JSON body item by item."""

from __future__ import annotations

from typing import Any

from functions.common.http import schemas


def batch_body(model_name: str, key: str) -> dict[str, Any]:
    """One object, ``{key: [objects]}`` or a bare list of objects, up to the batch limit."""
    schema = getattr(schemas, model_name).model_json_schema()
    schema.pop("title", None)
    return {
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {
                    "schema": {
                        "oneOf": [
                            schema,
                            {
                                "type": "object",
                                "properties": {key: {"type": "array", "items": schema}},
                                "required": [key],
                                "additionalProperties": False,
                            },
                            {"type": "array", "items": schema},
                        ]
                    }
                }
            },
        }
    }
