"""Licence terms as negotiated: which fields the parties set, how they are checked and put in
canonical form, how two versions differ, and how amounts read to a person.

Terms travel as a plain dict keyed by `TERM_FIELDS` (the `PricingTerms` fields plus the
settlement frequency). Usage rates are exact Decimals in minor units; nothing here rounds.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from django.core.exceptions import ValidationError

from catalog.models import BASIS_POINTS_TOTAL, AiUse, PricingTerms
from core.money import currency_exponent, money_format
from marketplace.models import Agreement

RATE_FIELDS = (
    "rate_tokens_trained_minor",
    "rate_training_examples_minor",
    "rate_retrievals_minor",
    "rate_outputs_attributed_minor",
)
TERM_FIELDS = (
    "permitted_uses",
    "territories",
    "term_months",
    "exclusive",
    "currency",
    "upfront_fee_minor",
    "upfront_fee_basis",
    "advance_recoupable",
    *RATE_FIELDS,
    "revenue_share_bp",
    "minimum_guarantee_minor",
    "attribution_required",
    "settlement_frequency",
)
TERM_LABELS = {
    "permitted_uses": "Uses",
    "territories": "Territories",
    "term_months": "Term (months)",
    "exclusive": "Exclusive",
    "currency": "Currency",
    "upfront_fee_minor": "Upfront fee",
    "upfront_fee_basis": "Fee basis",
    "advance_recoupable": "Fee is a recoupable advance",
    "rate_tokens_trained_minor": "Rate per 1,000 tokens trained",
    "rate_training_examples_minor": "Rate per training example",
    "rate_retrievals_minor": "Rate per retrieval",
    "rate_outputs_attributed_minor": "Rate per attributed output",
    "revenue_share_bp": "Revenue share",
    "minimum_guarantee_minor": "Minimum guarantee per contract year",
    "attribution_required": "Attribution required",
    "settlement_frequency": "Settlement",
}
DEFAULT_TERMS: dict[str, Any] = {
    "permitted_uses": [],
    "territories": ["WORLD"],
    "term_months": 12,
    "exclusive": False,
    "currency": "USD",
    "upfront_fee_minor": 0,
    "upfront_fee_basis": PricingTerms.FeeBasis.PER_CATALOGUE.value,
    "advance_recoupable": False,
    **dict.fromkeys(RATE_FIELDS),
    "revenue_share_bp": None,
    "minimum_guarantee_minor": 0,
    "attribution_required": False,
    "settlement_frequency": Agreement.SettlementFrequency.MONTHLY.value,
}
WORLD = "WORLD"
MAX_TERM_MONTHS = 120
# Decimal(24, 10) columns: at most 14 digits before the point, 10 after.
MAX_RATE = Decimal("99999999999999.9999999999")
# Largest amount Stripe (and a bigint comfortably) takes for one charge, minor units.
MAX_AMOUNT_MINOR = 99_999_999_999
_CURRENCY = re.compile(r"^[A-Z]{3}$")
_COUNTRY = re.compile(r"^[A-Z]{2}$")


def terms_of(source: PricingTerms) -> dict[str, Any]:
    """The terms an offer version, an agreement or a price list row carries."""
    terms = {name: getattr(source, name, DEFAULT_TERMS[name]) for name in TERM_FIELDS}
    terms["permitted_uses"] = list(terms["permitted_uses"])
    terms["territories"] = list(terms["territories"])
    return terms


def terms_clean(raw: dict[str, Any], *, base: dict[str, Any] | None = None) -> dict[str, Any]:
    """Check proposed terms and put them in canonical form. Fields left out keep their value in
    `base` (the version being countered, or the listed terms). Raises ValidationError naming
    each bad field."""
    unknown = set(raw) - set(TERM_FIELDS)
    if unknown:
        raise ValidationError({name: "Not a licence term." for name in sorted(unknown)})
    merged = {**DEFAULT_TERMS, **(base or {}), **raw}
    errors: dict[str, str] = {}
    clean: dict[str, Any] = {}
    for name in TERM_FIELDS:
        try:
            clean[name] = _CLEANERS[name](merged[name])
        except ValueError as error:
            errors[name] = str(error) or "Invalid value."
    if not errors and clean["advance_recoupable"] and clean["upfront_fee_minor"] == 0:
        errors["advance_recoupable"] = "Only an upfront fee can be a recoupable advance."
    if errors:
        raise ValidationError(errors)
    return clean


def _whole_number(value: Any, message: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise ValueError(message)
    try:
        return int(value)
    except ValueError:
        raise ValueError(message) from None


def _amount(value: Any) -> int:
    amount = _whole_number(value, "Enter a whole number of minor units.")
    if not 0 <= amount <= MAX_AMOUNT_MINOR:
        raise ValueError(f"Must be between 0 and {MAX_AMOUNT_MINOR} minor units.")
    return amount


def _rate(value: Any) -> Decimal | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool | float) or not isinstance(value, int | str | Decimal):
        raise ValueError('Enter the rate as a decimal string, e.g. "0.3".')
    try:
        rate = Decimal(str(value).strip())
    except InvalidOperation:
        raise ValueError('Enter the rate as a decimal string, e.g. "0.3".') from None
    if not rate.is_finite() or not Decimal(0) <= rate <= MAX_RATE:
        raise ValueError("Must be a rate between 0 and 99,999,999,999,999 minor units.")
    if rate != rate.quantize(Decimal("1e-10")):
        raise ValueError("At most 10 decimal places.")
    return rate.normalize() if rate else Decimal(0)


def _basis_points(value: Any) -> int | None:
    if value is None or value == "":
        return None
    share = _whole_number(value, "Enter basis points (10,000 = 100 %).")
    if not 0 <= share <= BASIS_POINTS_TOTAL:
        raise ValueError("Must be between 0 and 10,000 basis points.")
    return share


def _flag(value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValueError("Must be true or false.")
    return value


def _choice(choices: Any) -> Any:
    def clean(value: Any) -> str:
        if not isinstance(value, str) or value not in choices.values:
            raise ValueError(f"Choose one of: {', '.join(choices.values)}.")
        return str(value)

    return clean


def _currency(value: Any) -> str:
    code = value.strip().upper() if isinstance(value, str) else ""
    if not _CURRENCY.match(code):
        raise ValueError("A three-letter ISO 4217 code, e.g. USD.")
    currency_exponent(code)  # an unknown code raises, saying so
    return code


def _term_months(value: Any) -> int:
    months = _whole_number(value, "Enter a number of months.")
    if not 1 <= months <= MAX_TERM_MONTHS:
        raise ValueError(f"Between 1 and {MAX_TERM_MONTHS} months.")
    return months


def _uses(value: Any) -> list[str]:
    if not isinstance(value, list | tuple) or not value:
        raise ValueError("Name at least one use.")
    uses = sorted({use for use in value if isinstance(use, str)})
    if len(uses) != len(set(map(str, value))):
        raise ValueError("Uses are names such as ai-train.")
    unknown = [use for use in uses if use not in AiUse.values]
    if unknown:
        raise ValueError(f"Unknown uses: {', '.join(unknown)}.")
    return uses


def territories_clean(value: Any) -> list[str]:
    """ISO 3166-1 alpha-2 codes, or WORLD (which then stands alone)."""
    if not isinstance(value, list | tuple) or not value:
        raise ValueError("Name at least one territory (WORLD for worldwide).")
    if not all(isinstance(code, str) for code in value):
        raise ValueError("Territories are codes such as GB, or WORLD.")
    codes = sorted({code.strip().upper() for code in value})
    if WORLD in codes:
        return [WORLD]
    bad = [code for code in codes if not _COUNTRY.match(code)]
    if bad:
        raise ValueError(f"Not ISO 3166-1 alpha-2 codes: {', '.join(bad)}.")
    return codes


_CLEANERS: dict[str, Any] = {
    "permitted_uses": _uses,
    "territories": territories_clean,
    "term_months": _term_months,
    "exclusive": _flag,
    "currency": _currency,
    "upfront_fee_minor": _amount,
    "upfront_fee_basis": _choice(PricingTerms.FeeBasis),
    "advance_recoupable": _flag,
    **dict.fromkeys(RATE_FIELDS, _rate),
    "revenue_share_bp": _basis_points,
    "minimum_guarantee_minor": _amount,
    "attribution_required": _flag,
    "settlement_frequency": _choice(Agreement.SettlementFrequency),
}


def terms_as_json(terms: dict[str, Any]) -> dict[str, Any]:
    """JSON-safe terms: Decimal rates as strings, so nothing is lost."""
    return {
        name: str(value) if isinstance(value, Decimal) else value for name, value in terms.items()
    }


def territory_span(code: str) -> tuple[int, int]:
    """A territory as a half-open integer range: AA = [0, 1) … ZZ = [675, 676); WORLD = all."""
    if code == WORLD:
        return (0, 26 * 26)
    first, second = (ord(letter) - ord("A") for letter in code)
    start = first * 26 + second
    return (start, start + 1)


# --- Display -------------------------------------------------------------------------------
def term_display(name: str, value: Any, currency: str) -> str:
    if value is None:
        return "—"
    if name in ("upfront_fee_minor", "minimum_guarantee_minor"):
        return money_format(value, currency)
    if name in RATE_FIELDS:
        return money_format(Decimal(value), currency)
    if name == "revenue_share_bp":
        return f"{Decimal(value) / 100:.2f} %"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list):
        return ", ".join(str(item) for item in value) or "—"
    choices = {
        "upfront_fee_basis": PricingTerms.FeeBasis,
        "settlement_frequency": Agreement.SettlementFrequency,
    }
    if name in choices:
        return str(choices[name](value).label)
    return str(value)


@dataclass(frozen=True)
class TermChange:
    field: str
    label: str
    before: str
    after: str


def terms_diff(before: dict[str, Any], after: dict[str, Any]) -> list[TermChange]:
    """What changed between two versions' terms, in display form."""
    changes = []
    for name in TERM_FIELDS:
        old, new = before.get(name), after.get(name)
        if _comparable(old) != _comparable(new):
            changes.append(
                TermChange(
                    field=name,
                    label=TERM_LABELS[name],
                    before=term_display(name, old, before.get("currency") or "USD"),
                    after=term_display(name, new, after.get("currency") or "USD"),
                )
            )
    return changes


def _comparable(value: Any) -> Any:
    if isinstance(value, Decimal | str) and value != "":
        try:
            return Decimal(value)
        except InvalidOperation:
            return value
    if isinstance(value, list):
        return sorted(value)
    return value


def terms_display_rows(terms: dict[str, Any]) -> list[tuple[str, str]]:
    """(label, value) for every term, for the thread, the contract page and the PDF."""
    currency = terms.get("currency") or "USD"
    return [
        (TERM_LABELS[name], term_display(name, terms.get(name), currency)) for name in TERM_FIELDS
    ]
