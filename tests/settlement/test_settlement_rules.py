"""The arithmetic of one agreement's settlement: the worked examples by hand, and properties
that must hold for any usage, split sheet, advance and sequence of periods."""

from __future__ import annotations

import os
from datetime import date
from decimal import Decimal
from fractions import Fraction

from hypothesis import given, settings
from hypothesis import strategies as st

from settlement.rules import (
    AgreementTerms,
    GuaranteeYear,
    LineKind,
    UsageAggregate,
    allocate_fee,
    settle_agreement,
)

OCTOBER = (date(2026, 10, 1), date(2026, 11, 1))
ANA, HARBOUR, BEN, CHLOE = 10, 11, 12, 13
W1, W2 = 1, 2
SPLITS = {W1: {ANA: 7000, HARBOUR: 3000}, W2: {BEN: 5000, CHLOE: 2500, HARBOUR: 2500}}
TERMS = AgreementTerms(
    agreement_id=1,
    currency="USD",
    commission_bp=1000,
    rates={"tokens_trained": Decimal("0.3")},
    revenue_share_bp=None,
)


def _tokens(work: int, quantity: int, period=OCTOBER, **extra) -> UsageAggregate:
    return UsageAggregate(
        work_id=work,
        metric="tokens_trained",
        quantity=quantity,
        period_start=period[0],
        period_end=period[1],
        **extra,
    )


OCTOBER_USAGE = [_tokens(W1, 12_000_000), _tokens(W2, 4_000_000)]


def test_october_usage_settles_to_the_worked_example():
    outcome = settle_agreement(terms=TERMS, aggregates=OCTOBER_USAGE, splits=SPLITS, carries={})
    assert outcome.charge_minor == 4800
    assert outcome.receivable_minor == 4800
    assert outcome.commission_minor == 480
    assert outcome.holder_totals == {ANA: 2268, HARBOUR: 972 + 270, BEN: 540, CHLOE: 270}
    by_pair = {(line.work_id, line.holder_id): line for line in outcome.lines}
    assert by_pair[W1, ANA].gross_exact == Decimal(3600)
    assert by_pair[W1, ANA].commission_exact == Decimal(360)
    assert by_pair[W2, HARBOUR].share_bp == 2500
    assert {line.kind for line in outcome.lines} == {LineKind.USAGE}


def test_the_same_fee_as_a_recoupable_advance_absorbs_october():
    outcome = settle_agreement(
        terms=TERMS,
        aggregates=OCTOBER_USAGE,
        splits=SPLITS,
        carries={},
        unrecouped_advance_minor=120_000,
    )
    assert outcome.recouped_minor == 4800
    assert outcome.receivable_minor == 0
    assert outcome.unrecouped_after_minor == 115_200
    assert outcome.lines == []
    assert outcome.commission_minor == 0


def test_usage_past_the_advance_is_owed_and_allocated_as_usual():
    outcome = settle_agreement(
        terms=TERMS,
        aggregates=OCTOBER_USAGE,
        splits=SPLITS,
        carries={},
        unrecouped_advance_minor=0,
        recouped_so_far_minor=120_000,
    )
    assert outcome.receivable_minor == 4800
    assert outcome.holder_totals[HARBOUR] == 1242


def test_the_upfront_fee_splits_600_dollars_a_work():
    commission, lines, carries = allocate_fee(
        kind=LineKind.UPFRONT_FEE,
        amount_minor=120_000,
        commission_bp=1000,
        splits=SPLITS,
        carries={},
    )
    assert commission == 12_000
    amounts = {(line.work_id, line.holder_id): line.amount_minor for line in lines}
    assert amounts == {
        (W1, ANA): 37_800,
        (W1, HARBOUR): 16_200,
        (W2, BEN): 27_000,
        (W2, CHLOE): 13_500,
        (W2, HARBOUR): 13_500,
    }
    assert sum(carry.allocated_minor for carry in carries.values()) == 108_000


def test_a_downward_correction_is_credited_and_clawed_back_without_touching_the_carry():
    correction = [_tokens(W1, 2_000_000, kind=LineKind.ADJUSTMENT, settled_quantity=12_000_000)]
    outcome = settle_agreement(terms=TERMS, aggregates=correction, splits=SPLITS, carries={})
    assert outcome.credit_minor == 3000
    assert outcome.receivable_minor == -3000
    assert outcome.commission_minor == -300
    assert outcome.holder_totals == {ANA: -1890, HARBOUR: -810}
    assert outcome.carries == {}
    assert all(line.kind == LineKind.CREDIT for line in outcome.lines)


