"""The ledger's three ways of posting (``journal_post`` one entry at a time, and the bulk paths
``journal_post_bulk`` from a query and ``journal_post_bulk_rows`` from rows by COPY) book the
same entries: the same legs on the same accounts, the same entry fields, the same balances.
How long each takes is ``manage.py bench_ledger`` (``make bench``), not a test."""

from __future__ import annotations

import datetime as dt
from collections import Counter

import pytest
from django.db.models import Sum

from accounts.models import Organisation
from ledger.models import AccountCode, EntryKind, JournalEntry, JournalLeg, LedgerAccount
from ledger.selectors import trial_balance
from ledger.services import (
    BulkLeg,
    LegSpec,
    journal_post,
    journal_post_bulk,
    journal_post_bulk_rows,
    ledger_account_for,
    ledger_account_ids_for_organisations,
)

pytestmark = pytest.mark.django_db

ENTRIES = 40
OCTOBER = dt.date(2025, 10, 31)
REFERENCE = "settlement_run:7"


def organisation_accounts(code: str, kind: str, count: int) -> list[int]:
    created = Organisation.objects.bulk_create(
        Organisation(
            name=f"{kind} {n}",
            slug=f"paths-{kind}-{n}",
            kind=kind,
            creator_category="author" if kind == Organisation.Kind.CREATOR else "",
        )
        for n in range(count)
    )
    ids = ledger_account_ids_for_organisations(
        code=code, currency="USD", organisation_ids=[o.pk for o in created]
    )
    return [ids[o.pk] for o in created]


def booked(prefix: str) -> dict[str, tuple]:
    """Entry n -> everything the ledger holds of the entry whose key is ``prefix:n``, but its
    id, key and posting time; its legs as a multiset of (account, amount, currency, memo)."""
    entries = JournalEntry.objects.filter(idempotency_key__startswith=f"{prefix}:")
    legs = JournalLeg.objects.filter(entry__in=entries)
    by_entry: dict[int, Counter] = {}
    for leg in legs:
        by_entry.setdefault(leg.entry_id, Counter())[
            (leg.account_id, leg.amount_minor, leg.currency, leg.memo)
        ] += 1
    return {
        entry.idempotency_key.removeprefix(f"{prefix}:"): (
            entry.kind,
            entry.effective_date,
            entry.intended_date,
            entry.memo,
            entry.reference,
            entry.stripe_object_id,
            entry.reverses_id,
            entry.currency,
            by_entry.get(entry.pk),
        )
        for entry in entries
    }


def balances(prefix: str) -> dict[int, int]:
    return dict(
        JournalLeg.objects.filter(entry__idempotency_key__startswith=f"{prefix}:")
        .values_list("account_id")
        .annotate(total=Sum("amount_minor"))
    )


def test_the_bulk_paths_book_exactly_what_one_by_one_posting_books():
    receivables = organisation_accounts(
        AccountCode.LICENSEE_RECEIVABLE, Organisation.Kind.AI_DEVELOPER, 3
    )
    pending = organisation_accounts(AccountCode.HOLDER_PENDING, Organisation.Kind.CREATOR, 5)
    commission = ledger_account_for(code=AccountCode.PLATFORM_COMMISSION, currency="USD").pk

    def legs(n: int) -> list[tuple[int, int, str]]:
        """Entry n: 3 to 4 legs of varying amounts and memos, one holder sometimes twice."""
        first, second = pending[n % 5], pending[(n * 3 + 1) % 5]
        amount = 1_000 + 37 * n
        shape = [
            (receivables[n % 3], amount, ""),
            (commission, -(amount // 10), ""),
            (first, -(amount - amount // 10 - 300), f"work {n}"),
            (second, -300, "W2"),
        ]
        return [*shape[:3], (first, -300, "W2")] if n % 7 == 0 else shape

    with_orm = {
        str(n): journal_post(
            kind=EntryKind.USAGE_SETTLEMENT,
            currency="USD",
            effective_date=OCTOBER,
            legs=[
                LegSpec(LedgerAccount.objects.get(pk=account), amount, memo)
                for account, amount, memo in legs(n)
            ],
            memo="October usage",
            reference=REFERENCE,
            idempotency_key=f"orm:{n}",
        )
        for n in range(ENTRIES)
    }
    rows = [
        BulkLeg(f"{path}:{n}", REFERENCE, "USD", account, amount, memo)
        for path in ("sql", "copy")
        for n in range(ENTRIES)
        for account, amount, memo in legs(n)
    ]
    from_query = journal_post_bulk(
        kind=EntryKind.USAGE_SETTLEMENT,
        effective_date=OCTOBER,
        memo="October usage",
        legs_query=(
            "SELECT * FROM (VALUES "
            + ", ".join(["(%s, %s, %s, %s::bigint, %s::bigint, %s)"] * (len(rows) // 2))
            + ") AS v (idempotency_key, reference, currency, account_id, amount_minor, memo)"
        ),
        params=[value for row in rows if row.idempotency_key.startswith("sql:") for value in row],
    )
    from_rows = journal_post_bulk_rows(
        kind=EntryKind.USAGE_SETTLEMENT,
        effective_date=OCTOBER,
        memo="October usage",
        rows=iter(row for row in rows if row.idempotency_key.startswith("copy:")),
    )

    legs_posted = sum(len(legs(n)) for n in range(ENTRIES))
    assert len(with_orm) == ENTRIES
    assert (from_query.entries_created, from_query.legs_created) == (ENTRIES, legs_posted)
    assert (from_rows.entries_created, from_rows.legs_created) == (ENTRIES, legs_posted)
    one_by_one = booked("orm")
    assert len(one_by_one) == ENTRIES
    assert booked("sql") == one_by_one
    assert booked("copy") == one_by_one
    assert balances("sql") == balances("copy") == balances("orm")
    assert trial_balance().totals_by_currency == {"USD": 0}
