"""What one agreement's settlement for one run comes to: pure arithmetic, no database.

``settle_agreement`` takes the frozen inputs of one agreement in one run (its terms, its usage
aggregated per work and metric, its split snapshot, its carry state, its advance and guarantee
position) and returns every figure the run writes: the rated rows, what the licensee is billed,
the commission, each (work, holder) allocation line and the new carry state. The settlement
services call it when a run settles a chunk, and again when a closed period is recomputed for
audit, so both paths produce the same figures by construction.

The order of operations (each amount rounded once, by ``core.money.rounding.to_minor_units``):

1. Rating: every aggregated row is priced exactly with ``rating.rate_usage_line``. An adjustment
   row (a corrected report of a period already settled) is priced as the new quantity's exact
   royalty minus the settled quantity's, so it may be negative. A work's gross is the exact sum
   of its rows.
2. Works whose gross is positive make the *charge*: the sum of their grosses, rounded. Works
   whose gross is negative (a downward correction larger than this period's usage) make the
   *credit*, rounded the same way. Netting them first would take the overpaid holders' money
   out of the other works' holders' shares, so they are booked apart.
3. Recoupable advance: the charge is first offset against the unrecouped advance
   (``rating.recoup_advance``); the licensee is billed only the excess, and only the excess is
   new money for the holders (they were paid the advance up front). A credit first restores the
   advance, up to what has been recouped so far, and only the rest is credited to the licensee.
4. Commission is taken from the billed amount (``rating.commission_split``); the rest is the
   pool, allocated by ``allocation.allocate_pool`` with each work weighted by its exact gross,
   carrying remainders per (work, holder). The credited amount is split the same way, negated,
   without carry (a reversal is its own negative entry, see ``allocation``), weighted by the
   negative works' grosses.
5. Minimum guarantee: when a contract year ends inside the settled period, the licensee is
   billed the shortfall between the guarantee and what it paid in that year (usage billed plus
   an advance paid in that year), and the shortfall is allocated like usage, each work weighted
   by its gross over the whole contract year (equally if there was none).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from core.money.rounding import exact_arithmetic, to_minor_units
from settlement.allocation import NO_CARRY, CarryState, allocate_pool
from settlement.rating import (
    BASIS_POINTS_WHOLE,
    REVENUE_METRIC,
    commission_split,
    minimum_guarantee_shortfall,
    rate_usage_line,
    recoup_advance,
)

Pair = tuple[int, int]
"""(work id, holder organisation id)."""


class LineKind:
    """Why an allocation line exists; stored on statement lines and rated rows."""

    USAGE = "usage"
    ADJUSTMENT = "adjustment"
    CREDIT = "credit"
    GUARANTEE_SHORTFALL = "guarantee_shortfall"
    UPFRONT_FEE = "upfront_fee"
    ADVANCE = "advance"

    CHOICES = (
        (USAGE, "Usage royalties"),
        (ADJUSTMENT, "Adjustment for a corrected report"),
        (CREDIT, "Credit for a corrected report"),
        (GUARANTEE_SHORTFALL, "Minimum guarantee shortfall"),
        (UPFRONT_FEE, "Upfront fee"),
        (ADVANCE, "Recoupable advance"),
    )


@dataclass(frozen=True, slots=True)
class AgreementTerms:
    """The pricing of one agreement as the run froze it."""

    agreement_id: int
    currency: str
    commission_bp: int
    rates: Mapping[str, Decimal]
    """Metric -> exact rate in minor units per pricing unit, for the rate-priced metrics."""
    revenue_share_bp: int | None
    minimum_guarantee_minor: int = 0


@dataclass(frozen=True, slots=True)
class UsageAggregate:
    """One agreement's reported quantity of one metric for one work in one usage period."""

    work_id: int
    metric: str
    quantity: int
    period_start: date
    period_end: date
    kind: str = LineKind.USAGE
    settled_quantity: int = 0
    """For an adjustment: the quantity already settled for that period (else 0)."""
    line_count: int = 0


