"""allocate_pool and its stateless form, core.money.apportion, on hand-checked cases."""

import random
from decimal import Decimal
from fractions import Fraction
from math import floor

import pytest

from core.money import apportion
from settlement.allocation import (
    NO_CARRY,
    AllocationResult,
    CarryState,
    allocate_pool,
)


def allocate(
    pool: int, weights: dict, splits: dict, carries: dict | None = None
) -> AllocationResult:
    return allocate_pool(
        pool_minor=pool,
        work_weights={work: Decimal(weight) for work, weight in weights.items()},
        splits=splits,
        carries=carries or {},
    )


def run_periods(periods: list[tuple[int, dict]], splits: dict) -> list[AllocationResult]:
    results, carries = [], {}
    for pool, weights in periods:
        result = allocate(pool, weights, splits, carries)
        results.append(result)
        carries = result.carries
    return results


def owed(result: AllocationResult) -> dict:
    return {pair: Fraction(carry.outstanding_exact) for pair, carry in result.carries.items()}


# --- splitting one period ---------------------------------------------------------------------


def test_a_single_holder_gets_the_whole_pool() -> None:
    result = allocate(999, {"w": 1}, {"w": {"h": 10_000}})
    assert result.allocations == {("w", "h"): 999}
    assert result.carries == {
        ("w", "h"): CarryState(entitled_exact=Decimal(999), allocated_minor=999)
    }


def test_pool_follows_work_weights_then_basis_points() -> None:
    result = allocate(1_000, {1: 3, 2: 1}, {1: {"a": 5_000, "b": 5_000}, 2: {"a": 10_000}})
    assert result.allocations == {(1, "a"): 375, (1, "b"): 375, (2, "a"): 250}


def test_fractional_weights_are_exact() -> None:
    weights = {1: Decimal("0.0003"), 2: Decimal("0.0001")}
    result = allocate_pool(
        pool_minor=4, work_weights=weights, splits={1: {"a": 10_000}, 2: {"b": 10_000}}, carries={}
    )
    assert result.allocations == {(1, "a"): 3, (2, "b"): 1}


def test_remainders_are_carried_not_dropped() -> None:
    result = allocate(1, {1: 1}, {1: {"a": 5_000, "b": 5_000}})
    assert result.allocations == {(1, "a"): 1, (1, "b"): 0}
    assert owed(result) == {(1, "a"): Fraction(-1, 2), (1, "b"): Fraction(1, 2)}
    # Next period the unit goes to the holder who is owed.
    again = allocate(1, {1: 1}, {1: {"a": 5_000, "b": 5_000}}, result.carries)
    assert again.allocations == {(1, "a"): 0, (1, "b"): 1}
    assert set(owed(again).values()) == {0}


def test_repeating_fractions_are_recorded_to_18_places_and_sum_exactly() -> None:
    result = allocate(1, {1: 1, 2: 1, 3: 1}, {w: {"h": 10_000} for w in (1, 2, 3)})
    entitled = [carry.entitled_exact for carry in result.carries.values()]
    assert entitled == [
        Decimal("0.333333333333333334"),
        Decimal("0.333333333333333333"),
        Decimal("0.333333333333333333"),
    ]
    assert sum(entitled) == 1


def test_a_half_percent_holder_of_tiny_royalties_is_paid_its_due_over_time() -> None:
    splits = {"book": {"author": 9_950, "translator": 50}}
    results = run_periods([(1, {"book": 1})] * 400, splits)
    paid = sum(r.allocations[("book", "translator")] for r in results)
    assert paid == 2  # 0.5 % of 400 cents
    for period, result in enumerate(results, start=1):
        for carry in result.carries.values():
            assert abs(Fraction(carry.outstanding_exact)) < 1, period


def test_all_zero_weights_split_the_pool_equally_among_works() -> None:
    result = allocate(10, {1: 0, 2: 0}, {1: {"a": 10_000}, 2: {"b": 10_000}})
    assert result.allocations == {(1, "a"): 5, (2, "b"): 5}


def test_zero_weight_works_get_nothing_when_others_have_usage() -> None:
    result = allocate(10, {1: 0, 2: 7}, {1: {"a": 10_000}, 2: {"b": 10_000}})
    assert result.allocations == {(1, "a"): 0, (2, "b"): 10}


def test_zero_pool_gives_zero_allocations_and_keeps_the_carry() -> None:
    first = allocate(1, {1: 1}, {1: {"a": 5_000, "b": 5_000}})
    result = allocate(0, {1: 0}, {1: {"a": 5_000, "b": 5_000}}, first.carries)
    assert result.allocations == {(1, "a"): 0, (1, "b"): 0}
    assert result.carries == first.carries


