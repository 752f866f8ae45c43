"""The one validator of pricing terms: a cleaner per field, used by the price list
(`catalog.services.licence_terms_set`, partial updates) and by offers
(`marketplace.terms.terms_clean`, merged onto a base).

A cleaner takes what a client sent and returns the canonical value, or raises ValueError whose
text is the field's message. Types are strict: amounts, basis points and months are ints (not
bools, not strings); rates are exact (int, Decimal or a decimal string, never a float).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from django.core.exceptions import ValidationError
from django.db import models

from catalog.models import BASIS_POINTS_TOTAL, AiUse, PricingTerms
from core.money import currency_exponent

RATE_FIELDS = (
    "rate_tokens_trained_minor",
    "rate_training_examples_minor",
    "rate_retrievals_minor",
    "rate_outputs_attributed_minor",
)
# What is paid, in this order wherever terms are listed.
PRICE_FIELDS = (
    "currency",
    "upfront_fee_minor",
    "upfront_fee_basis",
    "advance_recoupable",
    *RATE_FIELDS,
    "revenue_share_bp",
    "minimum_guarantee_minor",
)
PRICING_FIELDS = (
    *PRICE_FIELDS,
    "term_months",
    "territories",
    "exclusive",
    "attribution_required",
    "permitted_uses",
)
WORLD = "WORLD"
MAX_TERM_MONTHS = 120
# Decimal(24, 10) columns: at most 14 digits before the point, 10 after.
MAX_RATE = Decimal("99999999999999.9999999999")
# Largest amount Stripe (and a bigint comfortably) takes for one charge, minor units.
MAX_AMOUNT_MINOR = 99_999_999_999
_CURRENCY = re.compile(r"^[A-Z]{3}$")
_COUNTRY = re.compile(r"^[A-Z]{2}$")

Cleaner = Callable[[Any], Any]


def _whole_number(value: Any, message: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(message)
    return value


def amount_clean(value: Any) -> int:
    amount = _whole_number(value, "A whole number of minor units (e.g. cents).")
    if not 0 <= amount <= MAX_AMOUNT_MINOR:
        raise ValueError(f"Between 0 and {MAX_AMOUNT_MINOR:,} minor units.")
    return amount


def rate_clean(value: Any) -> Decimal | None:
    """None (not priced) or an exact rate in minor units, at most 10 decimal places."""
    if value is None:
        return None
    if isinstance(value, bool | float) or not isinstance(value, int | str | Decimal):
        raise ValueError('A decimal number of minor units as a string, e.g. "0.3".')
    try:
        rate = Decimal(value.strip() if isinstance(value, str) else value)
    except InvalidOperation:
        raise ValueError('A decimal number of minor units as a string, e.g. "0.3".') from None
    if not rate.is_finite() or not Decimal(0) <= rate <= MAX_RATE:
        raise ValueError("A rate is between 0 and 99,999,999,999,999 minor units.")
    if rate != rate.quantize(Decimal("1e-10")):
        raise ValueError("At most 10 decimal places.")
    return rate.normalize() if rate else Decimal(0)


def basis_points_clean(value: Any) -> int | None:
    if value is None:
        return None
    share = _whole_number(value, "A whole number of basis points (10,000 = 100 %).")
    if not 0 <= share <= BASIS_POINTS_TOTAL:
        raise ValueError("Between 0 and 10,000 basis points (100 %).")
    return share


def flag_clean(value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValueError("true or false.")
    return value


def choice_cleaner(choices: type[models.TextChoices]) -> Cleaner:
    def clean(value: Any) -> str:
        if not isinstance(value, str) or value not in choices.values:
            raise ValueError(f"One of: {', '.join(choices.values)}.")
        return value

    return clean


def currency_clean(value: Any) -> str:
    code = value.strip().upper() if isinstance(value, str) else ""
    if not _CURRENCY.match(code):
        raise ValueError("An ISO 4217 code of three letters, e.g. USD.")
    currency_exponent(code)  # an unknown code raises (a ValueError), saying so
    return code


def term_months_clean(value: Any) -> int:
    months = _whole_number(value, "A whole number of months.")
    if not 1 <= months <= MAX_TERM_MONTHS:
        raise ValueError(f"Between 1 and {MAX_TERM_MONTHS} months.")
    return months


def uses_clean(value: Any, *, allow_empty: bool = False) -> list[str]:
    """AI use names, sorted and without repeats. A price list may name none; an offer not."""
    if not isinstance(value, list | tuple):
        raise ValueError("A list of AI uses, e.g. ai-train.")
    if not value and not allow_empty:
        raise ValueError("Name at least one use.")
    if not all(isinstance(use, str) for use in value):
        raise ValueError("Uses are names such as ai-train.")
    unknown = sorted({use for use in value if use not in AiUse.values})
    if unknown:
        raise ValueError(f"Unknown AI use(s): {', '.join(unknown)}.")
    return sorted(set(value))


def territories_clean(value: Any) -> list[str]:
    """ISO 3166-1 alpha-2 codes, sorted and without repeats, or WORLD (which then stands
    alone)."""
    if not isinstance(value, list | tuple) or not value:
        raise ValueError("Name at least one territory (WORLD for worldwide).")
    if not all(isinstance(code, str) for code in value):
        raise ValueError("Territories are codes such as GB, or WORLD.")
    codes = sorted({code.strip().upper() for code in value})
    if WORLD in codes:
        return [WORLD]
    bad = [code for code in codes if not _COUNTRY.match(code)]
    if bad:
        raise ValueError(f"ISO 3166-1 alpha-2 codes or WORLD; not {', '.join(bad)}.")
    return codes


CLEANERS: dict[str, Cleaner] = {
    "currency": currency_clean,
    "upfront_fee_minor": amount_clean,
    "upfront_fee_basis": choice_cleaner(PricingTerms.FeeBasis),
    "advance_recoupable": flag_clean,
    **dict.fromkeys(RATE_FIELDS, rate_clean),
    "revenue_share_bp": basis_points_clean,
    "minimum_guarantee_minor": amount_clean,
    "term_months": term_months_clean,
    "territories": territories_clean,
    "exclusive": flag_clean,
    "attribution_required": flag_clean,
    "permitted_uses": lambda value: uses_clean(value, allow_empty=True),
}


def fields_clean(
    values: Mapping[str, Any], cleaners: Mapping[str, Cleaner], *, names: Iterable[str]
) -> dict[str, Any]:
    """Clean `names` of `values` (those present) with `cleaners`; a field not in `cleaners`
    is refused. Raises ValidationError naming every bad field."""
    errors: dict[str, str] = {
        name: "Not a licence term." for name in sorted(set(values) - set(cleaners))
    }
    clean: dict[str, Any] = {}
    for name in names:
        if name not in values:
            continue
        try:
            clean[name] = cleaners[name](values[name])
        except ValueError as error:
            errors[name] = str(error) or "Invalid value."
    if errors:
        raise ValidationError(errors)
    return clean


def terms_consistency_check(terms: Mapping[str, Any]) -> None:
    """The rules between fields of complete, cleaned terms."""
    if terms.get("advance_recoupable") and not terms.get("upfront_fee_minor"):
        raise ValidationError(
            {"advance_recoupable": "Only an upfront fee can be a recoupable advance."}
        )


def pricing_terms_clean(values: Mapping[str, Any]) -> dict[str, Any]:
    """The given price-list fields, cleaned (a partial update: fields left out are not
    returned)."""
    return fields_clean(values, CLEANERS, names=PRICING_FIELDS)