@dataclass(frozen=True, slots=True)
class RatedRow:
    """An aggregate priced under the terms: the exact royalty (negative only for a correction)."""

    usage: UsageAggregate
    rate_minor: Decimal | None
    revenue_share_bp: int | None
    exact_minor: Decimal


@dataclass(frozen=True, slots=True)
class GuaranteeYear:
    """A contract year that ends inside the settled period, with what was paid in it before."""

    starts_on: date
    ends_on: date
    paid_before_minor: int
    """Usage billed in earlier runs of this year plus an advance paid in it."""
    gross_before_by_work: Mapping[int, Decimal]
    """Each work's exact gross in earlier runs of this year (the shortfall's weights)."""


@dataclass(frozen=True, slots=True)
class AllocationLine:
    """What one holder gets from one work for one reason in this run."""

    kind: str
    work_id: int
    holder_id: int
    share_bp: int
    gross_exact: Decimal
    """The work's exact royalties (usage, adjustment, credit); for a fee or a guarantee
    shortfall, the agreement's whole amount being split."""
    commission_exact: Decimal
    """``gross_exact``'s exact commission: what the statement shows beside it."""
    amount_minor: int
    entitled_after: Decimal
    allocated_after: int


@dataclass(slots=True)
class AgreementOutcome:
    """Every figure one agreement contributes to a run."""

    rated: list[RatedRow]
    charge_minor: int = 0
    credit_minor: int = 0
    recouped_minor: int = 0
    advance_restored_minor: int = 0
    unrecouped_after_minor: int = 0
    usage_billed_minor: int = 0
    credited_minor: int = 0
    shortfall_minor: int = 0
    commission_minor: int = 0
    lines: list[AllocationLine] = field(default_factory=list)
    carries: dict[Pair, CarryState] = field(default_factory=dict)
    """The complete carry state after the run (write back only the changed pairs)."""

    @property
    def receivable_minor(self) -> int:
        """What the licensee is invoiced (negative: credited) for this run."""
        return self.usage_billed_minor - self.credited_minor + self.shortfall_minor

    @property
    def holder_totals(self) -> dict[int, int]:
        totals: dict[int, int] = defaultdict(int)
        for line in self.lines:
            totals[line.holder_id] += line.amount_minor
        return dict(totals)

    def conserves(self) -> bool:
        """Commission plus allocations equals what the licensee is invoiced, exactly."""
        return self.commission_minor + sum(line.amount_minor for line in self.lines) == (
            self.receivable_minor
        )


def rate_aggregates(terms: AgreementTerms, aggregates: Iterable[UsageAggregate]) -> list[RatedRow]:
    """Price every aggregate exactly (an adjustment as new minus settled)."""
    rated = []
    for usage in aggregates:
        rate, bp = _price_of(terms, usage.metric)
        exact = rate_usage_line(
            metric=usage.metric, quantity=usage.quantity, rate_minor=rate, revenue_share_bp=bp
        )
        if usage.settled_quantity:
            settled = rate_usage_line(
                metric=usage.metric,
                quantity=usage.settled_quantity,
                rate_minor=rate,
                revenue_share_bp=bp,
            )
            with exact_arithmetic():
                exact -= settled
        rated.append(RatedRow(usage=usage, rate_minor=rate, revenue_share_bp=bp, exact_minor=exact))
    return rated