def test_zero_pool_with_no_works_is_allowed() -> None:
    assert allocate(0, {}, {}) == AllocationResult(allocations={}, carries={})


def test_pairs_only_in_the_carry_state_stay_in_it_and_take_part() -> None:
    first = allocate(1, {1: 1}, {1: {"a": 5_000, "b": 5_000}})  # a paid ahead, b owed 1/2
    # Work 1 has no usage and is not listed this period; its pairs keep their carry.
    second = allocate(2, {2: 1}, {2: {"c": 7_500, "d": 2_500}}, first.carries)
    assert set(second.carries) == {(1, "a"), (1, "b"), (2, "c"), (2, "d")}
    assert second.carries[(1, "a")] == first.carries[(1, "a")]
    assert sum(second.allocations.values()) == 2
    assert sum(owed(second).values()) == 0
    assert all(-1 < value < 1 for value in owed(second).values())
    # When work 1 earns again, b's half cent is still there and is paid with it.
    third = allocate(1, {1: 1}, {1: {"a": 5_000, "b": 5_000}}, second.carries)
    assert third.allocations[(1, "b")] == 1


def test_huge_amounts_stay_exact() -> None:
    pool = 10**18 + 7
    weights = {1: Decimal("123456789.123456789"), 2: Decimal("0.000000001")}
    result = allocate_pool(
        pool_minor=pool,
        work_weights=weights,
        splits={1: {"a": 1, "b": 9_999}, 2: {"c": 10_000}},
        carries={},
    )
    assert sum(result.allocations.values()) == pool
    for pair, carry in result.carries.items():
        assert abs(Fraction(carry.entitled_exact) - carry.allocated_minor) < 1, pair


# --- tie-break order --------------------------------------------------------------------------


def test_ties_go_to_the_smaller_work_id_then_holder_id() -> None:
    splits = {2: {"b": 5_000, "a": 5_000}, 1: {"z": 10_000}}
    result = allocate(1, {2: 1, 1: 1}, splits)
    assert result.allocations == {(1, "z"): 1, (2, "a"): 0, (2, "b"): 0}
    result = allocate(1, {2: 1}, {2: {"b": 5_000, "a": 5_000}})
    assert result.allocations == {(2, "a"): 1, (2, "b"): 0}


def test_string_ids_tie_break_in_string_order() -> None:
    result = allocate(2, {"w": 1}, {"w": {"b": 2_500, "a": 2_500, "d": 2_500, "c": 2_500}})
    assert result.allocations == {("w", "a"): 1, ("w", "b"): 1, ("w", "c"): 0, ("w", "d"): 0}


def test_mapping_order_never_changes_the_result() -> None:
    rng = random.Random(4)
    works = list(range(30))
    splits = {w: {h: 2_500 for h in rng.sample(range(10), 4)} for w in works}
    weights = {w: Decimal(rng.randint(0, 9)) for w in works}
    baseline = allocate_pool(pool_minor=97, work_weights=weights, splits=splits, carries={})
    rng.shuffle(works)
    shuffled = allocate_pool(
        pool_minor=97,
        work_weights={w: weights[w] for w in works},
        splits={w: dict(reversed(splits[w].items())) for w in works},
        carries={},
    )
    assert shuffled == baseline
    assert list(shuffled.allocations) == sorted(shuffled.allocations)


def test_spare_units_go_by_deadline_not_by_fraction_alone() -> None:
    # 2 cents at 70/30: after one whole cent to "big", big is owed 0.4 and small 0.6. Big falls
    # a whole cent behind after (1 - 0.4) / 0.7 = 0.86 more cents, small after 0.4 / 0.3 = 1.33,
    # so the spare cent goes to big (plain largest fraction would pick small).
    result = allocate(2, {1: 1}, {1: {"big": 7_000, "small": 3_000}})
    assert result.allocations == {(1, "big"): 2, (1, "small"): 0}
    assert owed(result) == {(1, "big"): Fraction(-6, 10), (1, "small"): Fraction(6, 10)}


STABLE_SPLIT = {"h1": 50, "h2": 447, "h3": 4_472, "h4": 558, "h5": 4_473}
STABLE_POOLS = [3, 7, 1, 1, 5, 5, 7, 3, 5, 2, 2, 7, 1, 1, 7, 7, 1, 7, 1, 1, 1, 1, 5, 1, 2, 1]


