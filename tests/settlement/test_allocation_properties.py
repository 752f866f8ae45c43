"""Properties of allocate_pool over random agreement histories (see the module docstring of
settlement.allocation for the guarantees and their proofs).

Every period: commission + allocations == amount; no allocation is negative; no pair is paid a
whole unit ahead; every pair is within one unit whenever any allocation could manage that;
the largest amounts owed respect the harmonic bound; recorded entitlements track the exact
fractions. Stable proportions and agreements of one or two pairs: always within one unit.
"""

from __future__ import annotations

import os
import random
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction
from functools import cache
from math import floor

from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.errors import InvalidArgument

from core.money import apportion
from settlement.allocation import allocate_pool
from settlement.rating import commission_split


def profile() -> settings:
    """The profile named by HYPOTHESIS_PROFILE ("ci" by default; registered in conftest)."""
    try:
        return settings.get_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
    except InvalidArgument:
        return settings.get_profile("ci")


def examples(share: float) -> settings:
    """The profile, with ``share`` of its examples (the main properties get all of them)."""
    return settings(profile(), max_examples=max(50, int(profile().max_examples * share)))


@cache
def harmonic(n: int) -> Fraction:
    return harmonic(n - 1) + Fraction(1, n) if n else Fraction(0)


# --- strategies -----------------------------------------------------------------------------
#
# Hypothesis draws the shape of an agreement (ids, works, split snapshots with 1-bp and 50-bp
# shares, number of periods) and a seed; the periods' details (amounts from 0 to 10**13, usage
# with zeros, commission, re-snapshots) come from random.Random(seed), biased to the edge
# cases. Drawing every detail through Hypothesis cost ~10x more time per example, which would
# have meant ~10x fewer histories in the same budget.

special_shares = st.one_of(st.sampled_from([1, 50, 2_500, 0]), st.integers(0, 10_000))


@st.composite
def split_snapshots(draw, holders: list) -> dict:
    """1-4 holders whose basis points sum to 10,000, often with 1-bp and 50-bp shares."""
    chosen = draw(st.lists(st.sampled_from(holders), min_size=1, max_size=4, unique=True))
    return fill_split(chosen, [draw(special_shares) for _ in chosen[:-1]])


def fill_split(holders: list, shares: list[int]) -> dict:
    """The given shares (capped so they fit) and the rest of 10,000 bp to the last holder."""
    remaining, split = 10_000, {}
    for holder, bp in zip(holders, shares, strict=False):
        split[holder] = min(bp, remaining)
        remaining -= split[holder]
    split[holders[-1]] = remaining
    return split


def random_split(rng: random.Random, holders: list) -> dict:
    chosen = rng.sample(holders, rng.randint(1, 4))
    return fill_split(chosen, [random_share(rng) for _ in chosen[:-1]])


def random_share(rng: random.Random) -> int:
    return rng.choice([1, 50, 2_500, 0, rng.randint(0, 10_000)])


def random_amount(rng: random.Random) -> int:
    return rng.choice([0, 1, 2, 3, rng.randint(0, 200), rng.randint(0, 10**13), 10**13])


def random_commission(rng: random.Random) -> int:
    return rng.choice([0, 1_000, 10_000, rng.randint(0, 10_000)])


def random_weight(rng: random.Random) -> Decimal:
    return rng.choice(
        [
            Decimal(0),
            Decimal(rng.randint(0, 10)),
            Decimal(rng.randint(0, 10**13)).scaleb(-4),  # up to 1e9 with 4 places
        ]
    )


@dataclass
class Period:
    amount: int
    commission_bp: int
    weights: dict
    splits: dict


@dataclass
class History:
    periods: list[Period]


@st.composite
def agreement_ids(draw) -> tuple[list, list]:
    if draw(st.booleans()):
        return list(range(1, 6)), list(range(10, 17))
    return ["w-a", "w-b", "w-c", "w-d", "w-e"], ["ana", "ben", "chloe", "dev", "harbour", "x", "y"]


period_counts = st.integers(1, 50)
seeds = st.integers(0, 2**32 - 1)


@st.composite
def shifting_histories(draw, max_periods: int = 50) -> History:
    """Works come and go, usage shifts, splits are re-snapshotted now and then."""
    work_ids, holder_ids = draw(agreement_ids())
    works = work_ids[: draw(st.integers(1, len(work_ids)))]
    splits = {work: draw(split_snapshots(holder_ids)) for work in works}
    rng = random.Random(draw(seeds))
    periods = []
    for _ in range(draw(st.integers(1, max_periods))):
        used = rng.sample(works, rng.randint(1, len(works)))
        if rng.randrange(10) == 0:
            splits = {**splits, used[0]: random_split(rng, holder_ids)}
        weights = {work: random_weight(rng) for work in used}
        periods.append(
            Period(
                random_amount(rng), random_commission(rng), weights, {w: splits[w] for w in used}
            )
        )
    return History(periods)


