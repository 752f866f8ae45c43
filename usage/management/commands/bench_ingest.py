"""Benchmark of usage report ingestion: the product's path against a raw COPY.

Builds one synthetic agreement with many works (set-based), writes N usage lines as a JSON
Lines file (a fifth of them naming their work by ISRC, the rest by id; metrics mixed, revenue
with its currency), then measures, in the same run:

- the product path: ``usage.services.usage_report_submit`` reading the file (what the API view
  streams into), i.e. streaming parse, checks, one COPY into the indexed, trigger-guarded lines
  table, the report's bookkeeping and its deferred checks;
- the physical limit: a raw psycopg COPY of the same lines, already formatted as COPY text,
  into an unindexed table with the same columns.

Both run inside a transaction that is rolled back, so the benchmark leaves nothing behind; the
commit's one WAL flush is left out of both. Peak resident memory is the process's, read after
the product path (the raw COPY's input is streamed from a file as well).
"""

from __future__ import annotations

import datetime as dt
import io
import platform
import random
import resource
import tempfile
import time
import uuid
from decimal import Decimal
from typing import IO, Any

from django.core.management.base import BaseCommand, CommandParser
from django.db import connection, transaction

from accounts.models import Organisation
from catalog.models import Catalogue, RightsShare, Work
from core import clock
from marketplace.models import Agreement, AgreementSplit, AgreementWork
from usage.ingest import ContentFormat
from usage.services import usage_report_submit

PERIOD = dt.date(2026, 10, 1)
TARGET_LINES_PER_SECOND = 100_000
TARGET_SHARE_OF_RAW = 0.25


class _Rollback(Exception):
    pass


class Command(BaseCommand):
    help = "Measure usage report ingestion (lines/s) beside a raw COPY of the same lines."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--lines", type=int, default=1_000_000)
        parser.add_argument("--works", type=int, default=20_000)
        parser.add_argument("--seed", type=int, default=2026)

    def handle(self, *args: Any, lines: int, works: int, seed: int, **options: Any) -> None:
        self.stdout.write(
            f"bench_ingest: {lines:,} lines, {works:,} works, Python {platform.python_version()}"
        )
        with tempfile.TemporaryFile() as jsonl, tempfile.TemporaryFile() as copy_text:
            try:
                with transaction.atomic():
                    agreement, work_ids = _synthetic_agreement(works)
                    started = time.perf_counter()
                    _write_lines(jsonl, copy_text, work_ids, lines, random.Random(seed))
                    prepared = time.perf_counter() - started
                    self.stdout.write(
                        f"  input: {jsonl.tell() / 2**20:,.0f} MiB of JSON Lines, written in "
                        f"{prepared:.1f} s (not timed)"
                    )
                    product = _time_product(agreement, jsonl)
                    peak_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
                    raw = _time_raw_copy(copy_text)
                    raise _Rollback
            except _Rollback:
                pass
        self._report(lines, product, raw, peak_rss)

    def _report(self, lines: int, product: float, raw: float, peak_rss: float) -> None:
        product_rate, raw_rate = lines / product, lines / raw
        share = product_rate / raw_rate
        met = product_rate >= TARGET_LINES_PER_SECOND and share >= TARGET_SHARE_OF_RAW
        self.stdout.write(
            f"  product ingestion: {product:6.2f} s  {product_rate:>10,.0f} lines/s\n"
            f"  raw COPY:          {raw:6.2f} s  {raw_rate:>10,.0f} lines/s\n"
            f"  product / raw:     {share:6.1%}\n"
            f"  peak RSS:          {peak_rss:,.0f} MiB\n"
            f"  targets (>= {TARGET_LINES_PER_SECOND:,} lines/s and >= "
            f"{TARGET_SHARE_OF_RAW:.0%} of raw): {'met' if met else 'NOT met'}"
        )


