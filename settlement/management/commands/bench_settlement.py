"""`make bench`: settle a synthetic month of 1,000,000 usage lines on two Celery workers.

The marketplace (10,000 rights holders, 100,000 works of 1 to 4 holders each, 200 agreements,
one usage report per agreement) is generated in a database of its own, created afresh, with
raw COPY (the product's ingestion is measured by bench_ingest). Then, measured: from
``settlement_run_start`` to the run's completion, two worker processes settling the chunks in
parallel. Printed: wall time, ledger legs written per second, statements produced, and the
peak resident memory of every process involved (this command, each worker process, the
largest PostgreSQL backend).
"""

from __future__ import annotations

import datetime as dt
import os
import random
import resource
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser
from django.db import connection, transaction

from core import clock
from core.bench_database import bench_relaunch_in_own_database

BENCH_DATABASE = "trainright_bench_settlement"
PERIOD = dt.date(2026, 10, 1)


class Command(BaseCommand):
    help = "Benchmark a settlement run of a synthetic 1,000,000-line month (own database)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--holders", type=int, default=10_000)
        parser.add_argument("--works", type=int, default=100_000)
        parser.add_argument("--agreements", type=int, default=200)
        parser.add_argument("--lines", type=int, default=1_000_000)
        parser.add_argument("--workers", type=int, default=2)
        parser.add_argument(
            "--inside", action="store_true", help="(internal) run inside the bench database"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if not options["inside"]:
            bench_relaunch_in_own_database(
                command="bench_settlement",
                database_name=BENCH_DATABASE,
                options=options,
                passed=("holders", "works", "agreements", "lines", "workers"),
            )
            return
        started = time.monotonic()
        _generate(self.stdout, options)
        self.stdout.write(f"generated in {time.monotonic() - started:.1f} s")
        _settle(self.stdout, workers=options["workers"])


# --- generation ----------------------------------------------------------------------------


def _copy(cursor: Any, table: str, columns: str, rows: Iterator[tuple]) -> None:
    with cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)


def _ids(cursor: Any, table: str, where: str = "true") -> list[int]:
    cursor.execute(f"SELECT id FROM {table} WHERE {where} ORDER BY id")  # noqa: S608
    return [row[0] for row in cursor.fetchall()]


