"""OpenAPI descriptions drf-spectacular cannot infer by itself."""

from __future__ import annotations

from typing import Any

from drf_spectacular.extensions import OpenApiAuthenticationExtension


class ApiKeyAuthenticationScheme(OpenApiAuthenticationExtension):
    target_class = "accounts.authentication.ApiKeyAuthentication"
    name = "ApiKeyAuth"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "An organisation API key: `Authorization: Bearer trk_...`",
        }


PROBLEM_SCHEMA = {
    "type": "object",
    "description": "RFC 9457 problem details.",
    "properties": {
        "type": {"type": "string", "format": "uri"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "code": {"type": "string"},
        "instance": {"type": "string"},
        "errors": {
            "description": "Field name → messages (nested for nested fields; a list for rows).",
        },
        "current": {"type": "object", "description": "The resource's current state (409)."},
    },
    "required": ["type", "title", "status", "detail"],
}

_ERRORS_BY_METHOD = {
    "get": ["400", "401", "403", "404", "429"],
    "post": ["400", "401", "403", "404", "409", "415", "422", "429"],
    "put": ["400", "401", "403", "404", "409", "415", "422", "429"],
    "patch": ["400", "401", "403", "404", "409", "415", "422", "429"],
    "delete": ["401", "403", "404", "409", "429"],
}
_DESCRIPTIONS = {
    "400": "Invalid request; `errors` names each bad field.",
    "401": "Missing or invalid credentials.",
    "403": "Authenticated, but this role may not do this.",
    "404": "No such resource, or not one of your organisation's.",
    "405": "Method not allowed.",
    "409": "Conflict with the resource's current state.",
    "415": "Unsupported media type: the body is not in a format this operation accepts.",
    "422": "Unprocessable, e.g. an Idempotency-Key reused with another body.",
    "429": "Too many requests.",
}


def add_problem_responses(result: dict[str, Any], **_: Any) -> dict[str, Any]:
    """drf-spectacular post-processing hook: every operation documents its problem responses
    and the `Idempotency-Key` header on POST."""
    components = result.setdefault("components", {}).setdefault("schemas", {})
    components["Problem"] = PROBLEM_SCHEMA
    ref = {"$ref": "#/components/schemas/Problem"}
    for path_item in result.get("paths", {}).values():
        for method, operation in path_item.items():
            responses = operation.setdefault("responses", {})
            for status in [*_ERRORS_BY_METHOD.get(method, []), "405"]:
                responses.setdefault(
                    status,
                    {
                        "description": _DESCRIPTIONS[status],
                        "content": {"application/problem+json": {"schema": ref}},
                    },
                )
            if method == "post":
                operation.setdefault("parameters", []).append(
                    {
                        "in": "header",
                        "name": "Idempotency-Key",
                        "required": False,
                        "schema": {"type": "string", "maxLength": 255},
                        "description": "Replays the first response for 24 h; another body: 422.",
                    }
                )
    return result
