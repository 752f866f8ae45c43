"""Rating usage under an agreement's terms, exactly.

A usage line is priced in exact ``Decimal`` minor units (never rounded here); the caller sums
an agreement's lines for the period and rounds once with ``core.money.rounding.to_minor_units``.

Metrics and their pricing units:

- ``tokens_trained``: rate per 1,000 tokens.
- ``training_examples``: rate per example.
- ``retrievals``: rate per retrieval.
- ``outputs_attributed``: rate per attributed output.
- ``revenue``: the quantity is revenue in minor units; the price is a revenue share in basis
  points (10,000 bp = 100 %), so the royalty is ``revenue * bp / 10,000``.

Rates are ``Decimal`` minor units per pricing unit and may be fractions of a minor unit
(``Decimal("0.3")`` cents per 1,000 tokens). Every division here is by a power of ten, so the
exact result always terminates; ``exact_arithmetic`` raises rather than round if it ever
would not fit.

The advance, guarantee and commission helpers work on integers (money already rounded).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from core.money.rounding import exact_arithmetic, to_minor_units
from usage.metrics import PRICING_UNIT_BY_METRIC, REVENUE_METRIC

BASIS_POINTS_WHOLE = 10_000
"""Basis points in 100 %."""


METRICS = frozenset({*PRICING_UNIT_BY_METRIC, REVENUE_METRIC})


@dataclass(frozen=True, slots=True)
class RecoupResult:
    """How one period's usage royalties meet the unrecouped advance."""

    offset_minor: int
    """Royalties absorbed by the advance (already paid up front, so not billed again)."""
    payable_minor: int
    """Royalties the licensee still owes this period: the excess over the advance."""
    unrecouped_after_minor: int
    """What is left of the advance to recoup in later periods."""


def rate_usage_line(
    *,
    metric: str,
    quantity: int,
    rate_minor: Decimal | None,
    revenue_share_bp: int | None,
) -> Decimal:
    """The exact royalty, in minor units, for ``quantity`` of ``metric``; not rounded."""
    _require_count(quantity, name="quantity")
    if metric == REVENUE_METRIC:
        return _rate_revenue_share(
            revenue_minor=quantity, rate_minor=rate_minor, bp=revenue_share_bp
        )
    if metric in PRICING_UNIT_BY_METRIC:
        return _rate_per_unit(
            metric=metric, quantity=quantity, rate_minor=rate_minor, bp=revenue_share_bp
        )
    raise ValueError(f"unknown metric {metric!r}; expected one of {sorted(METRICS)}")


def recoup_advance(*, usage_due_minor: int, unrecouped_advance_minor: int) -> RecoupResult:
    """Offset usage royalties against the unrecouped advance; the licensee owes the excess."""
    _require_count(usage_due_minor, name="usage_due_minor")
    _require_count(unrecouped_advance_minor, name="unrecouped_advance_minor")
    offset = min(usage_due_minor, unrecouped_advance_minor)
    return RecoupResult(
        offset_minor=offset,
        payable_minor=usage_due_minor - offset,
        unrecouped_after_minor=unrecouped_advance_minor - offset,
    )


def minimum_guarantee_shortfall(*, guarantee_minor: int, paid_in_term_minor: int) -> int:
    """The top-up owed at the end of a term so payments reach the guarantee; never negative."""
    _require_count(guarantee_minor, name="guarantee_minor")
    _require_count(paid_in_term_minor, name="paid_in_term_minor")
    return max(guarantee_minor - paid_in_term_minor, 0)


def commission_split(*, amount_minor: int, commission_bp: int) -> tuple[int, int]:
    """Split an amount into (commission, pool for rights holders); the two sum to the amount.

    The commission is ``amount * bp / 10,000`` rounded half to even, and the pool is the rest,
    so nothing is created or lost. A negative amount (a reversal or refund) splits as the exact
    negation of the positive amount, so a refund undoes its charge to the minor unit.
    """
    _require_int(amount_minor, name="amount_minor")
    _require_basis_points(commission_bp, name="commission_bp")
    magnitude = abs(amount_minor)
    with exact_arithmetic():
        exact_commission = Decimal(magnitude) * commission_bp / BASIS_POINTS_WHOLE
    commission = to_minor_units(exact_commission)
    sign = -1 if amount_minor < 0 else 1
    return sign * commission, sign * (magnitude - commission)


def _rate_per_unit(
    *, metric: str, quantity: int, rate_minor: Decimal | None, bp: int | None
) -> Decimal:
    if bp is not None:
        raise ValueError(f"metric {metric!r} is priced by a rate; revenue_share_bp must be None")
    rate = _require_rate(rate_minor, metric=metric)
    with exact_arithmetic():
        return Decimal(quantity) * rate / PRICING_UNIT_BY_METRIC[metric]


def _rate_revenue_share(
    *, revenue_minor: int, rate_minor: Decimal | None, bp: int | None
) -> Decimal:
    if rate_minor is not None:
        raise ValueError("metric 'revenue' is priced by revenue_share_bp; rate_minor must be None")
    if bp is None:
        raise ValueError("metric 'revenue' needs revenue_share_bp")
    _require_basis_points(bp, name="revenue_share_bp")
    with exact_arithmetic():
        return Decimal(revenue_minor) * bp / BASIS_POINTS_WHOLE


def _require_rate(rate_minor: Decimal | None, *, metric: str) -> Decimal:
    if rate_minor is None:
        raise ValueError(f"metric {metric!r} needs rate_minor")
    if not isinstance(rate_minor, Decimal):
        raise TypeError(f"rate_minor must be a Decimal, got {type(rate_minor).__name__}")
    if not rate_minor.is_finite() or rate_minor < 0:
        raise ValueError(f"rate_minor must be a finite, non-negative amount, got {rate_minor}")
    return rate_minor


def _require_int(value: int, *, name: str) -> None:
    # bool is an int subclass; True cents is a bug, not an amount.
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}")


def _require_count(value: int, *, name: str) -> None:
    _require_int(value, name=name)
    if value < 0:
        raise ValueError(f"{name} must not be negative, got {value}")


def _require_basis_points(value: int, *, name: str) -> None:
    _require_int(value, name=name)
    if not 0 <= value <= BASIS_POINTS_WHOLE:
        raise ValueError(
            f"{name} must be between 0 and {BASIS_POINTS_WHOLE} basis points, got {value}"
        )
