"""Dividing an integer amount in proportion to weights: the one rule for every split.

``apportion(amount_minor=..., weights={key: weight, ...})`` splits a one-off amount (a Stripe
fee among commission and holders, a refund clawed back, a credit) into integer parts. It is
the settlement allocation rule (``settlement.allocation.allocate_pool``, whose docstring states
the rule with its guarantees and proofs) started from an empty carry state: the two share
``largest_remainder`` and ``carry_forward_step`` below, so a one-off split and a settlement
period share money out the same way by construction.

The rule
--------
With ``W`` the sum of the weights, key k's exact share is ``q = amount * w / W``.

1. Recorded shares: q is recorded to ``RECORDED_PLACES`` (18) decimal places of a minor unit by
   largest remainder at that scale, so the recorded shares sum to the amount exactly and each
   is within 1e-18 of q. All arithmetic is on integers; nothing is ever rounded by a context.
2. Whole units: each key gets the whole units of its recorded share.
3. Spare units (the amount minus (2): fewer than the keys owed a fraction) go one each to the
   keys owed a fraction ``f``, soonest *deadline* first: ``(1 - f) / rate`` with ``rate = q /
   amount``, how much more money in the same proportions it would take before the key is owed
   a whole unit. This is Balinski and Young's quota method. It is not the textbook largest
   remainder (Hamilton's: by fraction alone), which favours the smallest shares: 10 split
   86 % / 7 % / 7 % is 9 / 1 / 0 here and 8 / 1 / 1 by Hamilton. Both keep every part
   within one unit; this one is what settlement does, period after period.

Ties (equal remainders in 1; equal deadline and fraction in 3) go to the key that comes first
in ``weights``: the caller breaks ties by the order it builds the mapping in (ascending holder
id, say), and nothing else (no hashing, no ``str`` of the key) matters.

Guarantees
----------
- Conservation: the parts sum to ``amount_minor`` exactly.
- Quota: each part is the floor or the ceiling of its exact share, so strictly within one unit
  of it; a zero weight gets 0; for a non-negative amount no part is negative.
- Mirror: a negative amount (a reversal) splits as the exact negation of the positive amount.
- Deterministic: the same amount, weights and key order give the same parts.
"""

from __future__ import annotations

import heapq
from collections.abc import Hashable, Mapping, Sequence
from decimal import Decimal
from fractions import Fraction
from math import lcm
from typing import TypeVar

RECORDED_PLACES = 18
"""Decimal places of a minor unit to which exact shares (entitlements) are recorded."""

PER_MINOR_UNIT = 10**RECORDED_PLACES
"""Recorded units per minor unit."""

Weight = int | Decimal | Fraction
"""A non-negative weight: an int, or an exact fraction (a finite Decimal or a Fraction)."""

Key = TypeVar("Key", bound=Hashable)


def apportion(*, amount_minor: int, weights: Mapping[Key, Weight]) -> dict[Key, int]:
    """Split ``amount_minor`` in proportion to ``weights``; see the module docstring.

    Every key of ``weights`` gets a part, in the same order. Raises ``TypeError`` for an
    amount that is not an int or a weight that is not an int, Decimal or Fraction, and
    ``ValueError`` for a negative or non-finite weight, or a non-zero amount with no positive
    weight to split it by.
    """
    _require_int(amount_minor, name="amount_minor")
    keys = list(weights)
    for key, weight in weights.items():
        _require_weight(key, weight)
    if amount_minor == 0:
        return dict.fromkeys(keys, 0)
    integer = integer_weights(list(weights.values()))
    if not any(integer):
        raise ValueError(
            f"cannot apportion {amount_minor} minor units: no key has a positive weight"
        )
    magnitude = abs(amount_minor)
    recorded = largest_remainder(total=magnitude * PER_MINOR_UNIT, weights=integer)
    parts = carry_forward_step(
        entitled=recorded, allocated=[0] * len(keys), period=recorded, units=magnitude
    )
    sign = -1 if amount_minor < 0 else 1
    return {key: sign * part for key, part in zip(keys, parts, strict=True)}


