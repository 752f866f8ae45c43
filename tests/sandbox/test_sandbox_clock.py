"""The sandbox clock: the platform's time moves forward only, with the emulator's, and the
periodic jobs the skipped time would have run run in order; refused in production."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db import IntegrityError, connection, transaction

from accounts.models import Membership
from core import clock
from core.models import SandboxClock
from core.services import SandboxClockError, sandbox_clock_move
from payouts.models import Collection
from sandbox.services import periodic_job_names, sandbox_clock_advance
from settlement.models import SettlementRun, Statement
from tests.factories import MembershipFactory
from tests.gateway.helpers import wait_for
from tests.money.settlement_world import report_usage, worked_example

pytestmark = pytest.mark.django_db


def test_the_clock_moves_forward_and_never_back():
    before = clock.now()
    sandbox_clock_move(to=before + dt.timedelta(days=3), actor="test")
    assert clock.now() - before >= dt.timedelta(days=3)
    assert clock.today() == (before + dt.timedelta(days=3)).date()
    assert SandboxClock.objects.get().moved_by == "test"

    with pytest.raises(SandboxClockError, match="only moves forward"):
        sandbox_clock_move(to=before + dt.timedelta(days=1), actor="test")
    assert clock.now() - before >= dt.timedelta(days=3)  # unchanged
    # PostgreSQL holds the line too: a negative offset is refused whoever writes it.
    with pytest.raises(IntegrityError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("UPDATE core_sandbox_clock SET \"offset\" = interval '-1 day'")


def test_advancing_runs_each_days_jobs_in_order_and_moves_the_emulator(emulated_stripe):
    start = clock.now()
    result = sandbox_clock_advance(to=start + dt.timedelta(days=3), actor="test")
    assert result.days_crossed == 3
    assert result.jobs_run == 4 * len(periodic_job_names())
    assert result.failures == []
    assert clock.now() - start >= dt.timedelta(days=3)
    emulator_now = emulated_stripe.control.clock()["now"]
    assert abs(emulator_now - clock.now().timestamp()) < 5
    # The day's order: frequent jobs first, then settlement before the daily imports.
    names = periodic_job_names()
    assert names.index("settlement.tasks.settlement_runs_tick") < names.index(
        "finance.tasks.stripe_balance_transactions_import_task"
    )
    with pytest.raises(SandboxClockError, match="only moves forward"):
        sandbox_clock_advance(to=start + dt.timedelta(days=1), actor="test")


def test_the_command_moves_the_clock_and_refuses_in_production(settings, emulated_stripe):
    out = StringIO()
    call_command("sandbox_clock", "advance", "--days", "2", stdout=out)
    assert "2 midnight(s) crossed" in out.getvalue()
    call_command("sandbox_clock", "show", stdout=out)
    assert "1 day(s)" in out.getvalue() or "2 day(s)" in out.getvalue()
    with pytest.raises(CommandError, match="only moves forward"):
        call_command("sandbox_clock", "advance", "--to", "2000-01-01")

    settings.SANDBOX_CLOCK_ENABLED = False
    clock.refresh()
    assert clock.sandbox_offset() == dt.timedelta(0)  # production reads the real time only
    with pytest.raises(CommandError, match="off in production"):
        call_command("sandbox_clock", "advance", "--days", "1")


def test_production_cannot_turn_the_sandbox_clock_on():
    env = {
        **os.environ,
        "DJANGO_ENV": "production",
        "SANDBOX_CLOCK_ENABLED": "1",
        "SECRET_KEY": "a-long-production-secret-key-for-this-check-only-0123456789",
    }
    code = "import django; django.setup(); from django.conf import settings; "
    code += "print(settings.SANDBOX_CLOCK_ENABLED)"
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "False"


def test_the_banner_is_on_every_page_and_only_owners_and_finance_move_it(client, creator):
    client.force_login(creator.owner)
    page = client.get("/creator/")
    assert b'data-testid="sandbox-clock"' in page.content
    assert b"Move the clock" in page.content

    answer = client.post("/sandbox/clock/", {"days": "2", "next": "/creator/"}, follow=True)
    assert b"The clock moved to" in answer.content
    assert clock.sandbox_offset() >= dt.timedelta(days=2) - dt.timedelta(seconds=5)

    answer = client.post("/sandbox/clock/", {"to": "2000-01-01", "next": "/creator/"}, follow=True)
    assert b"Choose a date after today" in answer.content

    member = MembershipFactory(organisation=creator.organisation, role=Membership.Role.MEMBER)
    client.force_login(member.user)
    assert b"Move the clock" not in client.get("/creator/").content
    assert client.post("/sandbox/clock/", {"days": "1"}).status_code == 403


def test_the_banner_refuses_in_production(settings, client, creator):
    settings.SANDBOX_CLOCK_ENABLED = False
    client.force_login(creator.owner)
    assert b'data-testid="sandbox-clock"' not in client.get("/creator/").content
    answer = client.post("/sandbox/clock/", {"days": "1"})
    assert answer.status_code == 403
    assert b"off in production" in answer.content


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_moving_into_next_month_settles_the_month_and_opens_its_invoice(
    emulated_stripe, celery_worker_real
):
    """The heart of the demo: usage reported this month is settled by the worker as soon as
    the clock passes the month's end, and the invoice opens in the same step."""
    this_month = clock.month_start()
    world = worked_example(
        starts_on=clock.previous_month_start(), ends_on=this_month + dt.timedelta(days=400)
    )
    report_usage(
        world.agreement,
        this_month,
        [(world.w1, "tokens_trained", 12_000_000), (world.w2, "tokens_trained", 4_000_000)],
    )
    next_month = (this_month + dt.timedelta(days=32)).replace(day=1)
    sandbox_clock_advance(
        to=dt.datetime.combine(next_month, dt.time(6), tzinfo=dt.UTC), actor="test"
    )

    run = wait_for(
        lambda: SettlementRun.objects.filter(
            period_start=this_month, status=SettlementRun.Status.COMPLETED
        ).first(),
        timeout=60,
        what="this month's run to complete",
    )
    assert {s.holder.name: s.earned_minor for s in Statement.objects.filter(run=run)} == {
        "Ana Rivera": 2268,
        "Harbour Press": 1242,
        "Ben Ode": 540,
        "Chloe Marsh": 270,
    }
    collection = wait_for(
        lambda: Collection.objects.filter(run=run, checkout_url__gt="").first(),
        timeout=30,
        what="the run's invoice with its Checkout page",
    )
    assert (collection.licensee, collection.amount_due_minor) == (world.northwind, 4800)
