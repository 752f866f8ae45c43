"""Splitting an integer amount among rights holders: the rule everything depends on.

``allocate_pool`` splits one agreement's pool for a period (integer minor units, after
commission) among its (work, rights holder) pairs and carries every sub-minor-unit remainder
forward per pair. For one-off amounts, ``core.money.apportion.apportion`` is the same rule
started from an empty carry: both run the steps that module holds (``largest_remainder`` to
record entitlements, ``carry_forward_step`` for rules a to c below), so a pool allocated from
an empty carry and the same split apportioned agree unit for unit.

Exact entitlement
-----------------
This period's entitlement of pair (w, h) is ``pool * weight(w) / sum(weights) * bp(w, h) /
10,000``; if every weight is zero but the pool is not, the works share equally. That fraction
can repeat forever, so it is recorded to ``ENTITLEMENT_PLACES`` (18) decimal places of a minor
unit: the pool is apportioned at that scale by largest remainder (ties to the smaller
(work id, holder id)), so the recorded entitlements sum to the pool *exactly* and each is
within 1e-18 of the true fraction (after a trillion periods a pair would be a millionth of a
minor unit off). All arithmetic runs on integers scaled by 10**18; no decimal context rounds.

Carry state
-----------
Per pair, ``CarryState(entitled_exact=E, allocated_minor=P)``: E the cumulative recorded
entitlement (a Decimal with at most 18 places; persist as ``numeric(..., 18)``), P the
cumulative integer allocation (``bigint``). ``E - P`` is what the pair is owed (negative: paid
ahead). Across an agreement these sum to exactly zero; the function checks that, so pass the
agreement's *complete* carry state. Pairs that appear only in ``carries`` (no usage or no split
this period) still take part with a zero entitlement, so a pair that is owed is paid from the
agreement's next money: remainders are never dropped.

The rule: largest remainder on the cumulative entitlement, spare units by deadline
----------------------------------------------------------------------------------
Add this period's entitlements to E. Then:

a. Whole units: each pair gets ``floor(E) - P`` units when that is positive, so no one is left
   a whole unit behind.
b. Spare units (the pool minus (a)) go one each to pairs still owed a fraction, soonest
   *deadline* first: the deadline is how much more pool must arrive before the pair is owed a
   whole unit, ``(1 - owed fraction) / rate``, with rate its share of each unit of pool (the
   larger of this period's share and its cumulative share). Ties: the larger owed fraction,
   then the smaller ``(work id, holder id)``; mapping order never matters. (Ordering by
   fraction alone, the textbook largest remainder, lets a large holder fall behind while a
   1-bp holder with a big fraction is paid; see guarantee 5.) In a single period from an
   empty carry this is Balinski and Young's quota method.
c. If (a) needs more units than the pool holds (possible only when usage shifts between works,
   see 5 and 7), the pool instead goes one unit at a time to the pair owed the most, ties to the
   smaller (work id, holder id).
All of this is O(n log n) in the number of pairs.

Guarantees (N = pairs in the agreement's carry state), with proof sketches
--------------------------------------------------------------------------
1. Conservation: exactly ``pool_minor`` units are handed out, so commission + allocations is
   the amount split by ``rating.commission_split``.
2. No negative allocation: units are only ever added.
3. Never paid a whole unit ahead: ``P - E < 1`` always. (a) and (b) pay only what is owed or a
   fraction owed. In (c) the amounts owed sum to the units left, so while any remain the
   largest is positive and its pair ends above -1. Pairs that get nothing only gain.
4. Within one unit whenever possible: an allocation with every pair inside ``(E - 1, E + 1)``
   and no negative part exists iff (a) fits in the pool (each new P must lie in
   ``[max(P, floor E), ceil E]`` and the ceilings sum to at least the cumulative pool), and
   then (a) and (b) produce one.
5. Within one unit for ever when proportions are stable from the first period (one work with
   an unchanged split, or works whose usage keeps the same ratios). See the k-th unit owed to
   a pair as a job that may be paid once E > k - 1 (by 3) and must be paid by the first period
   end with E >= k. With fixed proportions these windows are known in advance, a schedule
   meeting all of them exists (the quota method, Balinski and Young 1975), and paying released
   jobs earliest deadline first meets every deadline whenever any schedule does. Rule (b) is
   exactly that order (both rate estimates equal the fixed share), so (c) never runs. (Up to
   the 1e-18 recording precision.)
6. Bounded in every case: after every period the k largest amounts owed sum to at most
   ``k * (1 + H(N) - H(k))``, H the harmonic numbers; so no pair is ever owed more than H(N)
   units (1.83 for N = 3, 2.08 for N = 4, about 13 for N = 250,000). Induction from the empty
   carry: a period settled by (a) and (b) leaves every pair under one unit, within the bound.
   For (c), let A be the final top k and B the b other pairs that got units. All the pool went
   to A or B and at most the pool was added to them, so ``sum_A + sum_B`` (final) is at most
   the bound for k + b pairs before the period, ``(k + b)(1 + H(N) - H(k + b))``. Each pair of B
   was last paid while owed the most, so it ends owed at least ``max_A - 1``. Together,
   ``avg_A <= 1 + H(N) - H(k + b) + b / (k + b) <= 1 + H(N) - H(k)``. (A pair added later
   behaves as if it had been there from the start, owed nothing.) With one or two pairs (c)
   never runs (the whole parts of ``a`` and ``pool - a`` add up to at most the pool), so they
   are always within one unit.
7. No rule does better than H(N) - 1: with N single-holder works and a 1-unit pool each period
   spread evenly over the works not yet paid, any rule keeping 1 to 3 pays one new pair per
   period and the last ends owed ``1/N + ... + 1/2 = H(N) - 1``, 13/12 units for N = 4. So "each
   pair always within one unit over any sequence of periods" is impossible once an agreement
   has four or more pairs whose usage shifts between periods; this module keeps 1 to 4
   absolutely, 5 for stable proportions, and 6 otherwise, and the most-owed are paid first.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Generic, TypeVar

from core.money.apportion import (
    PER_MINOR_UNIT,
    RECORDED_PLACES,
    carry_forward_step,
    integer_weights,
    largest_remainder,
)
from core.money.rounding import exact_arithmetic

ENTITLEMENT_PLACES = RECORDED_PLACES
"""Decimal places of a minor unit to which entitlements are recorded (18)."""

BASIS_POINTS_WHOLE = 10_000
"""Basis points in 100 %; every split sums to this."""

_PER_MINOR_UNIT = PER_MINOR_UNIT  # recorded entitlement units per minor unit

WorkId = TypeVar("WorkId", bound=Hashable)
HolderId = TypeVar("HolderId", bound=Hashable)


@dataclass(frozen=True, slots=True)
class CarryState:
    """What one (work, rights holder) pair has been entitled to and paid, cumulatively."""

    entitled_exact: Decimal
    """Cumulative recorded entitlement E in minor units, at most 18 decimal places."""
    allocated_minor: int
    """Cumulative integer allocation P in minor units."""

    @property
    def outstanding_exact(self) -> Decimal:
        """``E - P``: still owed to the holder when positive, paid ahead when negative."""
        with exact_arithmetic():
            return self.entitled_exact - self.allocated_minor


NO_CARRY = CarryState(entitled_exact=Decimal(0), allocated_minor=0)
"""The carry state of a pair that has never been entitled to anything."""


@dataclass(frozen=True, slots=True)
class AllocationResult(Generic[WorkId, HolderId]):
    """One period's integer allocations and the carry state to persist for the next."""

    allocations: dict[tuple[WorkId, HolderId], int]
    """Minor units per (work, holder) this period, for every pair of the agreement."""
    carries: dict[tuple[WorkId, HolderId], CarryState]
    """The complete new carry state; pass it back in next period."""