def _generate(out: Any, options: dict[str, Any]) -> None:
    from marketplace.models import Agreement
    from usage.models import UsageReport

    randomness = random.Random(20261001)
    holders, works, agreements = options["holders"], options["works"], options["agreements"]
    now = clock.now()
    with transaction.atomic(), connection.cursor() as cursor:
        # Loading only: the catalogue's per-row integrity triggers are skipped (the data is
        # valid by construction); nothing measured runs with this setting.
        cursor.execute("SET LOCAL session_replication_role = replica")
        _copy(
            cursor,
            "accounts_organisation",
            "name, slug, kind, creator_category, country, default_currency, created_at",
            (
                (f"Holder {n}", f"bench-holder-{n}", "creator", "author", "GB", "USD", now)
                for n in range(holders)
            ),
        )
        licensees = max(agreements // 10, 1)
        _copy(
            cursor,
            "accounts_organisation",
            "name, slug, kind, creator_category, country, default_currency, created_at",
            (
                (f"Lab {n}", f"bench-lab-{n}", "ai_developer", "", "US", "USD", now)
                for n in range(licensees)
            ),
        )
        holder_ids = _ids(cursor, "accounts_organisation", "kind = 'creator'")
        lab_ids = _ids(cursor, "accounts_organisation", "kind = 'ai_developer'")
        _copy(
            cursor,
            "catalog_catalogue",
            "owner_id, name, description, created_at, updated_at",
            ((holder_ids[n], f"List {n}", "", now, now) for n in range(agreements)),
        )
        catalogue_ids = _ids(cursor, "catalog_catalogue")
        _copy(
            cursor,
            "catalog_work",
            "catalogue_id, title, kind, language, isbn13, isrc, iswc, doi, url, content_sha256, "
            "content_file, metadata, created_at, updated_at",
            (
                (
                    catalogue_ids[n % agreements],
                    f"Work {n}",
                    "book",
                    "en",
                    "",
                    "",
                    "",
                    "",
                    "",
                    "",
                    "",
                    "{}",
                    now,
                    now,
                )
                for n in range(works)
            ),
        )
        work_ids = _ids(cursor, "catalog_work")
        splits = _split_sheets(randomness, work_ids, holder_ids)
        _copy(
            cursor,
            "catalog_rightsshare",
            "work_id, holder_id, role, share_bp",
            ((w, h, "author", bp) for w, sheet in splits.items() for h, bp in sheet),
        )
        Agreement.objects.bulk_create(
            Agreement(
                licensee_id=lab_ids[n % licensees],
                licensor_id=holder_ids[n],
                starts_on=dt.date(2026, 1, 1),
                ends_on=dt.date(2027, 12, 31),
                commission_bp=1000,
                accepted_at=now,
                currency="USD",
                rate_tokens_trained_minor=Decimal("0.0137"),
                rate_retrievals_minor=Decimal("0.05"),
                permitted_uses=["ai-train", "ai-input"],
            )
            for n in range(agreements)
        )
        Agreement.objects.update(status=Agreement.Status.ACTIVE, activated_at=now)
        agreement_ids = _ids(cursor, "marketplace_agreement")
        works_of = {n: work_ids[n::agreements] for n in range(agreements)}
        _copy(
            cursor,
            "marketplace_agreementwork",
            "agreement_id, work_id, title, content_sha256, identifiers",
            (
                (agreement_ids[n], w, f"Work {w}", "", "{}")
                for n in range(agreements)
                for w in works_of[n]
            ),
        )
        _copy(
            cursor,
            "marketplace_agreementsplit",
            "agreement_id, work_id, holder_id, role, share_bp",
            (
                (agreement_ids[n], w, h, "author", bp)
                for n in range(agreements)
                for w in works_of[n]
                for h, bp in splits[w]
            ),
        )
        reports = _usage_reports(UsageReport, agreement_ids, options["lines"])
        _copy_usage_lines(cursor, randomness, reports, works_of, options["lines"])
        cursor.execute("ANALYZE")
    out.write(
        f"marketplace: {holders:,} rights holders, {works:,} works, "
        f"{sum(len(sheet) for sheet in splits.values()):,} splits, {agreements} agreements, "
        f"{options['lines']:,} usage lines"
    )


def _split_sheets(
    randomness: random.Random, work_ids: list[int], holder_ids: list[int]
) -> dict[int, list[tuple[int, int]]]:
    sheets = {}
    for work in work_ids:
        people = randomness.sample(holder_ids, randomness.randint(1, 4))
        cuts = sorted(randomness.sample(range(1, 10_000), len(people) - 1))
        bounds = [0, *cuts, 10_000]
        sheets[work] = [(h, bounds[i + 1] - bounds[i]) for i, h in enumerate(people)]
    return sheets


def _usage_reports(model: Any, agreement_ids: list[int], lines: int) -> list[int]:
    made = model.objects.bulk_create(
        model(
            agreement_id=agreement,
            report_id=f"bench-{PERIOD:%Y-%m}",
            period_start=PERIOD,
            period_end=dt.date(2026, 11, 1),
            currency="USD",
            line_count=_lines_of(n, lines, len(agreement_ids)),
        )
        for n, agreement in enumerate(agreement_ids)
    )
    return [report.pk for report in made]


def _lines_of(n: int, lines: int, reports: int) -> int:
    """Usage lines of the n-th agreement's report: the total spread evenly."""
    return lines // reports + (1 if n < lines % reports else 0)


def _copy_usage_lines(
    cursor: Any,
    randomness: random.Random,
    reports: list[int],
    works_of: dict[int, list[int]],
    lines: int,
) -> None:
    def rows() -> Iterator[tuple]:
        for n, report in enumerate(reports):
            works = works_of[n]
            for line_no in range(1, _lines_of(n, lines, len(reports)) + 1):
                work = works[line_no % len(works)]
                if line_no % 10:
                    yield report, line_no, work, "tokens_trained", randomness.randint(1, 10**7), ""
                else:
                    yield report, line_no, work, "retrievals", randomness.randint(1, 10**4), ""

    _copy(
        cursor,
        "royalties_usageline",
        "report_id, line_no, work_id, metric, quantity, use",
        rows(),
    )


# --- settlement, measured --------------------------------------------------------------------


def _start_workers(count: int, queue: str) -> list[subprocess.Popen]:
    return [
        subprocess.Popen(  # noqa: S603 (our own interpreter running celery)
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "config",
                "worker",
                "-Q",
                queue,
                "-c",
                "1",
                "--pool",
                "prefork",
                "--without-gossip",
                "--without-mingle",
                "-l",
                "WARNING",
                "-n",
                f"bench{number}@%h",
            ],
            env=os.environ.copy(),
            start_new_session=True,
            cwd=settings.BASE_DIR,
        )
        for number in range(count)
    ]


