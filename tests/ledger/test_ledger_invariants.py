"""The ledger's invariants hold in PostgreSQL whatever writes: raw SQL here, never the services.

pytest-django wraps `db` tests in a transaction that never commits, so deferred checks run
only in `transaction=True` tests (or after `SET CONSTRAINTS ALL IMMEDIATE`). Those tests end
with Django's flush, which uses TRUNCATE: that it still works shows TRUNCATE is not blocked.
"""

from __future__ import annotations

import datetime as dt
import threading

import pytest
from django.db import IntegrityError, connection, transaction

from accounts.models import Membership, Organisation
from ledger.models import (
    AccountCode,
    EntryKind,
    JournalEntry,
    JournalLeg,
    LedgerAccount,
)
from ledger.services import (
    ClosedPeriodError,
    LegSpec,
    accounting_period_for,
    journal_post,
    ledger_account_for,
    period_close,
)
from tests.factories import MembershipFactory, OrganisationFactory

OCTOBER = dt.date(2025, 10, 15)


@pytest.fixture
def accounts(db) -> dict[str, LedgerAccount]:
    return {
        "cash": ledger_account_for(code=AccountCode.PLATFORM_CASH, currency="USD"),
        "fees": ledger_account_for(code=AccountCode.STRIPE_FEES, currency="USD"),
        "euro_fees": ledger_account_for(code=AccountCode.STRIPE_FEES, currency="EUR"),
    }


def insert_entry(cursor, key: str, *, currency: str = "USD", day: str = "2025-10-15") -> int:
    cursor.execute(
        "INSERT INTO royalties_journalentry"
        " (kind, effective_date, memo, reference, idempotency_key, currency)"
        " VALUES ('adjustment', %s, '', 'raw', %s, %s) RETURNING id",
        [day, key, currency],
    )
    return cursor.fetchone()[0]


def insert_legs(cursor, entry_id: int, *legs: tuple[LedgerAccount, int, str]) -> None:
    values = ", ".join(["(%s, %s, %s, %s, '')"] * len(legs))
    cursor.execute(
        "INSERT INTO royalties_journalleg (entry_id, account_id, amount_minor, currency, memo)"
        f" VALUES {values}",
        [value for leg in legs for value in (entry_id, leg[0].pk, leg[1], leg[2])],
    )


def post_fee(accounts, key: str, amount: int = 30, day: dt.date = OCTOBER) -> JournalEntry:
    return journal_post(
        kind=EntryKind.STRIPE_FEE,
        currency="USD",
        effective_date=day,
        legs=[LegSpec(accounts["fees"], amount), LegSpec(accounts["cash"], -amount)],
        memo="",
        reference="fee",
        idempotency_key=key,
    )


