"""Chaos: a run's collection and its payouts go through real Celery worker processes that are
killed (SIGKILL) at random, while the emulator answers transfers with 429s and 500s, drops
connections after committing, and delivers every webhook twice. Afterwards there is exactly
one transfer per payout, every payout is paid, and the transfers add up to exactly what the
ledger says was paid.

Every fault injected here is one Stripe says to retry (429, 500, an answer lost after the
transfer was made) and every holder's account can receive transfers, so the test causes no
non-retryable failure: a payout may end ``failed`` only for a reason in
``CAUSED_FAILURES`` (empty), and every other one, the payouts whose transfers met an injected
fault included, must end paid. A payout given up on a retryable fault fails the test.

PAYOUT_CHAOS_HOLDERS sets the size (``make chaos`` runs 1,000; the suite 40)."""

from __future__ import annotations

import datetime as dt
import os
import random
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from pathlib import Path

import pytest
from django.db import connection

from ledger.models import AccountCode, JournalLeg
from ledger.selectors import trial_balance
from payments import gateway
from payments.tasks import stripe_events_retry_due
from payouts.collections import (
    collection_payouts_schedule,
    collections_open_for_run,
    collections_recently_paid,
)
from payouts.models import Collection, Payout
from payouts.services import payouts_resume_due
from tests.money.payouts_world import billed_run, fresh_holders, fresh_licensee, saved_card

pytestmark = [pytest.mark.worker, pytest.mark.slow, pytest.mark.timeout(900)]