def _peak_rss_kib(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        return 0
    return 0


def _processes_in_group(pgid: int) -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[2]) == pgid:
                pids.append(int(entry.name))
    return sorted(pids)


def _postgres_peak_kib() -> int:
    peak = 0
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "comm").read_text().strip().startswith("postgres"):
                    peak = max(peak, _peak_rss_kib(int(entry.name)))
            except OSError:
                continue
    return peak


def _settle(out: Any, *, workers: int) -> None:
    from config.celery import app
    from ledger.models import JournalLeg
    from settlement.models import SettlementRun, Statement
    from settlement.services import settlement_run_create, settlement_run_start

    queue = f"bench-settlement-{uuid.uuid4().hex[:8]}"
    app.conf.task_default_queue = queue
    app.amqp.queues.select_add(queue)
    processes = _start_workers(workers, queue)
    try:
        time.sleep(3)  # the workers' start-up is not part of settlement
        legs_before = JournalLeg.objects.count()
        started = time.monotonic()
        run = settlement_run_create(period_start=PERIOD, today=dt.date(2026, 11, 2))
        settlement_run_start(run=run)
        while True:
            run = SettlementRun.objects.get(pk=run.pk)
            if run.status in (SettlementRun.Status.COMPLETED, SettlementRun.Status.FAILED):
                break
            time.sleep(0.1)
        elapsed = time.monotonic() - started
        peaks = {
            f"worker {n} pid {pid}": _peak_rss_kib(pid)
            for n, process in enumerate(processes)
            for pid in _processes_in_group(process.pid)
        }
    finally:
        for process in processes:
            os.killpg(process.pid, signal.SIGTERM)
        for process in processes:
            process.wait(timeout=30)
    if run.status != SettlementRun.Status.COMPLETED:
        out.write(f"settlement FAILED: {run.error}")
        sys.exit(1)
    legs = JournalLeg.objects.count() - legs_before
    peaks["bench command"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    peaks["largest PostgreSQL backend"] = _postgres_peak_kib()
    out.write(
        f"settlement: {run.lines_total:,} usage lines, {run.agreements_total} agreements, "
        f"{run.chunks_total} chunks, {workers} workers"
    )
    out.write(f"settlement wall time: {elapsed:.1f} s (target <= 60 s)")
    out.write(f"ledger legs written: {legs:,} ({legs / elapsed:,.0f} legs/s)")
    out.write(f"statements produced: {Statement.objects.filter(run=run).count():,}")
    for name, kib in peaks.items():
        out.write(f"peak RSS {name}: {kib / 1024:.0f} MiB (target <= 1024 MiB)")