@pytest.mark.django_db(transaction=True)
def test_entries_are_checked_again_at_commit(accounts):
    with (
        pytest.raises(IntegrityError, match=r"journal entry \d+ \(lonely\) is unbalanced: 0 legs"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        insert_entry(cursor, "lonely")
    euro_cash = ledger_account_for(code=AccountCode.PLATFORM_CASH, currency="EUR")
    with (
        pytest.raises(
            IntegrityError, match="2 legs summing to 0 minor units, 2 of them not in USD"
        ),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        entry_id = insert_entry(cursor, "euro legs", currency="USD")
        insert_legs(cursor, entry_id, (accounts["euro_fees"], 9, "EUR"), (euro_cash, -9, "EUR"))
    assert not JournalEntry.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_the_deferred_check_alone_rejects_unbalanced_entries_at_commit(accounts):
    """With the per-statement check switched off, the per-entry check at commit still holds."""
    fees, cash, euro_fees = accounts["fees"], accounts["cash"], accounts["euro_fees"]
    cases = [
        ([(fees, 100, "USD"), (cash, -90, "USD")], "2 legs summing to 10 minor units"),
        ([(fees, 100, "USD")], "1 legs summing to 100 minor units"),
        (
            [(fees, 100, "USD"), (euro_fees, -100, "EUR")],
            "2 legs summing to 0 minor units, 1 of them not in USD",
        ),
    ]
    try:
        for legs, message in cases:
            with (
                pytest.raises(IntegrityError, match=message),
                transaction.atomic(),
                connection.cursor() as cursor,
            ):
                cursor.execute(
                    "ALTER TABLE royalties_journalleg DISABLE TRIGGER ledger_legs_complete_entries"
                )
                insert_legs(cursor, insert_entry(cursor, "raw"), *legs)
    finally:
        with connection.cursor() as cursor:
            cursor.execute(
                "ALTER TABLE royalties_journalleg ENABLE TRIGGER ledger_legs_complete_entries"
            )
    assert not JournalEntry.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("legs", "message"),
    [
        (
            lambda a: [(a["fees"], 100, "USD"), (a["cash"], -90, "USD")],
            "is unbalanced: 2 legs summing to 10",
        ),
        (lambda a: [(a["fees"], 100, "USD")], "is unbalanced: 1 legs summing to 100"),
        (
            lambda a: [(a["fees"], 100, "USD"), (a["euro_fees"], -100, "EUR")],
            "was given legs in both EUR and USD",
        ),
        (
            lambda a: [(a["fees"], 100, "USD"), (a["euro_fees"], -100, "USD")],
            "legs on account .* are in USD, but the account is in EUR",
        ),
    ],
)
def test_raw_sql_legs_are_checked_at_the_insert_statement(accounts, legs, message):
    with (
        pytest.raises(IntegrityError, match=message),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        insert_legs(cursor, insert_entry(cursor, "raw"), *legs(accounts))


@pytest.mark.django_db(transaction=True)
def test_legs_cannot_be_added_later_to_a_posted_entry(accounts):
    entry = post_fee(accounts, "old")
    with (
        pytest.raises(IntegrityError, match=f"journal entry {entry.pk} already has legs"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        insert_legs(cursor, entry.pk, (accounts["fees"], 5, "USD"), (accounts["cash"], -5, "USD"))
    assert JournalLeg.objects.filter(entry=entry).count() == 2


@pytest.mark.django_db
def test_legs_cannot_be_added_after_the_entry_was_checked_early(accounts):
    """`SET CONSTRAINTS ... IMMEDIATE` runs the commit check early; legs added after it would
    escape it, so an entry's legs must all come in one statement."""
    with connection.cursor() as cursor:
        entry_id = insert_entry(cursor, "early")
        insert_legs(cursor, entry_id, (accounts["fees"], 5, "USD"), (accounts["cash"], -5, "USD"))
        cursor.execute("SET CONSTRAINTS ledger_entry_balanced IMMEDIATE")
        with pytest.raises(IntegrityError, match="already has legs"), transaction.atomic():
            insert_legs(
                cursor, entry_id, (accounts["fees"], 7, "USD"), (accounts["cash"], -7, "USD")
            )


@pytest.mark.django_db
def test_set_constraints_immediate_checks_the_test_transaction_early(accounts):
    """Django checks deferred constraints this way at the end of every `db` test too, so a test
    that leaves an entry without legs errors at teardown."""
    with (
        pytest.raises(IntegrityError, match="unbalanced: 0 legs"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        insert_entry(cursor, "no legs")
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("statement", "message"),
    [
        (
            "UPDATE royalties_journalentry SET memo = 'edited'",
            "UPDATE on royalties_journalentry is not allowed: journal entries are append-only",
        ),
        (
            "DELETE FROM royalties_journalentry",
            "DELETE on royalties_journalentry is not allowed: journal entries are append-only",
        ),
        (
            "UPDATE royalties_journalleg SET amount_minor = -amount_minor",
            "UPDATE on royalties_journalleg is not allowed: journal legs are append-only",
        ),
        (
            "DELETE FROM royalties_journalleg",
            "DELETE on royalties_journalleg is not allowed: journal legs are append-only",
        ),
        (
            "UPDATE royalties_ledgeraccount SET currency = 'EUR' WHERE code = 'platform_cash'",
            "code, kind, organisation, currency and sub-ledger never change",
        ),
        (
            "DELETE FROM royalties_accountingperiod",
            "accounting periods are kept forever",
        ),
        (
            "UPDATE royalties_accountingperiod SET month = 11",
            "an accounting period's month never changes",
        ),
    ],
)
def test_history_cannot_be_rewritten(accounts, statement, message):
    post_fee(accounts, "kept")
    with (
        pytest.raises(IntegrityError, match=message),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute(statement)


@pytest.mark.django_db
def test_the_orm_cannot_edit_or_delete_entries_either(accounts):
    entry = post_fee(accounts, "kept")
    entry.memo = "edited"
    with pytest.raises(IntegrityError, match="append-only"), transaction.atomic():
        entry.save()
    with pytest.raises(IntegrityError, match="append-only"), transaction.atomic():
        JournalLeg.objects.filter(entry=entry).delete()
    assert JournalEntry.objects.get().memo == ""


@pytest.fixture
def platform_owner(transactional_db):
    platform = OrganisationFactory(name="TrainRight", kind=Organisation.Kind.PLATFORM)
    return MembershipFactory(organisation=platform, role=Membership.Role.OWNER).user


def in_thread(target) -> threading.Thread:
    def run():
        try:
            target()
        finally:
            connection.close()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


@pytest.mark.django_db(transaction=True)
def test_closing_a_period_waits_for_postings_in_flight(accounts, platform_owner):
    october = accounting_period_for(day=OCTOBER)
    posted, release, closed = threading.Event(), threading.Event(), threading.Event()

    def post_and_hold():
        with transaction.atomic():
            post_fee(accounts, "in flight")
            posted.set()
            release.wait(10)

    def close():
        period_close(period=october, actor=platform_owner)
        closed.set()

    poster = in_thread(post_and_hold)
    assert posted.wait(10)
    closer = in_thread(close)
    assert not closed.wait(1), "the close must wait for the posting to commit"
    release.set()
    poster.join(10)
    closer.join(10)

    assert closed.is_set()
    assert JournalEntry.objects.filter(idempotency_key="in flight").exists()
    with pytest.raises(ClosedPeriodError, match="2025-10 is closed"):
        post_fee(accounts, "too late")


@pytest.mark.django_db(transaction=True)
def test_a_posting_waiting_on_a_close_sees_the_period_closed(accounts, platform_owner):
    october = accounting_period_for(day=OCTOBER)
    closing, release = threading.Event(), threading.Event()

    def close_and_hold():
        with transaction.atomic():
            period_close(period=october, actor=platform_owner)
            closing.set()
            release.wait(10)

    closer = in_thread(close_and_hold)
    assert closing.wait(10)
    threading.Timer(0.5, release.set).start()

    with pytest.raises(ClosedPeriodError, match="accounting period 2025-10 is closed"):
        post_fee(accounts, "raced the close")
    closer.join(10)
    assert not JournalEntry.objects.exists()