def settle_agreement(
    *,
    terms: AgreementTerms,
    aggregates: Iterable[UsageAggregate],
    splits: Mapping[int, Mapping[int, int]],
    carries: Mapping[Pair, CarryState],
    unrecouped_advance_minor: int = 0,
    recouped_so_far_minor: int = 0,
    guarantee_year: GuaranteeYear | None = None,
) -> AgreementOutcome:
    """Settle one agreement for one run; see the module docstring for the rules."""
    rated = rate_aggregates(terms, aggregates)
    gross = _gross_by_work(rated)
    _require_splits(splits, gross)
    positive = {work: amount for work, amount in gross.items() if amount > 0}
    negative = {work: -amount for work, amount in gross.items() if amount < 0}
    outcome = AgreementOutcome(rated=rated, carries=dict(carries))
    outcome.charge_minor = to_minor_units(_exact_sum(positive.values()))
    outcome.credit_minor = to_minor_units(_exact_sum(negative.values()))

    recoup = recoup_advance(
        usage_due_minor=outcome.charge_minor, unrecouped_advance_minor=unrecouped_advance_minor
    )
    outcome.recouped_minor = recoup.offset_minor
    outcome.usage_billed_minor = recoup.payable_minor
    recouped_total = recouped_so_far_minor + recoup.offset_minor
    outcome.advance_restored_minor = min(outcome.credit_minor, recouped_total)
    outcome.credited_minor = outcome.credit_minor - outcome.advance_restored_minor
    outcome.unrecouped_after_minor = recoup.unrecouped_after_minor + outcome.advance_restored_minor

    _allocate_with_carry(
        outcome,
        kind=LineKind.ADJUSTMENT if _only_adjustments(rated) else LineKind.USAGE,
        amount_minor=outcome.usage_billed_minor,
        weights=positive,
        gross=positive,
        terms=terms,
        splits=splits,
    )
    _allocate_credit(outcome, weights=negative, terms=terms, splits=splits)
    if guarantee_year is not None and terms.minimum_guarantee_minor:
        _charge_shortfall(
            outcome, year=guarantee_year, positive=positive, terms=terms, splits=splits
        )
    return outcome


def allocate_fee(
    *,
    kind: str,
    amount_minor: int,
    commission_bp: int,
    splits: Mapping[int, Mapping[int, int]],
    carries: Mapping[Pair, CarryState],
) -> tuple[int, list[AllocationLine], dict[Pair, CarryState]]:
    """An upfront fee (or advance) for the licensed works: commission first, then the works
    share equally (the worked example's $1,200 catalogue fee is $600 a work), carry kept.

    Returns (commission, lines, complete new carry state).
    """
    terms = AgreementTerms(
        agreement_id=0, currency="", commission_bp=commission_bp, rates={}, revenue_share_bp=None
    )
    outcome = AgreementOutcome(rated=[], carries=dict(carries))
    _allocate_with_carry(
        outcome,
        kind=kind,
        amount_minor=amount_minor,
        weights=dict.fromkeys(splits, Decimal(0)),  # all zero: the works share equally
        gross=dict.fromkeys(splits, Decimal(amount_minor)),
        terms=terms,
        splits=splits,
    )
    return outcome.commission_minor, outcome.lines, outcome.carries


# --- steps ---------------------------------------------------------------------------------


def _price_of(terms: AgreementTerms, metric: str) -> tuple[Decimal | None, int | None]:
    if metric == REVENUE_METRIC:
        return None, terms.revenue_share_bp
    rate = terms.rates.get(metric)
    if rate is None:
        raise ValueError(f"agreement {terms.agreement_id} has no rate for metric {metric!r}")
    return rate, None


def _gross_by_work(rated: Iterable[RatedRow]) -> dict[int, Decimal]:
    gross: dict[int, Decimal] = {}
    with exact_arithmetic():
        for row in rated:
            work = row.usage.work_id
            gross[work] = gross.get(work, Decimal(0)) + row.exact_minor
    return gross


def _exact_sum(amounts: Iterable[Decimal]) -> Decimal:
    with exact_arithmetic():
        return sum(amounts, Decimal(0))


def _only_adjustments(rated: list[RatedRow]) -> bool:
    return bool(rated) and all(row.usage.kind == LineKind.ADJUSTMENT for row in rated)


def _require_splits(splits: Mapping[int, Mapping[int, int]], gross: Mapping[int, Decimal]) -> None:
    missing = sorted(work for work in gross if work not in splits)
    if missing:
        raise ValueError(f"no split snapshot for works {missing} of the agreement")


def _commission_exact(gross: Decimal, commission_bp: int) -> Decimal:
    with exact_arithmetic():
        return gross * commission_bp / BASIS_POINTS_WHOLE


