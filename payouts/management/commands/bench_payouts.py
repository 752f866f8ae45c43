"""Benchmark: send N payouts through Celery workers and the gateway's shared rate limiter to
the Stripe emulator, and print the rate and whether any holder got a transfer twice.

    manage.py bench_payouts --payouts 10000 --holders 1000 --rate 25

Starts its own emulator and ``--workers`` Celery worker processes (threads pool, each
``--concurrency`` threads) on a private queue, each in its own process so that none of them
competes with another for one interpreter lock; seeds holders with onboarded connected
accounts and funds the platform's balance; then keeps the pipeline full: whenever a holder's
payout is done (one may be open at a time), it credits the holder's next payable balance and
the workers schedule its payout. Runs in a database of its own (``trainright_bench_payouts``,
recreated each time), since ledger rows cannot be deleted."""

from __future__ import annotations

import bisect
import os
import socket
import subprocess
import sys
import time
import uuid
from collections import Counter
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand
from django.db import transaction
from django.db.models import Count, Q

from accounts.models import Organisation
from core import clock
from core.bench_database import bench_relaunch_in_own_database
from ledger.models import AccountCode, EntryKind
from ledger.services import LegSpec, journal_post, ledger_account_for
from payments import gateway
from payments.connect import connected_account_ensure
from payments.models import StripeConnectedAccount
from payouts.models import Payout
from payouts.tasks import payouts_schedule_payable_task

AMOUNT_MINOR = 100
BENCH_DATABASE = "trainright_bench_payouts"
SCHEDULE_CHUNK = 50  # holders per scheduling task


