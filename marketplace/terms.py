"""Licence terms as negotiated: which fields the parties set, how they are checked and put in
canonical form, how two versions differ, and how amounts read to a person.

Terms travel as a plain dict keyed by `TERM_FIELDS` (the `PricingTerms` fields plus the
settlement frequency). Usage rates are exact Decimals in minor units; nothing here rounds.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from catalog.models import PricingTerms
from catalog.terms import (
    CLEANERS,
    PRICE_FIELDS,
    RATE_FIELDS,
    WORLD,
    Cleaner,
    choice_cleaner,
    fields_clean,
    terms_consistency_check,
    uses_clean,
)
from core.money import money_format
from marketplace.models import Agreement

TERM_FIELDS = (
    "permitted_uses",
    "territories",
    "term_months",
    "exclusive",
    *PRICE_FIELDS,
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
    merged = {**DEFAULT_TERMS, **(base or {}), **raw}
    clean = fields_clean(merged, _CLEANERS, names=TERM_FIELDS)
    terms_consistency_check(clean)
    return clean


_CLEANERS: dict[str, Cleaner] = {
    **CLEANERS,
    # An offer licenses at least one use; a price list may name none.
    "permitted_uses": uses_clean,
    "settlement_frequency": choice_cleaner(Agreement.SettlementFrequency),
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