def test_one_work_with_a_fixed_split_stays_within_one_unit_every_period() -> None:
    results = run_periods([(pool, {"w": 1}) for pool in STABLE_POOLS], {"w": STABLE_SPLIT})
    for result in results:
        assert all(-1 < value < 1 for value in owed(result).values())


def test_plain_largest_remainder_would_leave_a_holder_a_whole_unit_behind() -> None:
    """Why rule (b) orders spare units by deadline: on the same history, giving them to the
    largest fractions paints itself into a corner in period 26, where no allocation of the
    pool keeps everyone within one unit."""
    holders = sorted(STABLE_SPLIT)
    entitled = dict.fromkeys(holders, Fraction(0))
    paid = dict.fromkeys(holders, 0)
    cornered_in = None
    for period, pool in enumerate(STABLE_POOLS, start=1):
        for h in holders:
            entitled[h] += Fraction(pool * STABLE_SPLIT[h], 10_000)
        whole = {h: max(floor(entitled[h]) - paid[h], 0) for h in holders}
        if sum(whole.values()) > pool:
            cornered_in = period
            break
        for h in holders:
            paid[h] += whole[h]
        by_fraction = sorted(holders, key=lambda h: (-(entitled[h] - paid[h]), h))
        for h in by_fraction[: pool - sum(whole.values())]:
            paid[h] += 1
    assert cornered_in == 26


# --- what no rule can do ----------------------------------------------------------------------


def test_no_rule_keeps_four_pairs_within_one_unit_when_usage_shifts() -> None:
    """Guarantee 7 of the module docstring, concretely: a 1-cent pool per period, spread over
    the works not yet paid. Whoever gets the cent, the last work ends owed 1/4 + 1/3 + 1/2."""
    splits = {w: {"h": 10_000} for w in range(4)}
    carries: dict = {}
    unpaid = set(range(4))
    for _ in range(3):
        weights = {w: Decimal(int(w in unpaid)) for w in range(4)}
        result = allocate_pool(pool_minor=1, work_weights=weights, splits=splits, carries=carries)
        carries = result.carries
        unpaid -= {work for (work, _), units in result.allocations.items() if units}
    (last,) = unpaid
    assert Fraction(carries[(last, "h")].outstanding_exact) == pytest.approx(
        Fraction(13, 12), abs=1e-17
    )
    # It is first in line for the agreement's next cent, whichever work earns it.
    result = allocate_pool(
        pool_minor=1, work_weights={0: Decimal(1)}, splits={0: {"h": 10_000}}, carries=carries
    )
    assert result.allocations[(last, "h")] == 1


def test_a_huge_pool_after_a_shortfall_is_still_fast_and_pays_the_most_owed() -> None:
    splits = {w: {"h": 10_000} for w in range(4)}
    carries = harmonic_shortfall(splits)  # pair 3 owed 13/12, pairs 0 and 1 paid ahead
    pool = 10**12
    result = allocate_pool(
        pool_minor=pool, work_weights={3: Decimal(1)}, splits={3: splits[3]}, carries=carries
    )
    assert result.allocations == {(0, "h"): 0, (1, "h"): 0, (2, "h"): 0, (3, "h"): pool}
    assert owed(result)[(3, "h")] == owed_before(carries)[(3, "h")]


def harmonic_shortfall(splits: dict) -> dict:
    carries: dict = {}
    for paid in range(3):
        weights = {w: Decimal(int(w >= paid)) for w in splits}
        carries = allocate_pool(
            pool_minor=1, work_weights=weights, splits=splits, carries=carries
        ).carries
    return carries


def owed_before(carries: dict) -> dict:
    return {pair: Fraction(carry.outstanding_exact) for pair, carry in carries.items()}


# --- validation -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"pool_minor": -1}, ValueError, "pool_minor must not be negative"),
        ({"pool_minor": True}, TypeError, "pool_minor must be an int"),
        ({"pool_minor": 1.0}, TypeError, "pool_minor must be an int"),
        ({"splits": {1: {"a": 9_999}}}, ValueError, "sum to 9999 bp, expected 10000"),
        ({"splits": {1: {"a": 10_001, "b": -1}}}, ValueError, "negative share"),
        ({"splits": {1: {"a": 10_000.0}}}, TypeError, "basis points of holder 'a'"),
        ({"splits": {2: {"a": 10_000}}}, ValueError, "must name the same works"),
        ({"work_weights": {1: 0.5}}, TypeError, "weight of work 1 must be a Decimal"),
        ({"work_weights": {1: Decimal("NaN")}}, ValueError, "must be finite"),
        ({"work_weights": {1: Decimal(-1)}}, ValueError, "must not be negative"),
    ],
)
def test_rejects_bad_input(kwargs: dict, error: type, message: str) -> None:
    arguments = {
        "pool_minor": 5,
        "work_weights": {1: Decimal(1)},
        "splits": {1: {"a": 10_000}},
        "carries": {},
    }
    with pytest.raises(error, match=message):
        allocate_pool(**{**arguments, **kwargs})