def _synthetic_agreement(works: int) -> tuple[Agreement, list[int]]:
    """An active agreement licensing ``works`` works (ISRCs set), built set-based."""
    tag = f"bench-{uuid.uuid4().hex[:16]}"
    licensor = Organisation.objects.create(
        name=f"Bench label {tag}", slug=f"{tag}-label", kind="creator", creator_category="label"
    )
    licensee = Organisation.objects.create(
        name=f"Bench AI {tag}", slug=f"{tag}-ai", kind=Organisation.Kind.AI_DEVELOPER
    )
    agreement = Agreement.objects.create(
        licensee=licensee,
        licensor=licensor,
        status=Agreement.Status.ACTIVE,
        starts_on=dt.date(2026, 1, 1),
        ends_on=dt.date(2026, 12, 31),
        commission_bp=1_000,
        accepted_at=clock.now(),
        currency="USD",
        rate_tokens_trained_minor=Decimal("0.3"),
        rate_retrievals_minor=Decimal("0.01"),
        revenue_share_bp=1_500,
        permitted_uses=["ai-train", "ai-input"],
        territories=["WORLD"],
    )
    catalogue = Catalogue.objects.create(owner=licensor, name=tag)
    made = Work.objects.bulk_create(
        Work(
            catalogue=catalogue,
            title=f"Bench work {n}",
            kind=Work.Kind.AUDIO_RECORDING,
            isrc=f"QZBEN{n:07d}",
        )
        for n in range(1, works + 1)
    )
    RightsShare.objects.bulk_create(
        RightsShare(work=work, holder=licensor, role=RightsShare.Role.LABEL, share_bp=10_000)
        for work in made
    )
    AgreementWork.objects.bulk_create(
        AgreementWork(
            agreement=agreement, work=work, title=work.title, identifiers={"isrc": work.isrc}
        )
        for work in made
    )
    AgreementSplit.objects.bulk_create(
        AgreementSplit(
            agreement=agreement, work=work, holder=licensor, role="label", share_bp=10_000
        )
        for work in made
    )
    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # the catalogue's checks, now
        cursor.execute("SET CONSTRAINTS ALL DEFERRED")
    work_ids = [work.pk for work in made]  # work_ids[n - 1] has ISRC QZBEN{n:07d}
    return agreement, work_ids


def _write_lines(
    jsonl: IO[bytes], copy_text: IO[bytes], work_ids: list[int], lines: int, rng: random.Random
) -> None:
    """The report as JSON Lines, and the same lines as the rows a raw COPY would load."""
    metrics = ("tokens_trained", "tokens_trained", "retrievals", "revenue")
    text, rows = io.StringIO(), io.StringIO()
    for line in range(1, lines + 1):
        index = rng.randrange(len(work_ids))
        metric = metrics[line % 4]
        quantity = rng.randrange(1, 50_000_000)
        work = (
            f'"identifier_scheme": "isrc", "identifier": "QZ-BEN-{index + 1:07d}"'
            if line % 5 == 0
            else f'"work_id": {work_ids[index]}'
        )
        currency = ', "currency": "USD"' if metric == "revenue" else ""
        text.write(f'{{{work}, "metric": "{metric}", "quantity": {quantity}{currency}}}\n')
        rows.write(f"0\t{line}\t{work_ids[index]}\t{metric}\t{quantity}\t\n")
        if line % 50_000 == 0:
            jsonl.write(text.getvalue().encode())
            copy_text.write(rows.getvalue().encode())
            text, rows = io.StringIO(), io.StringIO()
    jsonl.write(text.getvalue().encode())
    copy_text.write(rows.getvalue().encode())


def _time_product(agreement: Agreement, jsonl: IO[bytes]) -> float:
    jsonl.seek(0)
    started = time.perf_counter()
    with transaction.atomic():
        submission = usage_report_submit(
            agreement=agreement,
            report_id="bench",
            period_start=PERIOD,
            content=jsonl,
            content_format=ContentFormat.JSON_LINES,
            partial=False,
        )
        with connection.cursor() as cursor:
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # the report's deferred checks
    elapsed = time.perf_counter() - started
    assert submission.report.line_count > 0
    return elapsed


def _time_raw_copy(copy_text: IO[bytes]) -> float:
    with connection.cursor() as cursor:
        cursor.execute("CREATE TABLE bench_raw_usage_line (LIKE royalties_usageline)")
        copy_text.seek(0)
        started = time.perf_counter()
        with cursor.copy(
            "COPY bench_raw_usage_line (report_id, line_no, work_id, metric, quantity, use) "
            "FROM STDIN"
        ) as copy:
            while chunk := copy_text.read(1 << 20):
                copy.write(chunk)
        return time.perf_counter() - started
