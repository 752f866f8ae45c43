"""Terms as people type and read them: amounts survive display and the forms exactly, in any
currency's minor unit; bad values are refused by name."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from hypothesis import given
from hypothesis import strategies as st

from catalog.terms import MAX_AMOUNT_MINOR
from core.money import currency_exponent, money_format
from frontend.views.marketplace_forms import TermsForm
from marketplace.selectors import fee_total_minor
from marketplace.terms import (
    terms_clean,
    terms_diff,
    territory_span,
)

CURRENCIES = st.sampled_from(["USD", "EUR", "JPY", "KWD", "GBP"])
AMOUNTS = st.integers(min_value=0, max_value=MAX_AMOUNT_MINOR)
RATES = st.none() | st.decimals(
    min_value=0, max_value=10**6, places=10, allow_nan=False, allow_infinity=False
)


@given(amount=AMOUNTS, currency=CURRENCIES)
def test_a_displayed_amount_reads_back_to_the_same_minor_units(amount, currency):
    shown = money_format(amount, currency)
    code, number = shown.split(" ")
    assert code == currency
    assert Decimal(number.replace(",", "")).scaleb(currency_exponent(currency)) == amount


@given(
    fee=AMOUNTS,
    guarantee=AMOUNTS,
    currency=CURRENCIES,
    share=st.none() | st.integers(min_value=0, max_value=10_000),
    rate=RATES,
)
def test_terms_survive_the_form_exactly(fee, guarantee, currency, share, rate):
    terms = terms_clean(
        {
            "permitted_uses": ["ai-train"],
            "currency": currency,
            "upfront_fee_minor": fee,
            "minimum_guarantee_minor": guarantee,
            "revenue_share_bp": share,
            "rate_tokens_trained_minor": rate,
        }
    )
    initial = TermsForm.initial_from(terms)
    data = {
        name: ("on" if value else "")
        if isinstance(value, bool)
        else value
        if isinstance(value, list)
        else ("" if value is None else str(value))
        for name, value in initial.items()
    }
    form = TermsForm(data)
    assert form.is_valid(), form.errors
    assert form.cleaned_data["terms"] == terms


@given(fee=AMOUNTS, works=st.integers(min_value=0, max_value=1000))
def test_a_per_work_fee_is_the_fee_times_the_works(fee, works):
    assert fee_total_minor(upfront_fee_minor=fee, fee_basis="per_work", work_count=works) == (
        fee * works
    )
    assert fee_total_minor(upfront_fee_minor=fee, fee_basis="per_catalogue", work_count=works) == (
        fee
    )


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("upfront_fee_minor", -1),
        ("upfront_fee_minor", 1.5),
        ("upfront_fee_minor", True),
        ("rate_tokens_trained_minor", 0.3),
        ("rate_tokens_trained_minor", "0.00000000001"),
        ("revenue_share_bp", 10_001),
        ("currency", "dollars"),
        ("territories", ["GBR"]),
        ("territories", []),
        ("permitted_uses", ["ai-everything"]),
        ("term_months", 0),
    ],
)
def test_bad_terms_are_refused_by_name(field, value):
    with pytest.raises(ValidationError) as refused:
        terms_clean({"permitted_uses": ["ai-train"], field: value})
    assert field in refused.value.message_dict


def test_a_recoupable_advance_needs_a_fee():
    with pytest.raises(ValidationError) as refused:
        terms_clean({"permitted_uses": ["ai-train"], "advance_recoupable": True})
    assert "advance_recoupable" in refused.value.message_dict


def test_world_stands_alone_and_codes_are_normalised():
    terms = terms_clean({"permitted_uses": ["ai-train"], "territories": ["gb", "WORLD", "fr"]})
    assert terms["territories"] == ["WORLD"]
    assert terms_clean({"permitted_uses": ["ai-train"], "territories": ["fr", "gb", "FR"]})[
        "territories"
    ] == ["FR", "GB"]


def test_territory_spans_nest_every_country_inside_world():
    world = territory_span("WORLD")
    for code in ("AA", "GB", "US", "ZZ"):
        low, high = territory_span(code)
        assert world[0] <= low < high <= world[1] and high - low == 1
    assert territory_span("GB") != territory_span("GA")


def test_the_diff_names_only_what_changed():
    before = terms_clean({"permitted_uses": ["ai-train"], "upfront_fee_minor": 120_000})
    after = {**before, "upfront_fee_minor": 150_000, "territories": ["GB", "US"]}
    changes = {c.field: (c.before, c.after) for c in terms_diff(before, after)}
    assert changes == {
        "upfront_fee_minor": ("USD 1,200.00", "USD 1,500.00"),
        "territories": ("WORLD", "GB, US"),
    }