def allocate_pool(
    *,
    pool_minor: int,
    work_weights: Mapping[WorkId, Decimal],
    splits: Mapping[WorkId, Mapping[HolderId, int]],
    carries: Mapping[tuple[WorkId, HolderId], CarryState],
) -> AllocationResult[WorkId, HolderId]:
    """Split one agreement's pool among its (work, holder) pairs; see the module docstring."""
    _require_pool(pool_minor)
    _require_splits_match_works(splits=splits, work_weights=work_weights)
    pairs = _ordered_pairs(splits=splits, carries=carries)
    entitled, allocated = _read_carries(pairs=pairs, carries=carries)
    period = _period_entitlements(
        pairs=pairs,
        pool_minor=pool_minor,
        weights=_integer_weights(work_weights, pool_minor),
        splits=splits,
    )
    entitled = [before + added for before, added in zip(entitled, period, strict=True)]
    units = carry_forward_step(
        entitled=entitled, allocated=allocated, period=period, units=pool_minor
    )
    return _result(
        pairs=pairs,
        carries=carries,
        entitled=entitled,
        period=period,
        allocated=allocated,
        units=units,
    )


# --- validation -------------------------------------------------------------------------


def _require_int(value: int, *, name: str) -> None:
    # bool is an int subclass; True cents is a bug, not an amount.
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}")