@st.composite
def stable_histories(draw) -> History:
    """Fixed splits and usage in fixed ratios (or one work); only the amounts vary."""
    work_ids, holder_ids = draw(agreement_ids())
    works = work_ids[: draw(st.integers(1, 3))]
    splits = {work: draw(split_snapshots(holder_ids)) for work in works}
    ratios = {work: draw(st.integers(1, 10**6)) for work in works}
    rng = random.Random(draw(seeds))
    periods = []
    for _ in range(draw(period_counts)):
        scale = rng.randint(1, 10**4)
        weights = {work: Decimal(ratio * scale) for work, ratio in ratios.items()}
        periods.append(Period(random_amount(rng), random_commission(rng), weights, splits))
    return History(periods)


@st.composite
def two_pair_histories(draw) -> History:
    """Agreements of at most two (work, holder) pairs, with any usage at all."""
    if draw(st.booleans()):
        splits = {1: draw(split_snapshots([10, 11]))}
    else:
        splits = {1: {10: 10_000}, 2: {10: 10_000}}
    rng = random.Random(draw(seeds))
    periods = [
        Period(
            random_amount(rng),
            random_commission(rng),
            {work: random_weight(rng) for work in splits},
            splits,
        )
        for _ in range(draw(period_counts))
    ]
    return History(periods)


# --- running a history, checked in exact integer units of 1e-18 ------------------------------

SCALE = 10**18  # recorded units per minor unit


