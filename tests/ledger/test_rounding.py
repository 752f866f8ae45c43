"""The single rounding rule: exact Decimal -> minor units, half to even."""

from decimal import Decimal, Inexact

import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.money.rounding import exact_arithmetic, to_minor_units


@pytest.mark.parametrize(
    ("exact", "expected"),
    [
        ("0.5", 0),
        ("1.5", 2),
        ("2.5", 2),
        ("3.5", 4),
        ("-0.5", 0),
        ("-1.5", -2),
        ("-2.5", -2),
        ("2.4999999999999999999999999999999", 2),
        ("2.5000000000000000000000000000001", 3),
        ("0.49", 0),
        ("0.51", 1),
        ("-0.51", -1),
        ("7", 7),
        ("4800.0", 4800),
        ("1E+3", 1000),
        ("12345678901234567890123456789012345678.5", 12345678901234567890123456789012345678),
    ],
)
def test_rounds_half_to_even_and_otherwise_to_nearest(exact: str, expected: int) -> None:
    assert to_minor_units(Decimal(exact)) == expected


def test_returns_a_plain_int() -> None:
    assert type(to_minor_units(Decimal("1.5"))) is int


@pytest.mark.parametrize("bad", ["NaN", "sNaN", "Infinity", "-Infinity"])
def test_rejects_amounts_that_are_not_finite(bad: str) -> None:
    with pytest.raises(ValueError, match="not a finite amount"):
        to_minor_units(Decimal(bad))


@pytest.mark.parametrize("bad", [0.5, 1, "1.5", None])
def test_rejects_anything_but_decimal(bad: object) -> None:
    with pytest.raises(TypeError, match="needs a Decimal"):
        to_minor_units(bad)  # type: ignore[arg-type]


def test_exact_arithmetic_refuses_to_round_silently() -> None:
    with exact_arithmetic(), pytest.raises(Inexact):
        _ = Decimal(1) / 3


exact_amounts = st.decimals(
    allow_nan=False, allow_infinity=False, places=6, min_value=-(10**12), max_value=10**12
)


@given(exact_amounts)
def test_within_half_a_unit_and_symmetric(exact: Decimal) -> None:
    rounded = to_minor_units(exact)
    assert abs(rounded - exact) <= Decimal("0.5")
    assert to_minor_units(-exact) == -rounded


@given(st.integers(min_value=-(10**15), max_value=10**15))
def test_exact_halves_go_to_the_even_neighbour(whole: int) -> None:
    assert to_minor_units(Decimal(whole) + Decimal("0.5")) % 2 == 0
