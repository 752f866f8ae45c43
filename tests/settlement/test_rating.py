"""Rating usage exactly, advances, guarantees and the commission split."""

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.money.rounding import exact_arithmetic
from settlement.rating import (
    METRICS,
    RecoupResult,
    commission_split,
    minimum_guarantee_shortfall,
    rate_usage_line,
    recoup_advance,
)


def rate(metric: str, quantity: int, rate_minor: str) -> Decimal:
    return rate_usage_line(
        metric=metric, quantity=quantity, rate_minor=Decimal(rate_minor), revenue_share_bp=None
    )


# --- rate_usage_line ------------------------------------------------------------------------


def test_tokens_are_priced_per_thousand() -> None:
    assert rate("tokens_trained", 12_000_000, "0.3") == Decimal(3600)


def test_fractional_results_stay_exact_and_unrounded() -> None:
    assert rate("tokens_trained", 1, "0.3") == Decimal("0.0003")
    assert rate("tokens_trained", 1_234_567, "0.07") == Decimal("86.41969")


@pytest.mark.parametrize("metric", ["training_examples", "retrievals", "outputs_attributed"])
def test_other_metrics_are_priced_per_unit(metric: str) -> None:
    assert rate(metric, 7, "0.125") == Decimal("0.875")
    assert rate(metric, 3, "40") == Decimal(120)


def test_revenue_is_priced_by_a_revenue_share() -> None:
    exact = rate_usage_line(
        metric="revenue", quantity=123_457, rate_minor=None, revenue_share_bp=1_250
    )
    assert exact == Decimal("15432.125")


def test_zero_quantity_rates_to_zero() -> None:
    assert rate("retrievals", 0, "5") == 0


def test_huge_quantities_do_not_lose_digits() -> None:
    exact = rate("tokens_trained", 10**30 + 1, "0.333")
    assert exact == Decimal("333000000000000000000000000.000333")


@given(
    st.sampled_from(sorted(METRICS - {"revenue"})),
    st.integers(min_value=0, max_value=10**15),
    st.decimals(min_value=0, max_value=10**6, places=8, allow_nan=False, allow_infinity=False),
)
def test_rate_lines_are_exact_products(metric: str, quantity: int, rate_minor: Decimal) -> None:
    exact = rate_usage_line(
        metric=metric, quantity=quantity, rate_minor=rate_minor, revenue_share_bp=None
    )
    unit = 1_000 if metric == "tokens_trained" else 1
    with exact_arithmetic():
        assert exact * unit == quantity * rate_minor


def test_rejects_negative_quantities() -> None:
    with pytest.raises(ValueError, match="quantity must not be negative"):
        rate("retrievals", -1, "1")


