"""Benchmark of ledger posting at settlement scale: the two bulk paths beside the ORM path.

Posts N entries of 4 legs each (a licensee's receivable, the platform's commission, two
holders' pending balances) three ways, each timed with every deferred check included:

- ``journal_post_bulk``: the legs computed by one INSERT … SELECT (the settlement engine's
  shape);
- ``journal_post_bulk_rows``: the same legs computed in Python and streamed in with COPY;
- ``journal_post``, one entry at a time through the ORM, for a smaller number of entries.

Each path's deferred constraint triggers (balanced entries, append-only legs) are fired by
``SET CONSTRAINTS ALL IMMEDIATE``, what COMMIT does, and everything runs inside a transaction
that is rolled back, so the benchmark leaves nothing behind (the commit's WAL flush is left
out). The suite checks what the paths book (tests/ledger/test_ledger.py); this only times them.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

from django.core.management.base import BaseCommand, CommandParser
from django.db import connection, transaction

from accounts.models import Organisation
from core import clock
from ledger.models import AccountCode, EntryKind, LedgerAccount
from ledger.selectors import trial_balance
from ledger.services import (
    BulkLeg,
    BulkPostResult,
    LegSpec,
    journal_post,
    journal_post_bulk,
    journal_post_bulk_rows,
    ledger_account_for,
    ledger_account_ids_for_organisations,
)

LICENSEES = 50
HOLDERS = 500


class _Rollback(Exception):
    pass


class Command(BaseCommand):
    help = "Time ledger bulk posting (INSERT … SELECT, COPY) beside one-by-one journal_post."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--entries", type=int, default=10_000)
        parser.add_argument("--orm-entries", type=int, default=300)

    def handle(self, *args: Any, entries: int, orm_entries: int, **options: Any) -> None:
        self.stdout.write(f"bench_ledger: {entries:,} entries x 4 legs per bulk path")
        try:
            with transaction.atomic():
                tag = f"bench-{uuid.uuid4().hex[:12]}"
                receivables = _accounts(AccountCode.LICENSEE_RECEIVABLE, tag, LICENSEES)
                pending = _accounts(AccountCode.HOLDER_PENDING, tag, HOLDERS)
                commission = ledger_account_for(
                    code=AccountCode.PLATFORM_COMMISSION, currency="USD"
                ).pk
                shape = _Shape(tag, receivables, commission, pending)
                from_query, query_seconds = _timed(lambda: shape.post_from_query(entries))
                from_copy, copy_seconds = _timed(lambda: shape.post_from_rows(entries))
                _, orm_seconds = _timed(lambda: shape.post_one_by_one(orm_entries))
                assert (from_query.entries_created, from_query.legs_created) == (
                    entries,
                    4 * entries,
                )
                assert (from_copy.entries_created, from_copy.legs_created) == (
                    entries,
                    4 * entries,
                )
                assert trial_balance(currency="USD").is_balanced
                raise _Rollback
        except _Rollback:
            pass
        per_entry_ms = orm_seconds / orm_entries * 1000 if orm_entries else 0.0
        self.stdout.write(
            f"  INSERT … SELECT: {query_seconds:6.2f} s  {entries / query_seconds:>9,.0f} "
            f"entries/s\n"
            f"  COPY:            {copy_seconds:6.2f} s  {entries / copy_seconds:>9,.0f} "
            f"entries/s\n"
            f"  ORM journal_post: {orm_entries:,} entries in {orm_seconds:.2f} s "
            f"({per_entry_ms:.2f} ms per entry)\n"
            f"  (deferred checks included, rolled back afterwards)"
        )


def _accounts(code: str, tag: str, count: int) -> list[int]:
    kind = (
        Organisation.Kind.AI_DEVELOPER
        if code == AccountCode.LICENSEE_RECEIVABLE
        else Organisation.Kind.CREATOR
    )
    created = Organisation.objects.bulk_create(
        Organisation(
            name=f"{tag} {kind} {n}",
            slug=f"{tag}-{kind}-{n}",
            kind=kind,
            creator_category="author" if kind == Organisation.Kind.CREATOR else "",
        )
        for n in range(count)
    )
    ids = ledger_account_ids_for_organisations(
        code=code, currency="USD", organisation_ids=[o.pk for o in created]
    )
    return list(ids.values())


def _timed(post: Callable[[], Any]) -> tuple[Any, float]:
    """Run ``post`` with its deferred checks fired (what COMMIT does); result and seconds."""
    started = time.perf_counter()
    with transaction.atomic():
        result = post()
        with connection.cursor() as cursor:
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
            cursor.execute("SET CONSTRAINTS ALL DEFERRED")
    return result, time.perf_counter() - started


class _Shape:
    """Entry n: licensee n's receivable +1000, commission -100, two holders -600 and -300."""

    def __init__(
        self, tag: str, receivables: list[int], commission: int, pending: list[int]
    ) -> None:
        self.tag, self.receivables, self.commission, self.pending = (
            tag,
            receivables,
            commission,
            pending,
        )

    def post_from_query(self, entries: int) -> BulkPostResult:
        return journal_post_bulk(
            kind=EntryKind.USAGE_SETTLEMENT,
            effective_date=clock.today(),
            memo="bench",
            legs_query="""
                SELECT %(tag)s || ':sql:' || g AS idempotency_key,
                       %(tag)s || ':sql' AS reference,
                       'USD' AS currency, v.account_id, v.amount_minor, '' AS memo
                  FROM generate_series(0, %(entries)s - 1) AS g
                 CROSS JOIN LATERAL (VALUES
                       ((%(receivables)s::bigint[])[g %% %(licensees)s + 1], 1000::bigint),
                       (%(commission)s::bigint, -100::bigint),
                       ((%(pending)s::bigint[])[(2 * g) %% %(holders)s + 1], -600::bigint),
                       ((%(pending)s::bigint[])[(2 * g + 1) %% %(holders)s + 1], -300::bigint)
                 ) AS v (account_id, amount_minor)
            """,
            params={
                "tag": self.tag,
                "entries": entries,
                "receivables": self.receivables,
                "licensees": len(self.receivables),
                "commission": self.commission,
                "pending": self.pending,
                "holders": len(self.pending),
            },
        )

    def post_from_rows(self, entries: int) -> BulkPostResult:
        def rows() -> Iterator[BulkLeg]:
            reference = f"{self.tag}:copy"
            for n in range(entries):
                key = f"{self.tag}:copy:{n}"
                for account_id, amount in self.legs(n):
                    yield BulkLeg(key, reference, "USD", account_id, amount)

        return journal_post_bulk_rows(
            kind=EntryKind.USAGE_SETTLEMENT, effective_date=clock.today(), memo="bench", rows=rows()
        )

    def post_one_by_one(self, entries: int) -> None:
        accounts = LedgerAccount.objects.in_bulk(
            [*self.receivables, self.commission, *self.pending]
        )
        for n in range(entries):
            journal_post(
                kind=EntryKind.USAGE_SETTLEMENT,
                currency="USD",
                effective_date=clock.today(),
                legs=[LegSpec(accounts[account_id], amount) for account_id, amount in self.legs(n)],
                memo="bench",
                reference=f"{self.tag}:orm",
                idempotency_key=f"{self.tag}:orm:{n}",
            )

    def legs(self, n: int) -> list[tuple[int, int]]:
        holders = len(self.pending)
        return [
            (self.receivables[n % len(self.receivables)], 1000),
            (self.commission, -100),
            (self.pending[(2 * n) % holders], -600),
            (self.pending[(2 * n + 1) % holders], -300),
        ]