def _require_pool(pool_minor: int) -> None:
    _require_int(pool_minor, name="pool_minor")
    if pool_minor < 0:
        # Reversals are booked as their own negative entries, not fed through the carry.
        raise ValueError(f"pool_minor must not be negative, got {pool_minor}")


def _require_shares(shares: Mapping[HolderId, int], *, owner: str) -> None:
    bps = shares.values()
    if sum(bps) == BASIS_POINTS_WHOLE and all(type(bp) is int and bp >= 0 for bp in bps):
        return  # the usual case, checked cheaply; called once per work per period
    for holder, bp in shares.items():
        _require_int(bp, name=f"basis points of holder {holder!r} in {owner}")
        if bp < 0:
            raise ValueError(f"{owner}: holder {holder!r} has a negative share ({bp} bp)")
    raise ValueError(
        f"{owner}: shares sum to {sum(bps)} bp, expected {BASIS_POINTS_WHOLE} bp (100 %)"
    )


def _require_splits_match_works(
    *, splits: Mapping[WorkId, Mapping[HolderId, int]], work_weights: Mapping[WorkId, Decimal]
) -> None:
    if splits.keys() != work_weights.keys():
        missing = sorted(map(repr, work_weights.keys() - splits.keys()))
        extra = sorted(map(repr, splits.keys() - work_weights.keys()))
        raise ValueError(
            "splits and work_weights must name the same works; "
            f"no split for {missing}, no weight for {extra}"
        )
    for work, shares in splits.items():
        _require_shares(shares, owner=f"split of work {work!r}")


def _require_weight(work: Hashable, weight: Decimal) -> None:
    if isinstance(weight, bool) or not isinstance(weight, (Decimal, int)):
        raise TypeError(f"weight of work {work!r} must be a Decimal, got {type(weight).__name__}")
    if isinstance(weight, Decimal) and not weight.is_finite():
        raise ValueError(f"weight of work {work!r} must be finite, got {weight}")
    if weight < 0:
        raise ValueError(f"weight of work {work!r} must not be negative, got {weight}")