def _allocate_with_carry(
    outcome: AgreementOutcome,
    *,
    kind: str,
    amount_minor: int,
    weights: Mapping[int, Decimal],
    gross: Mapping[int, Decimal],
    terms: AgreementTerms,
    splits: Mapping[int, Mapping[int, int]],
) -> None:
    commission, pool = commission_split(
        amount_minor=amount_minor, commission_bp=terms.commission_bp
    )
    outcome.commission_minor += commission
    if pool == 0:
        return  # no entitlement and no units: nothing changes
    used_splits = {work: splits[work] for work in weights}
    result = allocate_pool(
        pool_minor=pool, work_weights=weights, splits=used_splits, carries=outcome.carries
    )
    before = outcome.carries
    commission_of: dict[int, Decimal] = {}
    for pair, units in result.allocations.items():
        after = result.carries[pair]
        if units == 0 and after == before.get(pair, NO_CARRY):
            continue  # untouched: no line, carry unchanged
        work, holder = pair
        work_gross = gross.get(work, Decimal(0))
        if work not in commission_of:
            commission_of[work] = _commission_exact(work_gross, terms.commission_bp)
        outcome.lines.append(
            AllocationLine(
                kind=kind,
                work_id=work,
                holder_id=holder,
                share_bp=used_splits.get(work, {}).get(holder, 0),
                gross_exact=work_gross,
                commission_exact=commission_of[work],
                amount_minor=units,
                entitled_after=after.entitled_exact,
                allocated_after=after.allocated_minor,
            )
        )
    outcome.carries = result.carries


def _allocate_credit(
    outcome: AgreementOutcome,
    *,
    weights: Mapping[int, Decimal],
    terms: AgreementTerms,
    splits: Mapping[int, Mapping[int, int]],
) -> None:
    """Split the credited amount as the exact negation of allocating it, with no carry."""
    if not outcome.credited_minor:
        return
    commission, pool = commission_split(
        amount_minor=outcome.credited_minor, commission_bp=terms.commission_bp
    )
    outcome.commission_minor -= commission
    used_splits = {work: splits[work] for work in weights}
    result = allocate_pool(pool_minor=pool, work_weights=weights, splits=used_splits, carries={})
    for (work, holder), units in sorted(result.allocations.items()):
        if units == 0:
            continue
        carry = outcome.carries.get((work, holder), NO_CARRY)
        with exact_arithmetic():
            work_gross = -weights[work]
        outcome.lines.append(
            AllocationLine(
                kind=LineKind.CREDIT,
                work_id=work,
                holder_id=holder,
                share_bp=used_splits[work][holder],
                gross_exact=work_gross,
                commission_exact=_commission_exact(work_gross, terms.commission_bp),
                amount_minor=-units,
                entitled_after=carry.entitled_exact,
                allocated_after=carry.allocated_minor,
            )
        )


def _charge_shortfall(
    outcome: AgreementOutcome,
    *,
    year: GuaranteeYear,
    positive: Mapping[int, Decimal],
    terms: AgreementTerms,
    splits: Mapping[int, Mapping[int, int]],
) -> None:
    paid = max(year.paid_before_minor + outcome.usage_billed_minor - outcome.credited_minor, 0)
    outcome.shortfall_minor = minimum_guarantee_shortfall(
        guarantee_minor=terms.minimum_guarantee_minor, paid_in_term_minor=paid
    )
    if not outcome.shortfall_minor:
        return
    weights: dict[int, Decimal] = {work: Decimal(0) for work in splits}
    with exact_arithmetic():
        for work, amount in [*year.gross_before_by_work.items(), *positive.items()]:
            if work in weights:
                weights[work] += amount
    weights = {work: max(amount, Decimal(0)) for work, amount in weights.items()}
    _allocate_with_carry(
        outcome,
        kind=LineKind.GUARANTEE_SHORTFALL,
        amount_minor=outcome.shortfall_minor,
        weights=weights,
        gross=dict.fromkeys(weights, Decimal(outcome.shortfall_minor)),
        terms=terms,
        splits=splits,
    )
