"""Parameter validation with Stripe's messages, codes and ``param`` names."""

import re
from typing import Any

from stripe_emulator.errors import invalid, invalid_integer, missing_param

# ISO 4217 codes Stripe settles in; enough to catch typos without listing all 135.
CURRENCIES = {
    "usd",
    "eur",
    "gbp",
    "cad",
    "aud",
    "nzd",
    "chf",
    "sek",
    "nok",
    "dkk",
    "pln",
    "czk",
    "huf",
    "ron",
    "bgn",
    "jpy",
    "sgd",
    "hkd",
    "mxn",
    "brl",
    "inr",
    "myr",
    "thb",
    "aed",
    "ils",
    "zar",
    "try",
    "krw",
    "twd",
    "php",
    "idr",
}
# Smallest chargeable amount per currency (minor units); Stripe rejects less.
MINIMUM_CHARGE = {"usd": 50, "eur": 50, "gbp": 30, "cad": 50, "aud": 50, "chf": 50, "nzd": 50}
_URL = re.compile(r"^https?://[^\s/$.?#].[^\s]*$")


def check_known(p: dict[str, Any], allowed: set[str]) -> None:
    """The top-level parameters this handler implements. Stripe's undocumented ones were
    refused already (``openapi.check``), so a name refused here is one Stripe documents
    but the emulator does not implement: refused, saying so, rather than ignored."""
    for name in p:
        if name not in allowed and name != "expand":
            raise invalid(
                f"The Stripe emulator does not implement the parameter {name} (Stripe "
                "documents it; see stripe_emulator/README.md, Known gaps).",
                name,
                "emulator_parameter_unsupported",
            )


def integer(
    p: dict[str, Any],
    key: str,
    label: str | None = None,
    *,
    required: bool = False,
    minimum: int | None = None,
) -> int | None:
    label = label or key
    raw = p.get(key)
    if raw is None or raw == "":
        if required:
            raise missing_param(label)
        return None
    if not isinstance(raw, str) or not re.fullmatch(r"-?\d+", raw):
        raise invalid_integer(raw, label)
    value = int(raw)
    if minimum is not None and value < minimum:
        raise invalid(f"This value must be greater than or equal to {minimum}.", label)
    return value


def amount(
    p: dict[str, Any], key: str = "amount", label: str | None = None, *, required: bool = True
) -> int | None:
    return integer(p, key, label, required=required, minimum=1)


def currency(p: dict[str, Any], key: str = "currency", label: str | None = None) -> str:
    label = label or key
    raw = p.get(key)
    if not raw:
        raise missing_param(label)
    if not isinstance(raw, str) or raw not in CURRENCIES:
        raise invalid(
            f"Invalid currency: {raw}. Stripe currently supports these currencies: "
            + ", ".join(sorted(CURRENCIES)),
            label,
        )
    return raw


def check_minimum(value: int, cur: str, label: str) -> None:
    least = MINIMUM_CHARGE.get(cur)
    if least is not None and value < least:
        raise invalid(
            f"Amount must be at least {least} {cur} minor units.", label, "amount_too_small"
        )


def string(
    p: dict[str, Any],
    key: str,
    label: str | None = None,
    *,
    required: bool = False,
    choices: tuple[str, ...] | None = None,
) -> str | None:
    label = label or key
    raw = p.get(key)
    if raw is None or raw == "":
        if required:
            raise missing_param(label)
        return None
    if not isinstance(raw, str):
        raise invalid(f"Invalid string: {raw!r}", label)
    if choices and raw not in choices:
        raise invalid(f"Invalid {label}: must be one of {', '.join(choices)}", label)
    return raw


def url(p: dict[str, Any], key: str, *, required: bool = False) -> str | None:
    value = string(p, key, required=required)
    if value is not None and not _URL.match(value):
        raise invalid("Not a valid URL", key, "url_invalid")
    return value


def boolean(p: dict[str, Any], key: str, label: str | None = None) -> bool | None:
    raw = p.get(key)
    if raw is None or raw == "":
        return None
    if raw not in ("true", "false"):
        raise invalid(f"Invalid boolean: {raw}", label or key)
    return raw == "true"


def mapping(p: dict[str, Any], key: str, label: str | None = None) -> dict[str, Any]:
    raw = p.get(key)
    if raw is None or raw == "":
        return {}
    if not isinstance(raw, dict):
        raise invalid(f"Invalid object: {label or key} must be a hash", label or key)
    return raw


def metadata(
    p: dict[str, Any],
    current: dict[str, str] | None = None,
    key: str = "metadata",
    label: str | None = None,
) -> dict[str, str]:
    """Merge metadata as Stripe does: new keys are added, an empty value deletes a key."""
    label = label or key
    merged = dict(current or {})
    if p.get(key) == "":  # "metadata=" clears everything
        return {}
    for name, value in mapping(p, key, label).items():
        if not isinstance(value, str):
            raise invalid(f"Invalid metadata value for {name}: must be a string", label)
        if len(name) > 40:
            raise invalid("Metadata keys can be at most 40 characters long.", f"{label}[{name}]")
        if len(value) > 500:
            raise invalid("Metadata values can be at most 500 characters long.", f"{label}[{name}]")
        if value == "":
            merged.pop(name, None)
        else:
            merged[name] = value
    if len(merged) > 50:
        raise invalid("You can specify up to 50 keys for metadata.", label)
    return merged


def expand_paths(p: dict[str, Any]) -> list[str]:
    raw = p.get("expand") or []
    return [x for x in raw if isinstance(x, str)] if isinstance(raw, list) else []
