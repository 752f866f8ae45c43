"""A settlement run on real Celery workers (subprocesses on a queue of their own, against the
test database): a worker SIGKILLed mid-run and a fresh worker finish it with exactly the ledger
and statements an uninterrupted run produces."""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
import time
import uuid
from decimal import Decimal

import pytest
from django.conf import settings
from django.db import connection, transaction
from django.db.models import Sum
from django.utils import timezone

from accounts.models import Organisation
from catalog.models import Catalogue, RightsShare, Work
from config.celery import app
from ledger.models import JournalLeg
from marketplace.models import Agreement, AgreementSplit, AgreementWork
from settlement.models import SettlementRun, Statement
from settlement.services import (
    settlement_run_create,
    settlement_run_execute,
    settlement_run_progress,
    settlement_run_start,
)
from tests.factories import OrganisationFactory
from usage.models import UsageLine, UsageReport

pytestmark = [pytest.mark.worker, pytest.mark.slow]

OCTOBER = dt.date(2026, 10, 1)
AGREEMENTS = 12
WORKS_PER_AGREEMENT = 60
LINES_PER_WORK = 10

SETTLEMENT_TABLES = [
    "royalties_journalleg",
    "royalties_journalentry",
    "royalties_statementline",
    "royalties_statement",
    "royalties_ratedline",
    "royalties_settlementreport",
    "royalties_settlementagreement",
    "royalties_settlementchunk",
    "royalties_settlementrun",
    "royalties_carrybalance",
    "royalties_agreementposition",
]


@transaction.atomic
def _marketplace() -> None:
    """Agreements with many works and lines, so that each chunk takes a noticeable moment."""
    holders = [OrganisationFactory() for _ in range(30)]
    licensee = OrganisationFactory(kind=Organisation.Kind.AI_DEVELOPER)
    for number in range(AGREEMENTS):
        licensor = holders[number]
        catalogue = Catalogue.objects.create(owner=licensor, name=f"List {number}")
        works = Work.objects.bulk_create(
            Work(catalogue=catalogue, title=f"Work {number}-{index}", kind=Work.Kind.BOOK)
            for index in range(WORKS_PER_AGREEMENT)
        )
        agreement = Agreement.objects.create(
            licensee=licensee,
            licensor=licensor,
            status=Agreement.Status.ACTIVE,
            starts_on=dt.date(2026, 1, 1),
            ends_on=dt.date(2027, 12, 31),
            commission_bp=1250,
            accepted_at=timezone.now(),
            currency="USD",
            rate_tokens_trained_minor=Decimal("0.0137"),
            permitted_uses=["ai-train"],
        )
        AgreementWork.objects.bulk_create(
            AgreementWork(agreement=agreement, work=work, title=work.title) for work in works
        )
        shares = []
        for index, work in enumerate(works):
            first, second = holders[(number + index) % 30], holders[(number + index + 7) % 30]
            shares += [(work, first, "author", 6667), (work, second, "publisher", 3333)]
        RightsShare.objects.bulk_create(
            RightsShare(work=w, holder=h, role=r, share_bp=bp) for w, h, r, bp in shares
        )
        AgreementSplit.objects.bulk_create(
            AgreementSplit(agreement=agreement, work=w, holder=h, role=r, share_bp=bp)
            for w, h, r, bp in shares
        )
        report = UsageReport.objects.create(
            agreement=agreement,
            report_id=f"oct-{number}",
            period_start=OCTOBER,
            period_end=dt.date(2026, 11, 1),
            currency="USD",
        )
        UsageLine.objects.bulk_create(
            UsageLine(
                report=report,
                line_no=index * LINES_PER_WORK + line,
                work=work,
                metric="tokens_trained",
                quantity=1_000 + 7_919 * (index + 1) * (line + 3) % 1_000_003,
            )
            for index, work in enumerate(works)
            for line in range(LINES_PER_WORK)
        )


def _snapshot() -> tuple[dict, dict]:
    legs = (
        JournalLeg.objects.values("account__code", "account__organisation_id", "account__currency")
        .annotate(total=Sum("amount_minor"))
        .order_by()
    )
    statements = Statement.objects.values_list("holder_id", "earned_minor", "sha256")
    return (
        {(r["account__code"], r["account__organisation_id"]): r["total"] for r in legs},
        {holder: (earned, digest) for holder, earned, digest in statements},
    )


def _truncate_settlement() -> None:
    with connection.cursor() as cursor:
        # CASCADE: collections and payouts (empty here) reference journal entries.
        cursor.execute(f"TRUNCATE {', '.join(SETTLEMENT_TABLES)} CASCADE")


def _start_worker(queue: str) -> subprocess.Popen:
    database = settings.DATABASES["default"]
    environment = {
        **os.environ,
        "DATABASE_URL": (
            f"postgres://{database['USER']}@{database['HOST'] or '127.0.0.1'}:"
            f"{database['PORT'] or 5432}/{database['NAME']}"
        ),
        "CELERY_BROKER_VISIBILITY_TIMEOUT": "5",
    }
    return subprocess.Popen(
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
        ],
        env=environment,
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def _kill(worker: subprocess.Popen) -> None:
    os.killpg(worker.pid, signal.SIGKILL)
    worker.wait(timeout=10)


@pytest.fixture
def dedicated_queue():
    queue = f"test-settlement-{uuid.uuid4().hex[:8]}"
    previous = app.conf.task_default_queue
    app.conf.task_default_queue = queue
    app.amqp.queues.select_add(queue)
    try:
        yield queue
    finally:
        app.conf.task_default_queue = previous


def test_a_worker_killed_mid_run_and_a_fresh_one_leave_the_uninterrupted_ledger(
    transactional_db, dedicated_queue, monkeypatch
):
    monkeypatch.setattr("settlement.services.CHUNK_MAX_AGREEMENTS", 1)
    _marketplace()
    today = dt.date(2026, 11, 15)

    reference = settlement_run_create(period_start=OCTOBER, today=today)
    settlement_run_execute(run=settlement_run_start(run=reference, dispatch=False))
    expected = _snapshot()
    assert len(expected[1]) == 30
    _truncate_settlement()

    run = settlement_run_create(period_start=OCTOBER, today=today)
    first = _start_worker(dedicated_queue)
    workers = [first]
    try:
        run = settlement_run_start(run=run)
        deadline = time.monotonic() + 90
        while True:
            done = settlement_run_progress(run=run).chunks_done
            if 0 < done < AGREEMENTS:
                break
            assert done < AGREEMENTS, "the run finished before the worker could be killed"
            assert time.monotonic() < deadline, "the first worker made no progress"
            time.sleep(0.02)
        _kill(first)
        killed_at = settlement_run_progress(run=run)
        assert 0 < killed_at.percent < 100

        workers.append(_start_worker(dedicated_queue))
        settlement_run_start(run=run)  # resume: queue the unfinished chunks again
        deadline = time.monotonic() + 120
        while SettlementRun.objects.get(pk=run.pk).status != SettlementRun.Status.COMPLETED:
            assert time.monotonic() < deadline, "the resumed run did not complete"
            time.sleep(0.2)
    finally:
        for worker in workers:
            if worker.poll() is None:
                _kill(worker)

    assert _snapshot() == expected
    legs_after = JournalLeg.objects.count()
    settlement_run_start(run=run)
    settlement_run_execute(run=SettlementRun.objects.get(pk=run.pk))
    assert JournalLeg.objects.count() == legs_after