def test_rejects_a_pool_with_nowhere_to_go() -> None:
    with pytest.raises(ValueError, match="no works to allocate it to"):
        allocate_pool(pool_minor=1, work_weights={}, splits={}, carries={})


@pytest.mark.parametrize(
    ("carry", "message"),
    [
        (CarryState(entitled_exact=Decimal("0.5"), allocated_minor=0), "does not balance"),
        (
            CarryState(entitled_exact=Decimal("1E-19"), allocated_minor=0),
            "more than 18 decimal places",
        ),
        (CarryState(entitled_exact=Decimal(0), allocated_minor=1), "corrupt"),
        (CarryState(entitled_exact=Decimal(-1), allocated_minor=-1), "corrupt"),
        (
            CarryState(entitled_exact=Decimal("Infinity"), allocated_minor=0),
            "finite Decimal and an int",
        ),
        (CarryState(entitled_exact=0.5, allocated_minor=0), "finite Decimal and an int"),  # type: ignore[arg-type]
    ],
)
def test_rejects_carry_state_we_could_not_have_produced(carry: CarryState, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        allocate_pool(
            pool_minor=1,
            work_weights={1: Decimal(1)},
            splits={1: {"a": 10_000}},
            carries={(1, "a"): carry},
        )


def test_rejects_ids_that_cannot_be_ordered() -> None:
    with pytest.raises(TypeError, match="mutually comparable"):
        allocate(1, {1: 1, "2": 1}, {1: {"a": 10_000}, "2": {"a": 10_000}})


def test_carry_state_reports_what_is_owed() -> None:
    assert CarryState(
        entitled_exact=Decimal("2.25"), allocated_minor=3
    ).outstanding_exact == Decimal("-0.75")
    assert NO_CARRY.outstanding_exact == 0


# --- apportion: the same rule without carry (core.money.apportion) -----------------------------


def test_apportion_exact_shares() -> None:
    assert apportion(amount_minor=54_000, weights={"ana": 7_000, "harbour": 3_000}) == {
        "ana": 37_800,
        "harbour": 16_200,
    }


def test_apportion_gives_spare_units_by_deadline_then_key_order() -> None:
    shares = {"a": 3_333, "b": 3_333, "c": 3_334}
    assert apportion(amount_minor=101, weights=shares) == {"a": 34, "b": 33, "c": 34}
    assert apportion(amount_minor=1, weights=shares) == {"a": 0, "b": 0, "c": 1}
    # Equal claims: the key that comes first in the mapping, whatever it is called.
    assert apportion(amount_minor=2, weights={"y": 5_000, "x": 5_000}) == {"x": 1, "y": 1}
    assert apportion(amount_minor=1, weights={"y": 5_000, "x": 5_000}) == {"x": 0, "y": 1}
    assert apportion(amount_minor=1, weights={10: 1, 9: 1}) == {10: 1, 9: 0}


def test_apportion_is_the_quota_method_like_the_settlement_rule() -> None:
    # 8.6 / 0.7 / 0.7: the largest holder is a unit short later than the others would be
    # (0.4 / 86 % of a unit of pool against 0.3 / 7 %), so it gets the first spare unit. The
    # textbook largest remainder (by fraction alone) would give 8 / 1 / 1.
    shares = {"a": 8_600, "b": 700, "c": 700}
    assert apportion(amount_minor=10, weights=shares) == {"a": 9, "b": 1, "c": 0}
    from_empty_carry = allocate(10, {1: 1}, {1: shares}).allocations
    assert from_empty_carry == {(1, "a"): 9, (1, "b"): 1, (1, "c"): 0}


def test_apportion_mirrors_negative_amounts() -> None:
    shares = {"a": 3_333, "b": 3_333, "c": 3_334}
    assert apportion(amount_minor=-101, weights=shares) == {"a": -34, "b": -33, "c": -34}


def test_apportion_validates_its_input() -> None:
    with pytest.raises(TypeError, match="amount_minor must be an int"):
        apportion(amount_minor=Decimal(1), weights={"a": 10_000})  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="must not be negative"):
        apportion(amount_minor=1, weights={"a": 1, "b": -1})
    with pytest.raises(ValueError, match="no key has a positive weight"):
        apportion(amount_minor=1, weights={"a": 0})
