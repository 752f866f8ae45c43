"""The money core (core.money): one currency table, one formatter, one apportionment.

Amounts read the same everywhere (a statement, the journal export, the reminder email, the
pages): JPY 5,000 has no decimals, KWD 1,234 fils is 1.234, USD 120,000 cents is 1,200.00.
``apportion`` conserves every unit, keeps each part within one unit of its exact share, breaks
ties by the caller's key order, and equals settlement's ``allocate_pool`` from an empty carry.
"""

from __future__ import annotations

import datetime as dt
import os
import random
import re
import zlib
from decimal import Decimal
from fractions import Fraction
from math import ceil, floor

import pytest
from django.core import mail
from django.template import Context, Template
from django.test import Client
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from accounts.models import Organisation
from core.money import (
    UnknownCurrencyError,
    apportion,
    currency_exponent,
    major_text,
    major_to_minor,
    minor_to_major,
    money_format,
)
from finance.exports import journal_csv_lines
from finance.reports import ReportFilters
from ledger.models import AccountCode, EntryKind
from ledger.services import LegSpec, journal_post, ledger_account_for
from payouts.collections import collections_remind_unpaid
from settlement.allocation import allocate_pool
from settlement.models import Statement
from settlement.selectors import statement_pdf
from tests.conftest import make_tenant
from tests.money.factories import collection_for
from tests.money.settlement_world import _run_for

# The three amounts every rendering must show the same way: (minor, currency, for people,
# for machines).
SAMPLES = [
    (5_000, "JPY", "JPY 5,000", "5000"),
    (1_234, "KWD", "KWD 1.234", "1.234"),
    (120_000, "USD", "USD 1,200.00", "1200.00"),
]


def codes(text: str) -> list[str]:
    return text.split()


# Stripe's presentment currencies (its "Supported currencies" page), three-decimal ones included.
STRIPE_CURRENCIES = codes("""
    USD AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BHD BIF BMD BND BOB BRL BSD BWP
    BYN BZD CAD CDF CHF CLP CNY COP CRC CVE CZK DJF DKK DOP DZD EGP ETB EUR FJD FKP GBP GEL GIP
    GMD GNF GTQ GYD HKD HNL HTG HUF IDR ILS INR ISK JMD JOD JPY KES KGS KHR KMF KRW KWD KYD KZT
    LAK LBP LKR LRD LSL MAD MDL MGA MKD MMK MNT MOP MUR MVR MWK MXN MYR MZN NAD NGN NIO NOK NPR
    NZD OMR PAB PEN PGK PHP PKR PLN PYG QAR RON RSD RUB RWF SAR SBD SCR SEK SGD SHP SLE SLL SOS
    SRD STD SZL THB TJS TND TOP TRY TTD TWD TZS UAH UGX UYU UZS VND VUV WST XAF XCD XCG XOF XPF
    YER ZAR ZMW
""")
ZERO_DECIMAL = codes("BIF CLP DJF GNF ISK JPY KMF KRW PYG RWF UGX VND VUV XAF XOF XPF")
THREE_DECIMAL = codes("BHD JOD KWD OMR TND")

