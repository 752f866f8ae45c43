"""The one place where an exact amount becomes whole minor units.

Money is an integer number of minor units (cents for USD) plus an ISO 4217 currency. Exact
fractions of a minor unit exist only while rating, as ``Decimal``; they turn into money here
and nowhere else, so the whole project rounds by a single rule.

Rule: round half to even ("banker's rounding"). An exact half goes to the even neighbour
(0.5 -> 0, 1.5 -> 2, 2.5 -> 2, -2.5 -> -2); everything else goes to the nearest integer.
Why: settlement rounds many amounts (one per licensee, per period, per commission). Rounding
halves always up (or always away from zero) would move every tie the same way and so bias
the platform's totals by half a minor unit per tie; half-to-even sends ties up and down
equally often, so the rounding error averages out over many amounts. It is also symmetric
(``to_minor_units(-x) == -to_minor_units(x)``), which keeps reversals exact mirrors of the
charges they reverse.

Arithmetic on exact amounts runs in ``exact_arithmetic()``: 50 significant digits and the
``Inexact`` signal trapped, so an operation that would silently round raises instead.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from decimal import (
    ROUND_HALF_EVEN,
    Context,
    Decimal,
    DivisionByZero,
    Inexact,
    InvalidOperation,
    Overflow,
    localcontext,
)

EXACT_PRECISION = 50
"""Significant digits for exact money arithmetic; amounts stay far below this."""

_EXACT_CONTEXT = Context(
    prec=EXACT_PRECISION,
    rounding=ROUND_HALF_EVEN,
    traps=[InvalidOperation, DivisionByZero, Overflow, Inexact],
)


@contextmanager
def exact_arithmetic() -> Iterator[Context]:
    """A local decimal context in which any rounding of a result raises ``decimal.Inexact``."""
    with localcontext(_EXACT_CONTEXT) as context:
        yield context


def to_minor_units(exact: Decimal) -> int:
    """Round an exact amount of minor units to an integer, half to even."""
    if not isinstance(exact, Decimal):
        # Floats cannot hold most money amounts exactly; refuse them rather than guess.
        raise TypeError(f"to_minor_units needs a Decimal, got {type(exact).__name__}")
    if not exact.is_finite():
        raise ValueError(f"cannot turn {exact} into minor units: not a finite amount")
    with exact_arithmetic():
        # to_integral_value rounds only to the integer; precision cannot cut digits here.
        return int(exact.to_integral_value(rounding=ROUND_HALF_EVEN))