def integer_weights(weights: Sequence[Weight]) -> list[int]:
    """Exact fractions as integers in the same proportions (scaled by a common denominator)."""
    ratios = [weight.as_integer_ratio() for weight in weights]
    common = lcm(*{denominator for _, denominator in ratios})
    return [numerator * (common // denominator) for numerator, denominator in ratios]


def largest_remainder(*, total: int, weights: Sequence[int]) -> list[int]:
    """Split the integer ``total`` (>= 0) in proportion to integer ``weights`` (>= 0, not all
    zero unless ``total`` is 0): each gets ``floor(total * w / W)``, then the units left over
    go one each to the largest remainders, ties to the earlier position.

    Used at the recorded scale (``total`` in 1e-18 units) to record exact shares; the parts sum
    to ``total`` and each is within one (recorded) unit of its exact share.
    """
    if total == 0:
        return [0] * len(weights)
    denominator = sum(weights)
    floors: list[int] = []
    remainders: list[int] = []
    for weight in weights:
        whole, remainder = divmod(total * weight, denominator) if weight else (0, 0)
        floors.append(whole)
        remainders.append(remainder)
    for index in _largest_first(remainders, count=total - sum(floors)):
        floors[index] += 1
    return floors


def carry_forward_step(
    *, entitled: list[int], allocated: list[int], period: list[int], units: int
) -> list[int]:
    """Hand out ``units`` whole minor units by the carry-forward rule; units per position.

    Per position: ``entitled`` the cumulative recorded entitlement (1e-18 units, including
    this period's), ``allocated`` the cumulative units paid before, ``period`` this period's
    recorded entitlement. The rule (settlement.allocation, rules a to c, proves what it keeps):

    a. each position gets the whole units it is owed, when positive;
    b. the spare units go one each to positions owed a fraction, soonest deadline first
       (``(1 - fraction) / rate``, rate the larger of this period's and the cumulative share
       of each unit of money), ties to the larger fraction, then the earlier position;
    c. if (a) needs more units than there are, each unit instead goes in turn to the position
       owed the most, ties to the earlier position (never from an empty carry).

    From an empty carry (``allocated`` all zero, ``entitled == period``, summing to ``units``
    minor units) this is step 2 and 3 of ``apportion``.
    """
    outstanding = [e - p * PER_MINOR_UNIT for e, p in zip(entitled, allocated, strict=True)]
    whole_units_owed = [owed // PER_MINOR_UNIT if owed > 0 else 0 for owed in outstanding]
    if sum(whole_units_owed) > units:
        return _units_to_most_owed(
            outstanding=outstanding, whole_units_owed=whole_units_owed, units=units
        )
    granted = whole_units_owed  # every position is now less than one unit behind
    spare_units = units - sum(granted)
    for index in _soonest_deadlines(
        outstanding=outstanding,
        entitled=entitled,
        period=period,
        pool_minor=units,
        count=spare_units,
    ):
        granted[index] += 1
    return granted


# --- the steps --------------------------------------------------------------------------------


def _require_int(value: int, *, name: str) -> None:
    # bool is an int subclass; True cents is a bug, not an amount.
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}")


def _require_weight(key: Hashable, weight: Weight) -> None:
    if isinstance(weight, bool) or not isinstance(weight, int | Decimal | Fraction):
        raise TypeError(
            f"weight of {key!r} must be an int, Decimal or Fraction, got {type(weight).__name__}"
        )
    if isinstance(weight, Decimal) and not weight.is_finite():
        raise ValueError(f"weight of {key!r} must be finite, got {weight}")
    if weight < 0:
        raise ValueError(f"weight of {key!r} must not be negative, got {weight}")


def _soonest_deadlines(
    *,
    outstanding: list[int],
    entitled: list[int],
    period: list[int],
    pool_minor: int,
    count: int,
) -> list[int]:
    """The ``count`` positions owed a fraction that would soonest fall a whole unit behind.

    A position owed ``f`` (0 < f < 1) after its whole units falls a unit behind once another
    ``(1 - f) / rate`` of money arrives, where rate is its share of each unit of money: we
    take the larger of this period's share and its cumulative share, both exact when
    proportions are fixed. Deadlines are compared to 1e-18 of a minor unit, then the larger
    amount owed first, then the earlier position.
    """
    if count == 0:
        return []
    cumulative_pool = sum(entitled) // PER_MINOR_UNIT
    size = len(outstanding)
    keys = []
    for index, (owed, total, added) in enumerate(zip(outstanding, entitled, period, strict=True)):
        fraction = owed % PER_MINOR_UNIT if owed > 0 else 0
        if not fraction:
            continue  # not owed a fraction: one more unit would pay it a whole unit ahead
        slack = PER_MINOR_UNIT - fraction
        # total > 0 here, since the position is owed something.
        deadline = slack * cumulative_pool * PER_MINOR_UNIT // total
        if added:
            deadline = min(deadline, slack * pool_minor * PER_MINOR_UNIT // added)
        # One int per candidate sorts much faster than tuples: (deadline, slack, index).
        keys.append((deadline * PER_MINOR_UNIT + slack) * size + index)
    if count > len(keys):
        raise AssertionError("more spare units than positions owed a fraction")
    chosen = heapq.nsmallest(count, keys) if count * 8 < len(keys) else sorted(keys)[:count]
    return [key % size for key in chosen]


def _units_to_most_owed(
    *, outstanding: list[int], whole_units_owed: list[int], units: int
) -> list[int]:
    """Rule (c): each unit in turn to the position owed the most, ties to the earlier one.

    Handing units out one by one would take as many steps as there are units. Instead, give
    every position all the whole units it is owed (more than there are, else rule (c) would
    not run), then take back the surplus from the smallest claims, which are exactly the ones
    the one-by-one rule would reach last: a position owed ``w`` whole units and a fraction
    ``f`` claimed its units while owed ``w + f``, ..., ``1 + f``. The surplus is fewer than the
    number of positions, since only positions paid ahead (by less than one unit each) push the
    claims past the units; so this is O(n log n).
    """
    granted = list(whole_units_owed)
    surplus = sum(granted) - units
    # Smallest claim first; among equal claims the later index, which the rule reaches last.
    heap = [
        (PER_MINOR_UNIT + owed % PER_MINOR_UNIT, -index)
        for index, owed in enumerate(outstanding)
        if granted[index]
    ]
    heapq.heapify(heap)
    for _ in range(surplus):
        claim, negated_index = heapq.heappop(heap)
        granted[-negated_index] -= 1
        if granted[-negated_index]:
            heapq.heappush(heap, (claim + PER_MINOR_UNIT, negated_index))
    return granted


def _largest_first(remainders: list[int], *, count: int) -> list[int]:
    """Indices of the ``count`` largest positive remainders; ties to the smaller index."""
    if count <= 0:
        return []
    size = len(remainders)
    # One int per candidate sorts much faster than tuples; the low digits break ties by index.
    keys = [r * size + (size - 1 - i) for i, r in enumerate(remainders) if r > 0]
    if count > len(keys):
        raise AssertionError("largest remainder: more units than positive remainders")
    chosen = (
        heapq.nlargest(count, keys) if count * 8 < len(keys) else sorted(keys, reverse=True)[:count]
    )
    return [size - 1 - key % size for key in chosen]