class Command(BaseCommand):
    help = "Send N payouts through the emulator at the configured rate; print the rate."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--payouts", type=int, default=10_000)
        parser.add_argument("--holders", type=int, default=1_000)
        parser.add_argument("--rate", type=int, default=settings.STRIPE_RATE_LIMIT_PER_SECOND)
        parser.add_argument("--workers", type=int, default=2)
        parser.add_argument("--concurrency", type=int, default=8)
        parser.add_argument(
            "--inside", action="store_true", help="(internal) run inside the bench database"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if not options["inside"]:
            bench_relaunch_in_own_database(
                command="bench_payouts",
                database_name=BENCH_DATABASE,
                options=options,
                passed=("payouts", "holders", "rate", "workers", "concurrency"),
            )
            return
        from config.celery import app
        from stripe_emulator.control import EmulatorControl

        port = _free_port()
        url = f"http://127.0.0.1:{port}"
        emulator = _spawn([sys.executable, "-m", "stripe_emulator", "--port", str(port)], {})
        _wait_for(port)
        control = EmulatorControl(url)
        prefix = f"bench-{uuid.uuid4().hex[:8]}"
        settings.STRIPE_API_BASE = url
        settings.STRIPE_SECRET_KEY = "sk_test_emulator"
        settings.CACHES["default"]["KEY_PREFIX"] = prefix
        settings.STRIPE_RATE_LIMIT_PER_SECOND = 1_000  # seeding is not what we measure
        holders = self._seed(control, options["holders"], options["payouts"])
        settings.STRIPE_RATE_LIMIT_PER_SECOND = options["rate"]
        control.clear_requests()

        queue = f"bench-{uuid.uuid4().hex[:8]}"
        app.conf.task_default_queue = queue
        app.amqp.queues.select_add(queue)
        worker_environment = {
            "STRIPE_API_BASE": url,
            "STRIPE_SECRET_KEY": "sk_test_emulator",
            "STRIPE_RATE_LIMIT_PER_SECOND": str(options["rate"]),
            "CACHE_KEY_PREFIX": prefix,
            "CELERY_TASK_DEFAULT_QUEUE": queue,  # what the workers queue goes to them too
            "DATABASE_URL": _database_url(),
        }
        workers = [
            _spawn(
                [
                    *("celery", "-A", "config", "worker", "-Q", queue, "--pool", "threads"),
                    *("-c", str(options["concurrency"]), "-l", "WARNING", "-n", f"bench{n}@%h"),
                    *("--without-gossip", "--without-mingle"),
                ],
                worker_environment,
                module=True,
            )
            for n in range(options["workers"])
        ]
        started = time.monotonic()
        try:
            first_id = Payout.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
            quota = {
                holder.pk: options["payouts"] // len(holders)
                + (1 if n < options["payouts"] % len(holders) else 0)
                for n, holder in enumerate(holders)
            }
            by_pk = {holder.pk: holder for holder in holders}
            credited: Counter[int] = Counter()
            reported = 0
            while True:
                # A holder may have one payout open at a time: as soon as its last one is
                # done, credit its next payable balance, so the pipeline never drains.
                rows = (
                    Payout.objects.filter(pk__gt=first_id)
                    .values("holder_id")
                    .annotate(
                        made=Count("pk"),
                        open=Count("pk", filter=Q(status__in=Payout.OPEN_STATUSES)),
                    )
                )
                made = {row["holder_id"]: (row["made"], row["open"]) for row in rows}
                idle = [
                    pk
                    for pk in quota
                    if made.get(pk, (0, 0)) == (credited[pk], 0) and credited[pk] < quota[pk]
                ]
                if idle:
                    self._credit([by_pk[pk] for pk in idle], sum(credited.values()))
                    credited.update(idle)
                    # As after a collection: the workers schedule the payouts, in chunks.
                    for start in range(0, len(idle), SCHEDULE_CHUNK):
                        payouts_schedule_payable_task.delay(idle[start : start + SCHEDULE_CHUNK])
                done = sum(n - still_open for n, still_open in made.values())
                if done >= reported + 1000:
                    reported = done - done % 1000
                    self.stdout.write(f"{reported} payouts done")
                if done == options["payouts"] and not idle:
                    break
                time.sleep(0.2)
            elapsed = time.monotonic() - started
            posts = [
                r
                for r in control.requests()
                if r["method"] == "POST" and r["path"] == "/v1/transfers"
            ]
            peaks = {f"worker {n}": _peak_rss_mib(w.pid) for n, w in enumerate(workers)}
            peaks["emulator"] = _peak_rss_mib(emulator.pid)
        finally:
            for process in [*workers, emulator]:
                process.terminate()
            for process in [*workers, emulator]:
                process.wait(timeout=60)
        measured = Payout.objects.filter(pk__gt=first_id)  # this run's payouts only
        paid = measured.filter(status=Payout.Status.PAID).count()
        failed = measured.filter(status=Payout.Status.FAILED).count()
        keys = Counter(r["idempotency_key"] for r in posts if not r.get("replayed"))
        duplicates = sum(1 for count in keys.values() if count > 1)
        times = sorted(float(r["time"]) for r in posts if _is_number(r.get("time")))
        per_second = Counter(int(moment) for moment in times)
        # The busiest 10 s, as a rate: one request's network jitter can put rate + 1 arrivals
        # into one calendar second although the bucket spaced them evenly.
        busiest_ten = max(
            (bisect.bisect_left(times, start + 10) - index for index, start in enumerate(times)),
            default=0,
        )
        self.stdout.write(
            f"{paid} paid, {failed} failed in {elapsed:.1f}s: {paid / elapsed:.1f} payouts/s "
            f"(limit {options['rate']}/s); busiest second {max(per_second.values(), default=0)} "
            f"transfer requests, busiest 10 s {busiest_ten / 10:.1f}/s; keys sent more than "
            f"once (not replays): {duplicates}"
        )
        self.stdout.write(
            "peak RSS: " + ", ".join(f"{name} {mib} MiB" for name, mib in peaks.items())
        )

    def _seed(self, control: Any, holders: int, payouts: int) -> list[Organisation]:
        rows = []
        for n in range(holders):
            tag = uuid.uuid4().hex[:8]
            organisation = Organisation.objects.create(
                kind=Organisation.Kind.CREATOR,
                creator_category=Organisation.CreatorCategory.AUTHOR,
                name=f"Bench holder {tag} {n}",
                slug=f"bench-holder-{tag}-{n}",
            )
            account = connected_account_ensure(organisation=organisation)
            control.complete_onboarding(account.stripe_account_id)
            rows.append(account.pk)
        StripeConnectedAccount.objects.filter(pk__in=rows).update(
            status="enabled", transfers_capability="active"
        )
        session = gateway.checkout_session_create(
            checkout=gateway.CheckoutRequest(
                currency="USD",
                line_items=[
                    gateway.LineItem(
                        name="Bench funding", unit_amount_minor=payouts * AMOUNT_MINOR * 2
                    )
                ],
                success_url="http://bench.test/ok",
                cancel_url="http://bench.test/no",
                transfer_group="bench",
            ),
            idempotency_key=f"bench:{uuid.uuid4().hex}",
        )
        control.complete_checkout(session.id)
        control.make_available()
        return list(Organisation.objects.filter(stripe_account__pk__in=rows).order_by("pk"))

    @transaction.atomic
    def _credit(self, holders: list[Organisation], serial: int) -> None:
        """Payable balances for the round, as a collection would leave them."""
        legs = [
            LegSpec(
                ledger_account_for(code=AccountCode.PLATFORM_CASH, currency="USD"),
                AMOUNT_MINOR * len(holders),
            )
        ]
        legs += [
            LegSpec(
                ledger_account_for(
                    code=AccountCode.HOLDER_PAYABLE, currency="USD", organisation=holder
                ),
                -AMOUNT_MINOR,
            )
            for holder in holders
        ]
        key = f"bench:{uuid.uuid4().hex}:{serial}"
        journal_post(
            kind=EntryKind.ADJUSTMENT,
            currency="USD",
            effective_date=clock.today(),
            legs=legs,
            memo="Bench payable balances",
            reference=key,
            idempotency_key=key,
        )


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _database_url() -> str:
    database = settings.DATABASES["default"]
    credentials = database["USER"] + (f":{database['PASSWORD']}" if database["PASSWORD"] else "")
    host = database["HOST"] or "127.0.0.1"
    return f"postgres://{credentials}@{host}:{database['PORT'] or 5432}/{database['NAME']}"


def _spawn(arguments: list[str], environment: dict[str, str], *, module: bool = False) -> Any:
    command = [sys.executable, "-m", *arguments] if module else arguments
    return subprocess.Popen(  # noqa: S603 (our own interpreter)
        command, env={**os.environ, **environment}, cwd=settings.BASE_DIR
    )


def _wait_for(port: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=2):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def _peak_rss_mib(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) // 1024
    except OSError:
        pass
    return 0


def _is_number(value: Any) -> bool:
    try:
        float(value)
    except (TypeError, ValueError):
        return False
    return True