def recorded(value: Decimal) -> int:
    numerator, denominator = value.as_integer_ratio()
    assert SCALE % denominator == 0, "entitlements are recorded to 18 places"
    return numerator * (SCALE // denominator)


@dataclass
class Step:
    pool: int
    entitled_before: dict  # pair -> E going in, in 1e-18 units
    paid_before: dict  # pair -> P going in
    entitled: dict  # pair -> E after the period
    paid: dict  # pair -> P after the period
    allocations: dict
    exact_added: dict  # pair -> this period's exact entitlement (a Fraction, in 1e-18 units)

    def owed(self) -> dict:
        return {pair: e - self.paid[pair] * SCALE for pair, e in self.entitled.items()}


def exact_period_entitlements(pool: int, period: Period) -> dict:
    total = sum((Fraction(w) for w in period.weights.values()), Fraction(0))
    shares = {
        w: (Fraction(v) / total if total else Fraction(1, len(period.weights)))
        for w, v in period.weights.items()
    }
    return {
        (work, holder): pool * SCALE * shares[work] * Fraction(bp, 10_000)
        for work, split in period.splits.items()
        for holder, bp in split.items()
    }


def run(history: History) -> list[Step]:
    steps, carries = [], {}
    for period in history.periods:
        commission, pool = commission_split(
            amount_minor=period.amount, commission_bp=period.commission_bp
        )
        result = allocate_pool(
            pool_minor=pool, work_weights=period.weights, splits=period.splits, carries=carries
        )
        assert commission + sum(result.allocations.values()) == period.amount
        steps.append(
            Step(
                pool=pool,
                entitled_before={p: recorded(c.entitled_exact) for p, c in carries.items()},
                paid_before={p: c.allocated_minor for p, c in carries.items()},
                entitled={p: recorded(c.entitled_exact) for p, c in result.carries.items()},
                paid={p: c.allocated_minor for p, c in result.carries.items()},
                allocations=result.allocations,
                exact_added=exact_period_entitlements(pool, period),
            )
        )
        carries = result.carries
    return steps


def within_one_unit_was_possible(step: Step) -> bool:
    """Guarantee 4's test, computed independently from the new entitlements."""
    needed = sum(
        max(e // SCALE - step.paid_before.get(pair, 0), 0) for pair, e in step.entitled.items()
    )
    return needed <= step.pool


def one_unit_at_a_time_to_the_most_owed(step: Step) -> dict:
    """Rule (c) as literally stated, for small pools."""
    amounts_owed = {
        pair: e - step.paid_before.get(pair, 0) * SCALE for pair, e in step.entitled.items()
    }
    paid = dict.fromkeys(amounts_owed, 0)
    rank = {pair: index for index, pair in enumerate(sorted(amounts_owed))}
    for _ in range(step.pool):
        most_owed = max(rank, key=lambda pair: (amounts_owed[pair], -rank[pair]))
        amounts_owed[most_owed] -= SCALE
        paid[most_owed] += 1
    return paid


@cache
def top_k_bound(n: int, k: int) -> int:
    """Guarantee 6: the k largest amounts owed sum to at most k (1 + H(n) - H(k)) units."""
    return floor(k * (1 + harmonic(n) - harmonic(k)) * SCALE)


def check_period(step: Step) -> None:
    allocations = step.allocations
    assert sum(allocations.values()) == step.pool
    assert min(allocations.values(), default=0) >= 0
    assert set(allocations) == set(step.entitled) >= set(step.entitled_before)
    assert all(
        step.paid[p] == step.paid_before.get(p, 0) + units for p, units in allocations.items()
    )
    amounts_owed = step.owed()
    assert sum(amounts_owed.values()) == 0
    assert all(value > -SCALE for value in amounts_owed.values())  # never a whole unit ahead
    if within_one_unit_was_possible(step):
        assert all(value < SCALE for value in amounts_owed.values())
    elif step.pool <= 300:
        assert allocations == one_unit_at_a_time_to_the_most_owed(step)
    running, n = 0, len(amounts_owed)
    for k, value in enumerate(sorted(amounts_owed.values(), reverse=True), start=1):
        running += value
        assert running <= top_k_bound(n, k)
    for pair, e in step.entitled.items():
        added = e - step.entitled_before.get(pair, 0)
        assert abs(added - step.exact_added.get(pair, 0)) < 1  # recorded within 1e-18


def within_one_unit(step: Step) -> bool:
    return all(-SCALE < value < SCALE for value in step.owed().values())


# --- properties -------------------------------------------------------------------------------


@examples(1)
@given(shifting_histories())
def test_any_history_conserves_money_and_bounds_what_is_owed(history: History) -> None:
    # Each period's recorded entitlement is within 1e-18 of the exact fraction (checked in
    # check_period), so after n periods the cumulative one is within n x 1e-18.
    for step in run(history):
        check_period(step)


@examples(0.25)
@given(stable_histories())
def test_stable_proportions_keep_every_pair_within_one_unit(history: History) -> None:
    assert all(within_one_unit(step) for step in run(history))


@examples(0.25)
@given(two_pair_histories())
def test_one_or_two_pairs_are_always_within_one_unit(history: History) -> None:
    assert all(within_one_unit(step) for step in run(history))


@examples(0.1)
@given(shifting_histories(max_periods=8), st.randoms(use_true_random=False))
def test_same_input_same_output_whatever_the_mapping_order(history: History, rng) -> None:
    carries: dict = {}
    for period in history.periods:
        _, pool = commission_split(amount_minor=period.amount, commission_bp=period.commission_bp)
        result = allocate_pool(
            pool_minor=pool, work_weights=period.weights, splits=period.splits, carries=carries
        )
        again = allocate_pool(
            pool_minor=pool,
            work_weights=dict(shuffled(period.weights.items(), rng)),
            splits={
                w: dict(shuffled(s.items(), rng)) for w, s in shuffled(period.splits.items(), rng)
            },
            carries=dict(shuffled(carries.items(), rng)),
        )
        assert again == result
        assert list(again.allocations) == list(result.allocations)
        carries = result.carries


def shuffled(items, rng) -> list:
    items = list(items)
    rng.shuffle(items)
    return items


@examples(0.25)
@given(shifting_histories(max_periods=12))
def test_spare_units_go_to_the_soonest_deadlines(history: History) -> None:
    """Rule (b), checked exactly: when every pair could be brought within one unit, no pair
    owed a fraction was passed over for one whose deadline is later (beyond 1e-15)."""
    for step in run(history):
        if not within_one_unit_was_possible(step) or step.pool == 0:
            continue
        deadlines = spare_unit_deadlines(step)
        paid = [d for d, got_spare in deadlines if got_spare]
        passed_over = [d for d, got_spare in deadlines if not got_spare]
        if paid and passed_over:
            assert max(paid) <= min(passed_over) + Fraction(1, 10**15)


def spare_unit_deadlines(step: Step) -> list[tuple[Fraction, bool]]:
    """(deadline, got a spare unit) for each pair owed a fraction after its whole units."""
    cumulative_pool = sum(step.entitled.values())
    found = []
    for pair, e in step.entitled.items():
        paid_before = step.paid_before.get(pair, 0)
        whole = max(e // SCALE - paid_before, 0)
        fraction = Fraction(e - (paid_before + whole) * SCALE, SCALE)
        if fraction <= 0:
            continue
        added = e - step.entitled_before.get(pair, 0)
        rate = max(Fraction(added, step.pool * SCALE), Fraction(e, cumulative_pool))
        spare = step.allocations[pair] - whole
        found.append(((1 - fraction) / rate, spare == 1))
    return found


@examples(0.25)
@given(
    st.one_of(
        st.lists(st.integers(0, 10**6), min_size=2, max_size=12, unique=True),
        st.lists(st.text("abc", min_size=1, max_size=3), min_size=2, max_size=12, unique=True),
    ),
    st.data(),
)
def test_equal_claims_are_broken_by_ascending_id(work_ids: list, data) -> None:
    pool = data.draw(st.integers(1, len(work_ids) - 1))
    result = allocate_pool(
        pool_minor=pool,
        work_weights=dict.fromkeys(work_ids, Decimal(7)),
        splits={work: {"h": 10_000} for work in work_ids},
        carries={},
    )
    winners = [work for (work, _), units in result.allocations.items() if units]
    assert winners == sorted(work_ids)[:pool]


@examples(0.25)
@given(
    st.integers(-(10**15), 10**15),
    st.lists(st.integers(0, 20), min_size=1, max_size=6, unique=True).flatmap(split_snapshots),
)
def test_apportion_by_basis_points_conserves_and_mirrors(amount: int, shares: dict) -> None:
    parts = apportion(amount_minor=amount, weights=shares)
    assert sum(parts.values()) == amount
    assert all(abs(parts[h] - Fraction(amount * bp, 10_000)) < 1 for h, bp in shares.items())
    assert apportion(amount_minor=-amount, weights=shares) == {h: -v for h, v in parts.items()}
