"""Properties of the ledger under random balanced postings in several currencies: the trial
balance is zero per currency, every account's balance is the sum of its legs, and the bulk path
books exactly what the one-by-one path books."""

from __future__ import annotations

import datetime as dt
import itertools
import os
from collections import defaultdict

import pytest
from django.db import transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from accounts.models import Organisation
from ledger.models import AccountCode, EntryKind, JournalEntry, LedgerAccount
from ledger.selectors import account_balance, balances_by_code, trial_balance
from ledger.services import (
    BulkLeg,
    LegSpec,
    UnbalancedEntryError,
    journal_post,
    journal_post_bulk_rows,
    journal_reverse,
    ledger_account_for,
)
from tests.factories import OrganisationFactory

pytestmark = pytest.mark.django_db

CURRENCIES = ("USD", "EUR", "JPY")
PLATFORM_CODES = (
    AccountCode.PLATFORM_CASH,
    AccountCode.PLATFORM_COMMISSION,
    AccountCode.STRIPE_FEES,
    AccountCode.DISPUTE_LOSSES,
)
HOLDER_CODES = (
    AccountCode.HOLDER_PENDING,
    AccountCode.HOLDER_PAYABLE,
    AccountCode.HOLDER_RECOVERABLE,
)
HOLDERS = 3
# An account "slot": a platform code, or a holder code for one of HOLDERS organisations.
SLOTS = [(code, None) for code in PLATFORM_CODES] + [
    (code, holder) for code in HOLDER_CODES for holder in range(HOLDERS)
]
DAYS = [dt.date(2025, 10, 1) + dt.timedelta(days=n) for n in range(0, 60, 7)]

# Each example posts to the real database: 30 per run, 300 under `make test-deep`.
PROPERTY_SETTINGS = settings(
    max_examples=300 if os.environ.get("HYPOTHESIS_PROFILE") == "deep" else 30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@st.composite
def balanced_legs(draw) -> list[tuple[int, int]]:
    """(slot, amount) pairs: positive debits and a split of their total into credits."""
    debits = draw(st.lists(st.integers(1, 10**12), min_size=1, max_size=3))
    total = sum(debits)
    credit_count = draw(st.integers(1, min(3, total)))
    cuts = draw(
        st.sets(st.integers(1, total - 1), min_size=credit_count - 1, max_size=credit_count - 1)
        if total > 1
        else st.just(set())
    )
    credits = [low - high for low, high in itertools.pairwise([0, *sorted(cuts), total])]
    amounts = debits + credits
    slot = st.integers(0, len(SLOTS) - 1)
    slots = draw(st.lists(slot, min_size=len(amounts), max_size=len(amounts)))
    return list(zip(slots, amounts, strict=True))


postings = st.lists(
    st.tuples(
        st.sampled_from(CURRENCIES),
        st.sampled_from(DAYS),
        balanced_legs(),
        st.one_of(st.none(), st.integers(0, 20)),  # reverse an earlier posting too?
    ),
    min_size=1,
    max_size=8,
)


@pytest.fixture
def holders() -> list[Organisation]:
    return [OrganisationFactory(kind=Organisation.Kind.CREATOR) for _ in range(HOLDERS)]


def slot_account(slot: int, currency: str, holders: list[Organisation]) -> LedgerAccount:
    code, holder = SLOTS[slot]
    organisation = holders[holder] if holder is not None else None
    return ledger_account_for(code=code, currency=currency, organisation=organisation)


def assert_books_match(expected: dict[int, int], currencies: set[str]) -> None:
    books = trial_balance()
    assert books.totals_by_currency == dict.fromkeys(currencies, 0)
    assert {row.account_id: row.balance_minor for row in books.rows} == expected
    for account in LedgerAccount.objects.filter(pk__in=expected):
        assert account_balance(account=account) == expected[account.pk]
    for code in HOLDER_CODES:
        for currency in currencies:
            by_organisation = balances_by_code(code=code, currency=currency)
            for organisation_id, balance in by_organisation.items():
                assert balance == sum(
                    expected[account.pk]
                    for account in LedgerAccount.objects.filter(
                        code=code, currency=currency, organisation_id=organisation_id
                    )
                )


@PROPERTY_SETTINGS
@given(postings=postings)
def test_random_postings_and_reversals_keep_the_books_balanced(holders, postings):
    with transaction.atomic():
        expected: dict[int, int] = defaultdict(int)
        posted: list[JournalEntry] = []
        for number, (currency, day, legs, reverse_index) in enumerate(postings):
            specs = [
                LegSpec(slot_account(slot, currency, holders), amount) for slot, amount in legs
            ]
            posted.append(
                journal_post(
                    kind=EntryKind.ADJUSTMENT,
                    currency=currency,
                    effective_date=day,
                    legs=specs,
                    memo="",
                    reference=f"property:{number}",
                    idempotency_key=f"property:{number}",
                )
            )
            for spec in specs:
                expected[spec.account.pk] += spec.amount_minor
            if reverse_index is not None and reverse_index < len(posted) - 1:
                target = posted[reverse_index]
                if not hasattr(target, "reversed_by"):
                    journal_reverse(
                        entry=target,
                        effective_date=day,
                        memo="",
                        idempotency_key=f"reverse:{target.pk}",
                    )
                    for leg in target.legs.all():
                        expected[leg.account_id] -= leg.amount_minor
                    target.refresh_from_db()
        assert_books_match(dict(expected), {currency for currency, *_ in postings})
        transaction.set_rollback(True)


@PROPERTY_SETTINGS
@given(postings=postings)
def test_the_bulk_path_books_what_the_one_by_one_path_books(holders, postings):
    with transaction.atomic():
        expected: dict[int, int] = defaultdict(int)
        rows = []
        for number, (currency, _day, legs, _reverse) in enumerate(postings):
            for slot, amount in legs:
                account = slot_account(slot, currency, holders)
                expected[account.pk] += amount
                rows.append(BulkLeg(f"bulk:{number}", "property", currency, account.pk, amount))
        result = journal_post_bulk_rows(
            kind=EntryKind.USAGE_SETTLEMENT, effective_date=DAYS[0], memo="", rows=rows
        )
        assert result.entries_created == len(postings)
        assert_books_match(dict(expected), {currency for currency, *_ in postings})
        transaction.set_rollback(True)


@PROPERTY_SETTINGS
@given(legs=balanced_legs(), error=st.integers(-5, 5).filter(bool))
def test_any_unbalanced_posting_is_refused_and_leaves_nothing(holders, legs, error):
    with transaction.atomic():
        specs = [LegSpec(slot_account(slot, "USD", holders), amount) for slot, amount in legs]
        specs[0] = LegSpec(specs[0].account, specs[0].amount_minor + error)
        if specs[0].amount_minor:
            with pytest.raises(UnbalancedEntryError, match=f"sum to {error} USD"):
                journal_post(
                    kind=EntryKind.ADJUSTMENT,
                    currency="USD",
                    effective_date=DAYS[0],
                    legs=specs,
                    memo="",
                    reference="unbalanced",
                    idempotency_key="unbalanced",
                )
        assert not JournalEntry.objects.exists()
        transaction.set_rollback(True)