HOLDERS = int(os.environ.get("PAYOUT_CHAOS_HOLDERS", "40"))
ROOT = Path(__file__).resolve().parents[2]
STALE = dt.timedelta(seconds=3)
"""A payout sent this long ago without an answer is asked for again (beat uses minutes)."""
INJECTED = {"rate_limit": HOLDERS // 4, "api_error": HOLDERS // 4, "drop": HOLDERS // 20}
"""Faults the emulator answers POST /v1/transfers with: all retryable."""
CAUSED_FAILURES: dict[int, str] = {}
"""Holder id -> the non-retryable failure reason this test causes for its payout: none."""


class Worker:
    """A real `celery worker` process (threads pool) on the test's queue and database."""

    def __init__(self, queue: str, emulator_url: str) -> None:
        db = connection.settings_dict
        env = {
            **os.environ,
            "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
            "STRIPE_API_BASE": emulator_url,
            "STRIPE_SECRET_KEY": "sk_test_emulator",
            "STRIPE_RATE_LIMIT_PER_SECOND": "200",
            "STRIPE_MAX_ATTEMPTS": "2",
            "STRIPE_RETRY_BASE_DELAY": "0.01",
            "ROYALTIES_PAYOUT_RETRY_BASE_SECONDS": "0.2",
            "ROYALTIES_PAYOUT_MAX_ATTEMPTS": "30",
            "CELERY_BROKER_VISIBILITY_TIMEOUT": "8",
            "CELERY_TASK_DEFAULT_QUEUE": queue,  # what a worker queues stays on the test's queue
        }
        self.ready = threading.Event()
        self.process = subprocess.Popen(
            [
                sys.executable, "-u", "-m", "celery", "-A", "config", "worker", "-P", "threads",
                "-c", "6", "-Q", queue, "-l", "INFO", "--without-gossip", "--without-mingle",
                "--without-heartbeat",
            ],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )  # fmt: skip
        threading.Thread(target=self._drain, daemon=True).start()

    def _drain(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            if " ready." in line:
                self.ready.set()

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()


@pytest.fixture
def worker_queue():
    from config.celery import app

    queue = f"chaos-{uuid.uuid4().hex[:8]}"
    previous = app.conf.task_default_queue
    app.conf.task_default_queue = queue
    app.amqp.queues.select_add(queue)
    yield queue
    app.conf.task_default_queue = previous


def _onboard_all(emulated, holders) -> None:
    from payments.connect import connected_account_ensure, connected_account_sync

    for holder in holders:
        account = connected_account_ensure(organisation=holder)
        emulated.control.complete_onboarding(account.stripe_account_id)
        connected_account_sync(stripe_account_id=account.stripe_account_id)


def test_payouts_survive_killed_workers_faults_and_duplicate_webhooks(
    live_server, transactional_db, emulated_stripe, worker_queue, settings
):
    settings.ROYALTIES_PAYOUT_RETRY_BASE_SECONDS = 0.2
    emulated_stripe.deliver_webhooks_to(live_server.url)
    emulated_stripe.control.config(webhook_duplicate=True)
    holders = fresh_holders(HOLDERS)
    _onboard_all(emulated_stripe, holders)
    licensee = fresh_licensee()
    saved_card(emulated_stripe, licensee)
    rng = random.Random(7)
    amounts = [rng.randrange(100, 5_000) for _ in holders]
    billed = billed_run(licensee, holders, amounts=amounts, commission_minor=sum(amounts) // 9)

    control = emulated_stripe.control
    for mode, count in INJECTED.items():
        control.add_fault(mode, count=count, method="POST", path="/v1/transfers")

    workers = [Worker(worker_queue, emulated_stripe.url) for _ in range(3)]
    for worker in workers:
        assert worker.ready.wait(90), "a worker did not start"
    collections_open_for_run(run=billed.run)
    kills = 0
    try:
        # Kill a random ready worker every second or two, always leaving one running, until
        # every payout is settled; the beat job's sweep runs meanwhile.
        deadline = time.monotonic() + 120 + HOLDERS * 0.1
        while time.monotonic() < deadline:
            time.sleep(rng.uniform(0.7, 2.0))
            ready = [i for i, worker in enumerate(workers) if worker.ready.is_set()]
            if len(ready) >= 2:
                victim = rng.choice(ready)
                workers[victim].kill()
                workers[victim] = Worker(worker_queue, emulated_stripe.url)
                kills += 1
            stripe_events_retry_due()  # what beat does: lost event tasks, lost payouts
            for collection_id in collections_recently_paid():
                collection_payouts_schedule(collection_id=collection_id)
            payouts_resume_due(stale_after=STALE)
            if Payout.objects.filter(status__in=["paid", "failed"]).count() == HOLDERS:
                break
    finally:
        for worker in workers:
            worker.kill()

    assert kills >= 1
    assert Collection.objects.get(run=billed.run).status == Collection.Status.PAID
    # Most payouts belong to the run; a holder whose account.updated (delivered twice, late)
    # arrived just after the collection may instead be paid by a run-less payout of its whole
    # payable balance. Either way: one payout per holder, never two.
    payouts = list(Payout.objects.filter(holder__in=holders))
    assert sorted(p.holder_id for p in payouts) == sorted(h.pk for h in holders)
    assert all(p.run_id in (billed.run.pk, None) for p in payouts)
    failed = {p.holder_id: p.failure_reason for p in payouts if p.status == "failed"}
    assert failed == CAUSED_FAILURES, (
        f"payouts given up although every fault was retryable: {failed}"
    )
    paid = [p for p in payouts if p.status == "paid"]
    assert len(paid) == HOLDERS - len(CAUSED_FAILURES), Counter(p.status for p in payouts)
    assert all(p.failure_reason == "" for p in paid)

    transfers = list(gateway.transfers_list())
    per_destination = Counter(t.destination for t in transfers)
    assert max(per_destination.values()) == 1, "a holder got two transfers"
    assert {t.id for t in transfers} == {p.transfer_id for p in paid}
    by_id = {t.id: t for t in transfers}
    assert all(by_id[p.transfer_id].amount == p.amount_minor for p in paid)
    assert {p.holder_id: p.amount_minor for p in paid} == {
        pk: amount for pk, amount in billed.shares.items() if pk in {p.holder_id for p in paid}
    }
    paid_in_ledger = sum(
        leg.amount_minor
        for leg in JournalLeg.objects.filter(
            account__code=AccountCode.HOLDER_PAYABLE, entry__kind="payout"
        )
    )
    assert sum(t.amount for t in transfers) == paid_in_ledger
    assert trial_balance(currency="USD").is_balanced
    # Every injected fault was met by a transfer request, and the payouts that met one (a
    # fault answers a payout's transfer call; its idempotency key names the payout) are paid.
    faulted = [r for r in control.requests() if r.get("fault")]
    assert Counter(r["fault"] for r in faulted) == INJECTED
    assert all(r["path"] == "/v1/transfers" for r in faulted)
    faulted_keys = {r["idempotency_key"] for r in faulted}
    hit = [p for p in payouts if p.idempotency_key in faulted_keys]
    assert hit and {p.status for p in hit} == {"paid"}