def test_a_guarantee_shortfall_is_billed_at_the_end_of_the_contract_year():
    terms = AgreementTerms(
        agreement_id=1,
        currency="USD",
        commission_bp=1000,
        rates={"tokens_trained": Decimal("0.3")},
        revenue_share_bp=None,
        minimum_guarantee_minor=10_000,
    )
    year = GuaranteeYear(
        starts_on=date(2025, 11, 1),
        ends_on=date(2026, 10, 31),
        paid_before_minor=1_000,
        gross_before_by_work={W1: Decimal(1000)},
    )
    outcome = settle_agreement(
        terms=terms, aggregates=OCTOBER_USAGE, splits=SPLITS, carries={}, guarantee_year=year
    )
    assert outcome.shortfall_minor == 10_000 - 1_000 - 4_800
    assert outcome.receivable_minor == 10_000 - 1_000
    assert outcome.conserves()
    assert LineKind.GUARANTEE_SHORTFALL in {line.kind for line in outcome.lines}


# --- properties ------------------------------------------------------------------------------

holders = st.integers(min_value=1, max_value=8)


@st.composite
def split_sheets(draw):
    works = draw(st.lists(st.integers(1, 30), min_size=1, max_size=6, unique=True))
    sheets = {}
    for work in works:
        people = draw(st.lists(holders, min_size=1, max_size=4, unique=True))
        cuts = sorted(
            draw(
                st.lists(
                    st.integers(1, 9999),
                    min_size=len(people) - 1,
                    max_size=len(people) - 1,
                    unique=True,
                )
            )
        )
        bounds = [0, *cuts, 10_000]
        sheets[work] = {h: bounds[i + 1] - bounds[i] for i, h in enumerate(people)}
    return sheets


@st.composite
def periods_of_usage(draw, works):
    periods = []
    for _ in range(draw(st.integers(1, 6))):
        rows = []
        for work in draw(
            st.lists(st.sampled_from(sorted(works)), max_size=len(works), unique=True)
        ):
            quantity = draw(st.integers(0, 50_000))
            if draw(st.booleans()):
                settled = draw(st.integers(0, 50_000))
                rows.append(
                    _tokens(work, quantity, kind=LineKind.ADJUSTMENT, settled_quantity=settled)
                )
            else:
                rows.append(_tokens(work, quantity))
        periods.append(rows)
    return periods


def harmonic(n: int) -> Fraction:
    return sum((Fraction(1, k) for k in range(1, n + 1)), Fraction(0))


def check_carries_within_documented_bounds(carries: dict, *, one_work: bool) -> None:
    """settlement.allocation's guarantees on the carry state after a period: no pair is paid a
    whole unit ahead (3); no pair is owed a whole unit when proportions are stable, i.e. one
    work with an unchanged split (5), or when there are at most two pairs (6, last sentence);
    otherwise the k largest amounts owed sum to at most k (1 + H(N) - H(k)) (6)."""
    owed = sorted(
        (Fraction(c.entitled_exact) - c.allocated_minor for c in carries.values()), reverse=True
    )
    assert all(amount > -1 for amount in owed), owed  # never paid a whole unit ahead
    if one_work or len(owed) <= 2:
        assert all(amount < 1 for amount in owed), owed
    n, running = len(owed), Fraction(0)
    for k, amount in enumerate(owed, start=1):
        running += amount
        assert running <= k * (1 + harmonic(n) - harmonic(k)), (k, owed)


@settings(settings.get_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci")))
@given(data=st.data())
def test_every_run_conserves_and_carries_stay_within_the_documented_bounds(data):
    splits = data.draw(split_sheets())
    terms = AgreementTerms(
        agreement_id=1,
        currency="USD",
        commission_bp=data.draw(st.integers(0, 10_000)),
        rates={"tokens_trained": data.draw(st.decimals("0", "5", places=4))},
        revenue_share_bp=None,
    )
    unrecouped = data.draw(st.integers(0, 500))
    recouped = 0
    carries: dict = {}
    paid: dict = {}
    for aggregates in data.draw(periods_of_usage(splits)):
        outcome = settle_agreement(
            terms=terms,
            aggregates=aggregates,
            splits=splits,
            carries=carries,
            unrecouped_advance_minor=unrecouped,
            recouped_so_far_minor=recouped,
        )
        assert outcome.conserves()
        assert outcome.unrecouped_after_minor >= 0
        assert outcome.recouped_minor + outcome.usage_billed_minor == outcome.charge_minor
        recouped += outcome.recouped_minor - outcome.advance_restored_minor
        unrecouped = outcome.unrecouped_after_minor
        for line in outcome.lines:
            assert line.amount_minor >= 0 or line.kind == LineKind.CREDIT
            if line.kind != LineKind.CREDIT:
                pair = (line.work_id, line.holder_id)
                paid[pair] = paid.get(pair, 0) + line.amount_minor
        carries = outcome.carries
        check_carries_within_documented_bounds(carries, one_work=len(splits) == 1)
    for pair, carry in carries.items():
        assert carry.allocated_minor == paid.get(pair, 0)
    assert sum(c.entitled_exact for c in carries.values()) == sum(
        c.allocated_minor for c in carries.values()
    )
