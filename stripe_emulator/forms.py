"""Stripe's form encoding: ``a[b][0][c]=v`` and ``expand[]=x`` into nested dicts and lists."""

import re
from typing import Any
from urllib.parse import parse_qsl

from stripe_emulator.errors import invalid

_BRACKET = re.compile(r"\[([^\[\]]*)\]")
# Stripe treats metadata keys as opaque strings, so "metadata[0]" stays a dict key.
_OPAQUE_KEYS = {"metadata"}


def parse_form(text: str) -> dict[str, Any]:
    """Parse an urlencoded body or query string the way Stripe does."""
    return parse_pairs(parse_qsl(text, keep_blank_values=True))


def parse_pairs(pairs: list[tuple[str, str]]) -> dict[str, Any]:
    root: dict[str, Any] = {}
    for key, value in pairs:
        tokens = _split_key(key)
        node = root
        for i, token in enumerate(tokens):
            if token == "":  # "x[]" appends to the list being built
                token = str(len(node))
            if i == len(tokens) - 1:
                if isinstance(node.get(token), dict):
                    raise invalid(f"Invalid hash: {key} given both as a value and a hash", key)
                node[token] = value
                continue
            child = node.setdefault(token, {})
            if not isinstance(child, dict):
                raise invalid(f"Invalid hash: {key} given both as a value and a hash", key)
            node = child
    return _listify(root)  # type: ignore[return-value]


def _split_key(key: str) -> list[str]:
    base, bracket, rest = key.partition("[")
    if not bracket:
        return [key]
    tokens = _BRACKET.findall("[" + rest)
    # A malformed key ("a[b") is taken literally rather than half-parsed.
    if "".join(f"[{t}]" for t in tokens) != "[" + rest:
        return [key]
    return [base, *tokens]


def _listify(node: Any, parent: str = "") -> Any:
    """Turn dicts whose keys are all indices ("0", "1", ...) into lists, recursively."""
    if not isinstance(node, dict):
        return node
    converted = {k: _listify(v, k) for k, v in node.items()}
    if parent not in _OPAQUE_KEYS and converted and all(k.isdigit() for k in converted):
        return [converted[k] for k in sorted(converted, key=int)]
    return converted
