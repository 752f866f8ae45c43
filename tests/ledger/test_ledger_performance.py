"""How long posting takes at settlement scale, commit (and so every deferred check) included.
Printed, not asserted (`pytest -s` shows it); the assertions check what was booked."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterator

import pytest
from django.db import transaction

from accounts.models import Organisation
from ledger.models import AccountCode, EntryKind, JournalLeg, LedgerAccount
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

ENTRIES = 10_000
ORM_ENTRIES = 300
LICENSEES = 50
HOLDERS = 500
OCTOBER = dt.date(2025, 10, 31)


def organisations(kind: str, count: int) -> list[int]:
    created = Organisation.objects.bulk_create(
        Organisation(
            name=f"{kind} {n}",
            slug=f"perf-{kind}-{n}",
            kind=kind,
            creator_category="author" if kind == Organisation.Kind.CREATOR else "",
        )
        for n in range(count)
    )
    return [organisation.pk for organisation in created]


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_posting_speed_of_the_bulk_and_orm_paths():
    receivables = list(
        ledger_account_ids_for_organisations(
            code=AccountCode.LICENSEE_RECEIVABLE,
            currency="USD",
            organisation_ids=organisations(Organisation.Kind.AI_DEVELOPER, LICENSEES),
        ).values()
    )
    pending = list(
        ledger_account_ids_for_organisations(
            code=AccountCode.HOLDER_PENDING,
            currency="USD",
            organisation_ids=organisations(Organisation.Kind.CREATOR, HOLDERS),
        ).values()
    )
    commission = ledger_account_for(code=AccountCode.PLATFORM_COMMISSION, currency="USD").pk

    # INSERT … SELECT: the settlement engine's shape, legs computed by one query.
    started = time.perf_counter()
    with transaction.atomic():
        from_query = journal_post_bulk(
            kind=EntryKind.USAGE_SETTLEMENT,
            effective_date=OCTOBER,
            memo="perf",
            legs_query="""
                SELECT 'perf:sql:' || g AS idempotency_key, 'settlement_run:sql' AS reference,
                       'USD' AS currency, v.account_id, v.amount_minor, '' AS memo
                  FROM generate_series(1, %(entries)s) AS g
                 CROSS JOIN LATERAL (VALUES
                       ((%(receivables)s::bigint[])[g %% %(licensees)s + 1], 1000::bigint),
                       (%(commission)s::bigint, -100::bigint),
                       ((%(pending)s::bigint[])[(2 * g) %% %(holders)s + 1], -600::bigint),
                       ((%(pending)s::bigint[])[(2 * g + 1) %% %(holders)s + 1], -300::bigint)
                 ) AS v (account_id, amount_minor)
            """,
            params={
                "entries": ENTRIES,
                "receivables": receivables,
                "licensees": LICENSEES,
                "commission": commission,
                "pending": pending,
                "holders": HOLDERS,
            },
        )
    insert_select_seconds = time.perf_counter() - started

    def rows() -> Iterator[BulkLeg]:
        for n in range(ENTRIES):
            key = f"perf:copy:{n}"
            yield BulkLeg(key, "settlement_run:copy", "USD", receivables[n % LICENSEES], 1000)
            yield BulkLeg(key, "settlement_run:copy", "USD", commission, -100)
            yield BulkLeg(key, "settlement_run:copy", "USD", pending[(2 * n) % HOLDERS], -600)
            yield BulkLeg(key, "settlement_run:copy", "USD", pending[(2 * n + 1) % HOLDERS], -300)

    started = time.perf_counter()
    with transaction.atomic():
        from_copy = journal_post_bulk_rows(
            kind=EntryKind.USAGE_SETTLEMENT, effective_date=OCTOBER, memo="perf", rows=rows()
        )
    copy_seconds = time.perf_counter() - started

    accounts = LedgerAccount.objects.in_bulk([receivables[0], commission, *pending[:2]])
    legs = [
        LegSpec(accounts[receivables[0]], 1000),
        LegSpec(accounts[commission], -100),
        LegSpec(accounts[pending[0]], -600),
        LegSpec(accounts[pending[1]], -300),
    ]
    started = time.perf_counter()
    with transaction.atomic():
        for n in range(ORM_ENTRIES):
            journal_post(
                kind=EntryKind.USAGE_SETTLEMENT,
                currency="USD",
                effective_date=OCTOBER,
                legs=legs,
                memo="perf",
                reference="settlement_run:orm",
                idempotency_key=f"perf:orm:{n}",
            )
    orm_seconds = time.perf_counter() - started

    assert (from_query.entries_created, from_query.legs_created) == (ENTRIES, 4 * ENTRIES)
    assert (from_copy.entries_created, from_copy.legs_created) == (ENTRIES, 4 * ENTRIES)
    assert JournalLeg.objects.count() == 8 * ENTRIES + 4 * ORM_ENTRIES
    assert trial_balance().totals_by_currency == {"USD": 0}
    print(
        f"\nledger posting, commit included: {ENTRIES:,} entries x 4 legs"
        f" INSERT … SELECT {insert_select_seconds:.2f} s, COPY {copy_seconds:.2f} s;"
        f" ORM journal_post {ORM_ENTRIES:,} entries {orm_seconds:.2f} s"
        f" ({orm_seconds / ORM_ENTRIES * 1000:.2f} ms per entry)"
    )