def test_rejects_unknown_metrics() -> None:
    with pytest.raises(ValueError, match="unknown metric 'pages_read'"):
        rate("pages_read", 1, "1")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (
            {"metric": "retrievals", "rate_minor": None, "revenue_share_bp": None},
            "needs rate_minor",
        ),
        (
            {"metric": "retrievals", "rate_minor": Decimal(1), "revenue_share_bp": 10},
            "must be None",
        ),
        (
            {"metric": "retrievals", "rate_minor": Decimal(-1), "revenue_share_bp": None},
            "non-negative",
        ),
        (
            {"metric": "retrievals", "rate_minor": Decimal("NaN"), "revenue_share_bp": None},
            "finite",
        ),
        (
            {"metric": "revenue", "rate_minor": None, "revenue_share_bp": None},
            "needs revenue_share_bp",
        ),
        ({"metric": "revenue", "rate_minor": Decimal(1), "revenue_share_bp": 10}, "must be None"),
        (
            {"metric": "revenue", "rate_minor": None, "revenue_share_bp": 10_001},
            "between 0 and 10000",
        ),
        ({"metric": "revenue", "rate_minor": None, "revenue_share_bp": -1}, "between 0 and 10000"),
    ],
)
def test_rejects_terms_that_do_not_fit_the_metric(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        rate_usage_line(quantity=1, **kwargs)


@pytest.mark.parametrize("bad_rate", [0.3, 1])
def test_rejects_rates_that_are_not_decimal(bad_rate: object) -> None:
    with pytest.raises(TypeError, match="rate_minor must be a Decimal"):
        rate_usage_line(metric="retrievals", quantity=1, rate_minor=bad_rate, revenue_share_bp=None)  # type: ignore[arg-type]


@pytest.mark.parametrize("bad_quantity", [1.0, True, "3"])
def test_rejects_quantities_that_are_not_int(bad_quantity: object) -> None:
    with pytest.raises(TypeError, match="quantity must be an int"):
        rate_usage_line(
            metric="retrievals",
            quantity=bad_quantity,  # type: ignore[arg-type]
            rate_minor=Decimal(1),
            revenue_share_bp=None,
        )


# --- advance and minimum guarantee ----------------------------------------------------------


def test_usage_is_offset_against_the_advance_first() -> None:
    assert recoup_advance(usage_due_minor=4_800, unrecouped_advance_minor=120_000) == RecoupResult(
        offset_minor=4_800, payable_minor=0, unrecouped_after_minor=115_200
    )


def test_only_the_excess_over_the_advance_is_payable() -> None:
    assert recoup_advance(usage_due_minor=5_000, unrecouped_advance_minor=1_200) == RecoupResult(
        offset_minor=1_200, payable_minor=3_800, unrecouped_after_minor=0
    )


@given(st.integers(min_value=0, max_value=10**15), st.integers(min_value=0, max_value=10**15))
def test_recoupment_conserves_money(due: int, unrecouped: int) -> None:
    result = recoup_advance(usage_due_minor=due, unrecouped_advance_minor=unrecouped)
    assert result.offset_minor + result.payable_minor == due
    assert result.offset_minor + result.unrecouped_after_minor == unrecouped
    assert min(result.offset_minor, result.payable_minor, result.unrecouped_after_minor) >= 0


def test_minimum_guarantee_tops_up_the_shortfall_only() -> None:
    assert minimum_guarantee_shortfall(guarantee_minor=50_000, paid_in_term_minor=42_500) == 7_500
    assert minimum_guarantee_shortfall(guarantee_minor=50_000, paid_in_term_minor=50_000) == 0
    assert minimum_guarantee_shortfall(guarantee_minor=50_000, paid_in_term_minor=80_000) == 0


@pytest.mark.parametrize(
    "call",
    [
        lambda: recoup_advance(usage_due_minor=-1, unrecouped_advance_minor=0),
        lambda: recoup_advance(usage_due_minor=0, unrecouped_advance_minor=-1),
        lambda: minimum_guarantee_shortfall(guarantee_minor=-1, paid_in_term_minor=0),
        lambda: minimum_guarantee_shortfall(guarantee_minor=0, paid_in_term_minor=-1),
    ],
)
def test_advance_and_guarantee_reject_negative_amounts(call) -> None:
    with pytest.raises(ValueError, match="must not be negative"):
        call()


# --- commission -----------------------------------------------------------------------------


def test_commission_of_the_worked_example() -> None:
    assert commission_split(amount_minor=120_000, commission_bp=1_000) == (12_000, 108_000)
    assert commission_split(amount_minor=4_800, commission_bp=1_000) == (480, 4_320)


def test_commission_rounds_half_to_even() -> None:
    assert commission_split(amount_minor=5, commission_bp=1_000) == (0, 5)  # 0.5 -> 0
    assert commission_split(amount_minor=15, commission_bp=1_000) == (2, 13)  # 1.5 -> 2
    assert commission_split(amount_minor=25, commission_bp=1_000) == (2, 23)  # 2.5 -> 2
    assert commission_split(amount_minor=1, commission_bp=6_000) == (1, 0)  # 0.6 -> 1


def test_negative_amounts_split_as_the_mirror_of_positive_ones() -> None:
    assert commission_split(amount_minor=-25, commission_bp=1_000) == (-2, -23)
    assert commission_split(amount_minor=-4_800, commission_bp=1_000) == (-480, -4_320)


@given(
    st.integers(min_value=-(10**15), max_value=10**15), st.integers(min_value=0, max_value=10_000)
)
def test_commission_and_pool_always_sum_to_the_amount(amount: int, bp: int) -> None:
    commission, pool = commission_split(amount_minor=amount, commission_bp=bp)
    assert commission + pool == amount
    assert commission_split(amount_minor=-amount, commission_bp=bp) == (-commission, -pool)
    assert abs(commission * 10_000 - amount * bp) <= 5_000  # within half a minor unit


@pytest.mark.parametrize("bp", [-1, 10_001])
def test_commission_rejects_rates_outside_0_to_100_percent(bp: int) -> None:
    with pytest.raises(ValueError, match="commission_bp must be between 0 and 10000"):
        commission_split(amount_minor=100, commission_bp=bp)