DEEP = os.environ.get("HYPOTHESIS_PROFILE") == "deep"
PROPERTIES = settings(
    max_examples=3_000 if DEEP else 300,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


# --- currencies ---------------------------------------------------------------------------------


def test_the_table_knows_every_currency_stripe_supports_with_its_iso_exponent():
    exponents = {code: currency_exponent(code) for code in STRIPE_CURRENCIES}
    assert {code for code, e in exponents.items() if e == 0} == set(ZERO_DECIMAL)
    assert {code for code, e in exponents.items() if e == 3} == set(THREE_DECIMAL)
    assert set(exponents.values()) == {0, 2, 3}
    # ISO 4217, not Stripe's special cases: ISK and UGX have no minor unit, HUF and TWD do.
    assert [currency_exponent(c) for c in ("ISK", "UGX", "HUF", "TWD")] == [0, 0, 2, 2]
    assert currency_exponent("clf") == 4 and currency_exponent("jpy") == 0


@pytest.mark.parametrize("code", ["ZZZ", "XAU", "XXX", "", "US", "usd "])
def test_an_unknown_currency_is_an_error_that_says_so(code):
    with pytest.raises(UnknownCurrencyError, match="is not an ISO 4217 currency code"):
        currency_exponent(code)
    with pytest.raises(ValueError, match="ISO 4217"):
        money_format(100, code)


# --- formatting and parsing -------------------------------------------------------------------


@pytest.mark.parametrize(("minor", "currency", "shown", "plain"), SAMPLES)
def test_the_one_formatter(minor, currency, shown, plain):
    assert money_format(minor, currency) == shown
    assert major_text(minor, currency) == plain
    assert minor_to_major(minor, currency) == Decimal(plain)
    assert major_to_minor(plain, currency) == minor


@pytest.mark.parametrize(
    ("amount", "currency", "shown"),
    [
        (0, "USD", "USD 0.00"),
        (-50, "USD", "USD -0.50"),
        (-123_456_789, "JPY", "JPY -123,456,789"),
        (10**15, "USD", "USD 10,000,000,000,000.00"),
        (Decimal("0.3000000000"), "USD", "USD 0.003"),  # a rate: fractions of a cent show
        (Decimal("123456.5"), "usd", "USD 1,234.565"),
        (Decimal("0.0000001"), "JPY", "JPY 0.0000001"),  # never in exponent notation
        (12_345, "CLF", "CLF 1.2345"),
    ],
)
def test_formatting_is_exact(amount, currency, shown):
    assert money_format(amount, currency) == shown


@pytest.mark.parametrize("bad", [1.5, True, "100", None])
def test_floats_and_other_non_amounts_are_refused(bad):
    with pytest.raises(TypeError, match="an int or a Decimal"):
        money_format(bad, "USD")


@pytest.mark.parametrize(
    ("text", "currency", "message"),
    [
        ("1.5", "JPY", "JPY has no smaller unit than that. Whole amounts only."),
        ("1.2345", "KWD", "KWD has no smaller unit than that. At most 3 decimal places."),
        ("0.001", "USD", "USD has no smaller unit than that. At most 2 decimal places."),
        ("ten", "USD", "is not an amount"),
        ("NaN", "USD", "is not an amount"),
        ("9" * 60, "USD", "is not an amount"),  # more digits than exact arithmetic holds
        ("1", "ZZZ", "is not an ISO 4217 currency code"),
    ],
)
def test_parsing_refuses_what_is_not_a_whole_number_of_minor_units(text, currency, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        major_to_minor(text, currency)


@given(
    st.integers(min_value=-(10**15), max_value=10**15),
    st.sampled_from(["USD", "JPY", "KWD", "CLF", "EUR", "BHD", "ISK"]),
)
def test_minor_to_major_and_back_is_exact(amount, currency):
    shown = money_format(amount, currency)
    code, number = shown.split(" ")
    assert code == currency
    assert major_to_minor(number.replace(",", ""), currency) == amount
    assert major_to_minor(major_text(amount, currency), currency) == amount
    assert major_to_minor(minor_to_major(amount, currency), currency) == amount
    decimals = number.partition(".")[2]
    assert len(decimals) == currency_exponent(currency)


def test_the_template_filter_is_the_formatter():
    template = Template("{% load money %}{{ a|money:'JPY' }} | {{ b|money:c }} | {{ n|money:c }}")
    rendered = template.render(Context({"a": 5_000, "b": 1_234, "c": "KWD", "n": None}))
    assert rendered == "JPY 5,000 | KWD 1.234 | —"


# --- every rendering: statement, export, email, pages --------------------------------------------


@pytest.fixture
def statements(db):
    holder = make_tenant(Organisation.Kind.CREATOR, "Harbour Press")
    run = _run_for(holder.organisation)
    rows = [
        Statement.objects.create(
            run=run,
            holder=holder.organisation,
            currency=currency,
            period_start=run.period_start,
            period_end=run.period_end,
            opening_balance_minor=0,
            earned_minor=minor,
            closing_balance_minor=minor,
            carry_forward_exact=Decimal(0),
            line_count=0,
            sha256="0" * 64,
        )
        for minor, currency, _, _ in SAMPLES
    ]
    return holder, rows


def _pdf_text(document: bytes) -> bytes:
    """The page content of an fpdf2 document (its streams, inflated where compressed)."""
    # Each stream is inflated from its first byte to the end of its zlib data (a compressed
    # stream may itself end in a byte that looks like the line break before "endstream").
    text = b""
    for match in re.finditer(rb"stream\r?\n", document):
        rest = document[match.end() :]
        try:
            text += zlib.decompressobj().decompress(rest)
        except zlib.error:
            text += rest.split(b"endstream", 1)[0]
    return text


def test_a_statement_pdf_shows_amounts_in_each_currencys_unit(statements):
    _, rows = statements
    for statement, (_, _, shown, _) in zip(rows, SAMPLES, strict=True):
        text = _pdf_text(statement_pdf(statement=statement))
        assert f"Earned this period: {shown}".encode() in text
        assert f"Closing balance: {shown}".encode() in text
    assert b"50.00 JPY" not in _pdf_text(statement_pdf(statement=rows[0]))


def test_the_statement_page_shows_amounts_in_each_currencys_unit(statements):
    holder, rows = statements
    client = Client()
    client.force_login(holder.owner)
    for statement, (_, _, shown, _) in zip(rows, SAMPLES, strict=True):
        page = client.get(f"/royalties/statements/{statement.pk}/")
        assert page.status_code == 200
        assert f'data-testid="earned">{shown}</p>' in page.content.decode()


def test_the_invoices_page_shows_amounts_in_each_currencys_unit(db):
    licensee = make_tenant(Organisation.Kind.AI_DEVELOPER, "Northwind AI")
    for minor, currency, _, _ in SAMPLES:
        collection_for(licensee.organisation, currency=currency, amount_due_minor=minor)
    client = Client()
    client.force_login(licensee.owner)
    html = client.get("/royalties/invoices/").content.decode()
    for _, _, shown, _ in SAMPLES:
        assert shown in html


@pytest.mark.clock("2026-11-20T12:00:00Z")
def test_the_journal_export_shows_major_units_exactly(db):
    licensee = make_tenant(Organisation.Kind.AI_DEVELOPER, "Northwind AI").organisation
    for minor, currency, _, _ in SAMPLES:
        journal_post(
            kind=EntryKind.UPFRONT_FEE,
            currency=currency,
            effective_date=dt.date(2026, 11, 2),
            legs=[
                LegSpec(
                    ledger_account_for(
                        code=AccountCode.LICENSEE_RECEIVABLE,
                        currency=currency,
                        organisation=licensee,
                    ),
                    minor,
                ),
                LegSpec(
                    ledger_account_for(code=AccountCode.PLATFORM_COMMISSION, currency=currency),
                    -minor,
                ),
            ],
            memo="fee",
            reference=f"fee:{currency}",
            idempotency_key=f"money-core:{currency}",
        )
    lines = list(journal_csv_lines(ReportFilters()))
    for _, currency, _, plain in SAMPLES:
        # A debit and the matching credit: plain decimals an accounting system reads.
        assert sum(f",{currency},{plain},," in line for line in lines) == 1
        assert sum(f",{currency},,{plain}," in line for line in lines) == 1


@pytest.mark.clock("2026-11-20T12:00:00Z")
def test_the_reminder_email_shows_the_amount_due_in_the_currencys_unit(db):
    licensee = make_tenant(Organisation.Kind.AI_DEVELOPER, "Northwind AI")
    for minor, currency, _, _ in SAMPLES:
        collection_for(licensee.organisation, currency=currency, amount_due_minor=minor)
    assert collections_remind_unpaid() == len(SAMPLES)
    subjects = sorted(message.subject for message in mail.outbox)
    assert subjects == sorted(f"TrainRight: {shown} due" for _, _, shown, _ in SAMPLES)


# --- apportionment --------------------------------------------------------------------------------
#
# Hypothesis draws the shape (how many keys, up to a few thousand; the amount, up to 10**15
# either way; the kind of keys and weights) and a seed; the weights come from
# random.Random(seed), biased to zeros, equal weights and huge ones. Drawing thousands of weights
# through Hypothesis would cost far more time per example for no better coverage.

MAX_KEYS = 3_000
AMOUNTS = st.one_of(
    st.integers(-(10**15), 10**15),
    st.integers(10**12, 10**15),
    st.sampled_from([0, 1, -1, 2, 3, 7, 10**15, -(10**15)]),
    st.integers(0, 5_000),
)
SEEDS = st.integers(0, 2**32 - 1)
KEY_COUNTS = st.one_of(st.integers(1, 12), st.integers(1, MAX_KEYS))


def random_weight(rng: random.Random, kind: str) -> int | Decimal | Fraction:
    if rng.randrange(4) == 0:
        return 0
    if kind == "bp":
        return rng.choice([1, 50, 2_500, 3_333, rng.randint(0, 10_000)])
    if kind == "int":
        return rng.choice([1, 7, rng.randint(0, 10**6), rng.randint(0, 10**18)])
    if kind == "decimal":  # exact grosses: up to 1e9 minor units with 10 places
        return Decimal(rng.randint(0, 10**19)).scaleb(-10)
    return Fraction(rng.randint(0, 10**6), rng.randint(1, 10**6))


@st.composite
def splits(draw) -> tuple[int, dict]:
    """(amount, weights): keys in an arbitrary order, some weights zero, some equal."""
    count = draw(KEY_COUNTS)
    kind = draw(st.sampled_from(["bp", "int", "decimal", "fraction"]))
    rng = random.Random(draw(SEEDS))
    keys: list = rng.sample(range(10 * MAX_KEYS), count)
    if draw(st.booleans()):
        keys = [f"holder-{key}" for key in keys]
    weights = {key: random_weight(rng, kind) for key in keys}
    if draw(st.booleans()) and count > 1:  # many equal claims: ties everywhere
        same = random_weight(rng, kind) or 1
        weights = {key: same if rng.randrange(2) else weight for key, weight in weights.items()}
    if not any(weights.values()):
        weights[keys[-1]] = 1
    return draw(AMOUNTS), weights


def exact_shares(amount: int, weights: dict) -> dict:
    total = sum(Fraction(weight) for weight in weights.values())
    return {key: Fraction(amount) * Fraction(weight) / total for key, weight in weights.items()}


@PROPERTIES
@given(splits())
def test_apportion_conserves_and_keeps_each_part_within_one_unit(case):
    amount, weights = case
    parts = apportion(amount_minor=amount, weights=weights)
    assert list(parts) == list(weights)  # every key, in the caller's order
    assert sum(parts.values()) == amount
    for key, share in exact_shares(amount, weights).items():
        assert parts[key] in (floor(share), ceil(share))  # so |part - share| < 1
        assert abs(parts[key] - share) < 1
        if not weights[key]:
            assert parts[key] == 0
        if amount >= 0:
            assert parts[key] >= 0


@PROPERTIES
@given(splits())
def test_apportion_is_deterministic_mirrors_reversals_and_breaks_ties_by_key_order(case):
    amount, weights = case
    parts = apportion(amount_minor=amount, weights=weights)
    assert apportion(amount_minor=amount, weights=dict(weights.items())) == parts
    assert apportion(amount_minor=-amount, weights=weights) == {k: -v for k, v in parts.items()}
    # Equal weights, equal claims: a key never gets less (in magnitude) than a later one.
    first_part: dict = {}
    for key, weight in weights.items():
        earlier = first_part.setdefault(weight, abs(parts[key]))
        assert earlier >= abs(parts[key])


@PROPERTIES
@given(st.integers(1, MAX_KEYS), st.data())
def test_equal_weights_give_the_spare_units_to_the_first_keys(count, data):
    keys = data.draw(st.permutations(range(count)))
    amount = data.draw(st.integers(0, 10**15))
    parts = apportion(amount_minor=amount, weights=dict.fromkeys(keys, 7))
    whole, spare = divmod(amount, count)
    assert [parts[key] for key in keys] == [whole + 1] * spare + [whole] * (count - spare)


def test_apportion_refuses_what_it_cannot_split():
    assert apportion(amount_minor=0, weights={}) == {}
    assert apportion(amount_minor=0, weights={"a": 0}) == {"a": 0}
    with pytest.raises(ValueError, match="no key has a positive weight"):
        apportion(amount_minor=5, weights={"a": 0, "b": 0})
    with pytest.raises(ValueError, match="no key has a positive weight"):
        apportion(amount_minor=5, weights={})
    with pytest.raises(ValueError, match="must be finite"):
        apportion(amount_minor=5, weights={"a": Decimal("Infinity")})
    with pytest.raises(TypeError, match="must be an int, Decimal or Fraction"):
        apportion(amount_minor=5, weights={"a": 0.5})  # type: ignore[dict-item]
    with pytest.raises(TypeError, match="amount_minor must be an int"):
        apportion(amount_minor=True, weights={"a": 1})


# --- the stateless rule is the settlement rule from an empty carry ----------------------------


def random_split(rng: random.Random, holders: list) -> dict:
    """1 to 4 holders (0-bp shares included) whose basis points sum to 10,000."""
    chosen = rng.sample(holders, rng.randint(1, 4))
    remaining, split = 10_000, {}
    for holder in chosen[:-1]:
        split[holder] = min(remaining, rng.choice([0, 1, 50, 2_500, rng.randint(0, 10_000)]))
        remaining -= split[holder]
    split[chosen[-1]] = remaining
    return split


@st.composite
def agreements(draw) -> tuple[int, dict, dict]:
    """(pool, work weights, splits): up to a thousand works (a few thousand pairs)."""
    works = draw(st.one_of(st.integers(1, 6), st.integers(1, 1_000)))
    rng = random.Random(draw(SEEDS))
    work_ids: list = rng.sample(range(1, 10 * works + 1), works)
    if draw(st.booleans()):
        work_ids = [f"w-{work}" for work in work_ids]
    holders = list(range(1, 12))
    weights = {
        work: rng.choice(
            [Decimal(0), Decimal(rng.randint(0, 10)), Decimal(rng.randint(0, 10**19)).scaleb(-10)]
        )
        for work in work_ids
    }
    if draw(st.booleans()):
        weights = dict.fromkeys(work_ids, Decimal(0))  # nothing to weigh by: works share equally
    pool = draw(
        st.one_of(st.integers(0, 10**15), st.integers(10**12, 10**15), st.integers(0, 3 * works))
    )
    return pool, weights, {work: random_split(rng, holders) for work in work_ids}


@PROPERTIES
@given(agreements())
def test_apportion_equals_allocate_pool_from_an_empty_carry(agreement):
    pool, work_weights, splits_ = agreement
    stateful = allocate_pool(pool_minor=pool, work_weights=work_weights, splits=splits_, carries={})
    # The same split stated directly: each (work, holder) pair weighs its work's weight times its
    # basis points (works count the same when none weighs anything), keys in allocate_pool's
    # tie-break order, (work id, holder id) ascending.
    if not any(work_weights.values()):
        work_weights = dict.fromkeys(work_weights, Decimal(1))
    pair_weights = {
        (work, holder): Fraction(work_weights[work]) * bp
        for work in sorted(splits_)
        for holder, bp in sorted(splits_[work].items())
    }
    stateless = apportion(amount_minor=pool, weights=pair_weights)
    assert stateless == stateful.allocations
    assert list(stateless) == list(stateful.allocations)
