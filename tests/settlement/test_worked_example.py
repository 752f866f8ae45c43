"""The domain doc's worked example, to the cent.

Agreement Northwind AI <- Harbour Press, use ai-train, USD, commission 10 % (1,000 bp).
W1 "Salt Roads": Ana 7,000 bp, Harbour Press 3,000 bp.
W2 "The Quiet Key": Ben 5,000 bp, Chloe 2,500 bp, Harbour Press 2,500 bp.
"""

from decimal import Decimal

from core.money.rounding import to_minor_units
from settlement.allocation import AllocationResult, CarryState, allocate_pool
from settlement.rating import commission_split, rate_usage_line, recoup_advance

COMMISSION_BP = 1_000
SALT_ROADS = "W1"
QUIET_KEY = "W2"
ANA, BEN, CHLOE, HARBOUR = "ana", "ben", "chloe", "harbour-press"
SPLITS = {
    SALT_ROADS: {ANA: 7_000, HARBOUR: 3_000},
    QUIET_KEY: {BEN: 5_000, CHLOE: 2_500, HARBOUR: 2_500},
}
UPFRONT_FEE_MINOR = 120_000  # $1,200.00
RATE_PER_THOUSAND_TOKENS = Decimal("0.3")  # cents
OCTOBER_TOKENS = {SALT_ROADS: 12_000_000, QUIET_KEY: 4_000_000}


def distribute(amount_minor: int, *, weights: dict, carries: dict) -> tuple[int, AllocationResult]:
    commission, pool = commission_split(amount_minor=amount_minor, commission_bp=COMMISSION_BP)
    result = allocate_pool(pool_minor=pool, work_weights=weights, splits=SPLITS, carries=carries)
    assert commission + sum(result.allocations.values()) == amount_minor
    return commission, result


def distribute_upfront_fee() -> tuple[int, AllocationResult]:
    # Non-recoupable fee over the catalogue: no usage to weigh by, so works share equally.
    return distribute(UPFRONT_FEE_MINOR, weights=dict.fromkeys(SPLITS, Decimal(0)), carries={})


def october_usage() -> dict[str, Decimal]:
    return {
        work: rate_usage_line(
            metric="tokens_trained",
            quantity=tokens,
            rate_minor=RATE_PER_THOUSAND_TOKENS,
            revenue_share_bp=None,
        )
        for work, tokens in OCTOBER_TOKENS.items()
    }


def per_holder(allocations: dict) -> dict[str, int]:
    totals: dict[str, int] = {}
    for (_, holder), amount in allocations.items():
        totals[holder] = totals.get(holder, 0) + amount
    return totals


def test_a_upfront_fee_is_split_by_work_then_by_holder() -> None:
    commission, result = distribute_upfront_fee()
    assert commission == 12_000
    assert result.allocations == {
        (SALT_ROADS, ANA): 37_800,
        (SALT_ROADS, HARBOUR): 16_200,
        (QUIET_KEY, BEN): 27_000,
        (QUIET_KEY, CHLOE): 13_500,
        (QUIET_KEY, HARBOUR): 13_500,
    }
    assert sum(result.allocations[(SALT_ROADS, h)] for h in SPLITS[SALT_ROADS]) == 54_000
    assert sum(result.allocations[(QUIET_KEY, h)] for h in SPLITS[QUIET_KEY]) == 54_000
    assert sum(result.allocations.values()) == 108_000


def test_a_upfront_fee_leaves_nothing_to_carry() -> None:
    _, result = distribute_upfront_fee()
    assert all(carry.outstanding_exact == 0 for carry in result.carries.values())


def test_b_october_usage_is_rated_exactly() -> None:
    usage = october_usage()
    assert usage == {SALT_ROADS: Decimal(3_600), QUIET_KEY: Decimal(1_200)}
    assert to_minor_units(sum(usage.values(), Decimal(0))) == 4_800


def test_b_october_usage_is_split_by_usage_then_by_holder() -> None:
    usage = october_usage()
    _, after_fee = distribute_upfront_fee()
    commission, result = distribute(4_800, weights=usage, carries=after_fee.carries)
    assert commission == 480
    assert result.allocations == {
        (SALT_ROADS, ANA): 2_268,
        (SALT_ROADS, HARBOUR): 972,
        (QUIET_KEY, BEN): 540,
        (QUIET_KEY, CHLOE): 270,
        (QUIET_KEY, HARBOUR): 270,
    }
    assert (
        result.allocations[(SALT_ROADS, ANA)] + result.allocations[(SALT_ROADS, HARBOUR)] == 3_240
    )
    assert per_holder(result.allocations)[HARBOUR] == 1_242


def test_b_carry_state_after_october_is_whole_cents() -> None:
    _, after_fee = distribute_upfront_fee()
    _, result = distribute(4_800, weights=october_usage(), carries=after_fee.carries)
    assert result.carries[(SALT_ROADS, ANA)] == CarryState(
        entitled_exact=Decimal(37_800 + 2_268), allocated_minor=37_800 + 2_268
    )
    assert all(carry.outstanding_exact == 0 for carry in result.carries.values())


def test_c_usage_recoups_a_recoupable_advance_before_anything_is_owed() -> None:
    usage_due = to_minor_units(sum(october_usage().values(), Decimal(0)))
    recoup = recoup_advance(usage_due_minor=usage_due, unrecouped_advance_minor=UPFRONT_FEE_MINOR)
    assert recoup.offset_minor == 4_800
    assert recoup.payable_minor == 0
    assert recoup.unrecouped_after_minor == 115_200


def test_c_recouped_usage_brings_no_new_earnings() -> None:
    _, after_advance = distribute_upfront_fee()  # the advance is distributed like the fee
    recoup = recoup_advance(usage_due_minor=4_800, unrecouped_advance_minor=UPFRONT_FEE_MINOR)
    commission, result = distribute(
        recoup.payable_minor, weights=october_usage(), carries=after_advance.carries
    )
    assert commission == 0
    assert set(result.allocations.values()) == {0}
    assert result.carries == after_advance.carries
