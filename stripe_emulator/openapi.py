"""Strict, nested parameter checking driven by Stripe's OpenAPI description.

``openapi_params.json`` holds, for every endpoint the emulator serves, the request
parameters Stripe's published OpenAPI description (``spec3``, the version named in the
file) documents for it, reduced to what checking needs: nested objects with their known
keys, free-form hashes (``metadata``), arrays, integers, booleans, strings and ``anyOf``
(e.g. ``""`` to unset). ``check`` refuses what Stripe would: an undocumented key at any
depth (``parameter_unknown``, with the bracketed ``param``), a non-integer
(``parameter_invalid_integer``), a hash where a value belongs or the reverse.

A documented parameter the emulator does not implement passes this check and is refused by
the handler's own list (``params.check_known``), saying so: never silently ignored.

Regenerate after pointing at a newer description::

    python -m stripe_emulator.openapi /path/to/stripe-openapi-spec3.json
"""

import json
import re
import sys
from functools import cache
from pathlib import Path
from typing import Any

from stripe_emulator.errors import StripeError, invalid, invalid_integer, unknown_param

SUBSET = Path(__file__).with_name("openapi_params.json")
Schema = dict[str, Any]


def route_key(method: str, template: str) -> str:
    """ "POST /v1/transfers/{}/reversals": path parameter names do not matter."""
    return f"{method} {re.sub(r'{[^}]+}', '{}', template)}"


# -- building the subset -----------------------------------------------------------------
def _reduce(spec: dict[str, Any], node: dict[str, Any]) -> Schema:
    if "$ref" in node:
        target: Any = spec
        for part in node["$ref"].lstrip("#/").split("/"):
            target = target[part]
        return _reduce(spec, target)
    if "anyOf" in node:
        return {"anyOf": [_reduce(spec, branch) for branch in node["anyOf"]]}
    kind = node.get("type")
    if kind == "string" and node.get("enum") == [""]:
        return {"type": "empty"}
    if kind == "object":
        properties = node.get("properties")
        if not properties:
            return {"type": "object", "free": True}
        return {
            "type": "object",
            "properties": {k: _reduce(spec, v) for k, v in sorted(properties.items())},
        }
    if kind == "array":
        return {"type": "array", "items": _reduce(spec, node.get("items") or {})}
    return {"type": kind or "any"}


def build(spec: dict[str, Any], routes: list[tuple[str, str]]) -> dict[str, Any]:
    """The subset for ``routes`` ((method, template) pairs) from a parsed description."""
    by_key = {
        route_key(method.upper(), path): operation
        for path, item in spec["paths"].items()
        for method, operation in item.items()
        if isinstance(operation, dict)
    }
    endpoints: dict[str, Schema] = {}
    for method, template in routes:
        key = route_key(method, template)
        operation = by_key.get(key)
        if operation is None:
            continue
        properties: dict[str, Schema] = {}
        for parameter in operation.get("parameters") or []:
            if parameter.get("in") == "query":
                properties[parameter["name"]] = _reduce(spec, parameter.get("schema") or {})
        body = (operation.get("requestBody") or {}).get("content") or {}
        form = (body.get("application/x-www-form-urlencoded") or {}).get("schema") or {}
        for name, node in (form.get("properties") or {}).items():
            properties[name] = _reduce(spec, node)
        endpoints[key] = {"type": "object", "properties": dict(sorted(properties.items()))}
    return {"api_version": spec["info"]["version"], "endpoints": endpoints}


# -- checking ------------------------------------------------------------------------------
@cache
def endpoints() -> dict[str, Schema]:
    return dict(json.loads(SUBSET.read_text())["endpoints"])


def check(method: str, template: str, params: dict[str, Any]) -> None:
    """Refuse parameters Stripe does not document for this endpoint (any depth)."""
    schema = endpoints().get(route_key(method, template))
    if schema is not None:
        _check(schema, params, "")


def _label(parent: str, key: str) -> str:
    return f"{parent}[{key}]" if parent else key


def _check(schema: Schema, value: Any, name: str) -> None:
    if "anyOf" in schema:
        errors: list[StripeError] = []
        for branch in schema["anyOf"]:
            try:
                _check(branch, value, name)
                return
            except StripeError as error:
                errors.append(error)
        # Report the branch of the value's own shape (a hash's unknown key, say).
        shaped = [
            e
            for b, e in zip(schema["anyOf"], errors, strict=True)
            if (b.get("type") == "object") == isinstance(value, dict)
        ]
        raise (shaped or errors)[0]
    kind = schema.get("type")
    if kind == "object":
        if not isinstance(value, dict):
            raise invalid(f"Invalid object: {name} must be a hash", name)
        if schema.get("free"):
            return
        properties = schema["properties"]
        for key, item in value.items():
            if key not in properties:
                if not name and key == "expand":
                    continue
                raise unknown_param(_label(name, key))
            _check(properties[key], item, _label(name, key))
    elif kind == "array":
        if value == "":
            return  # "x=" empties an array
        if not isinstance(value, list):
            raise invalid(f"Invalid array: {name} must be an array", name)
        for index, item in enumerate(value):
            _check(schema["items"], item, f"{name}[{index}]")
    elif kind == "empty":
        if value != "":
            raise invalid(f"Invalid {name}: must be empty", name)
    elif isinstance(value, (dict, list)):
        raise invalid(f"Invalid {kind or 'value'}: {name} must not be a hash or array", name)
    elif kind == "integer":
        if not re.fullmatch(r"-?\d+", value):
            raise invalid_integer(value, name)
    elif kind == "boolean":
        if value not in ("true", "false"):
            raise invalid(f"Invalid boolean: {value}", name)
    elif kind == "number":
        try:
            float(value)
        except ValueError:
            raise invalid(f"Invalid decimal: {value}", name) from None


def main(argv: list[str]) -> None:
    from stripe_emulator.resources import RAW_ROUTES

    spec = json.loads(Path(argv[1]).read_text())
    subset = build(spec, [(method, template) for method, template, _ in RAW_ROUTES])
    SUBSET.write_text(json.dumps(subset, indent=1, sort_keys=True) + "\n")
    print(f"{SUBSET}: {len(subset['endpoints'])} endpoints, API {subset['api_version']}")


if __name__ == "__main__":
    main(sys.argv)