def _carry_in_units(pair: Hashable, carry: CarryState) -> tuple[int, int]:
    """(E in 1e-18 units, P) of one pair's carry, after checking it could have come from us."""
    entitled, allocated = carry.entitled_exact, carry.allocated_minor
    if type(entitled) is not Decimal or not entitled.is_finite() or type(allocated) is not int:
        raise ValueError(f"carry of {pair!r} must hold a finite Decimal and an int, got {carry!r}")
    numerator, denominator = entitled.as_integer_ratio()
    if _PER_MINOR_UNIT % denominator:
        raise ValueError(
            f"carry of {pair!r}: entitled_exact {entitled} has more than "
            f"{ENTITLEMENT_PLACES} decimal places"
        )
    units = numerator * (_PER_MINOR_UNIT // denominator)
    # Never negative, and never paid ahead by a whole unit (guarantee 3).
    if units < 0 or allocated < 0 or allocated * _PER_MINOR_UNIT - units >= _PER_MINOR_UNIT:
        raise ValueError(
            f"carry of {pair!r} is corrupt: allocated {allocated} minor units "
            f"against an entitlement of {entitled}"
        )
    return units, allocated


# --- the steps of allocate_pool -----------------------------------------------------------


def _sorted_ids(ids: Iterable[Hashable]) -> list:
    try:
        return sorted(ids)
    except TypeError as error:
        raise TypeError(
            f"ids must be mutually comparable (all ints or all strings): {error}"
        ) from None


def _ordered_pairs(
    *,
    splits: Mapping[WorkId, Mapping[HolderId, int]],
    carries: Mapping[tuple[WorkId, HolderId], CarryState],
) -> list[tuple[WorkId, HolderId]]:
    """Every pair of the agreement, in tie-break order: (work id, holder id) ascending."""
    # Sorting works, then each work's few holders, is the tuple order at half the cost.
    holders_by_work = {work: set(shares) for work, shares in splits.items()}
    for work, holder in carries:
        holders_by_work.setdefault(work, set()).add(holder)
    return [
        (work, holder)
        for work in _sorted_ids(holders_by_work)
        for holder in _sorted_ids(holders_by_work[work])
    ]


def _read_carries(
    *, pairs: list[tuple[WorkId, HolderId]], carries: Mapping[tuple[WorkId, HolderId], CarryState]
) -> tuple[list[int], list[int]]:
    """(entitled, allocated) per pair, entitled in 1e-18 units; checks the state is whole."""
    entitled: list[int] = []
    allocated: list[int] = []
    for pair in pairs:
        e, p = _carry_in_units(pair, carries.get(pair, NO_CARRY))
        entitled.append(e)
        allocated.append(p)
    if sum(entitled) != sum(allocated) * _PER_MINOR_UNIT:
        raise ValueError(
            "carry state does not balance (entitlements and allocations differ); "
            "pass the agreement's complete carry state"
        )
    return entitled, allocated


def _integer_weights(work_weights: Mapping[WorkId, Decimal], pool_minor: int) -> dict[WorkId, int]:
    """The weights as integers in the same proportions (exact: scaled to a common denominator)."""
    for work, weight in work_weights.items():
        _require_weight(work, weight)
    weights = dict(zip(work_weights, integer_weights(list(work_weights.values())), strict=True))
    if pool_minor > 0 and not any(weights.values()):
        if not weights:
            raise ValueError(f"pool of {pool_minor} minor units but no works to allocate it to")
        # Nothing to weigh by (a catalogue-wide fee, say): every work counts the same.
        return dict.fromkeys(weights, 1)
    return weights


def _period_entitlements(
    *,
    pairs: list[tuple[WorkId, HolderId]],
    pool_minor: int,
    weights: Mapping[WorkId, int],
    splits: Mapping[WorkId, Mapping[HolderId, int]],
) -> list[int]:
    """This period's entitlement per pair in 1e-18 units, summing exactly to the pool: the pool
    at that scale by largest remainder, each pair weighted by its work's weight times its basis
    points (so the weights sum to ``sum(weights) * 10,000``), ties in pair order."""
    pair_weights = [
        weights[work] * splits[work].get(holder, 0) if work in splits else 0
        for work, holder in pairs
    ]
    return largest_remainder(total=pool_minor * _PER_MINOR_UNIT, weights=pair_weights)


def _result(
    *,
    pairs: list[tuple[WorkId, HolderId]],
    carries: Mapping[tuple[WorkId, HolderId], CarryState],
    entitled: list[int],
    period: list[int],
    allocated: list[int],
    units: list[int],
) -> AllocationResult[WorkId, HolderId]:
    new_carries: dict[tuple[WorkId, HolderId], CarryState] = {}
    for pair, e, added, p, u in zip(pairs, entitled, period, allocated, units, strict=True):
        if added or u:
            new_carries[pair] = CarryState(Decimal(f"{e}E-{ENTITLEMENT_PLACES}"), p + u)
        else:
            # Untouched (most of a big catalogue in a quiet period): keep the carry as given.
            new_carries[pair] = carries.get(pair, NO_CARRY)
    return AllocationResult(allocations=dict(zip(pairs, units, strict=True)), carries=new_carries)
