"""The date rules, written relative to the platform clock, so that `make test-dates` can run
them pinned at instants that stress calendars (the last second of a month, 29 February,
31 December, the first of a month, and a process whose local date is not the UTC date).
Under `make test` they run pinned at DEFAULT_TEST_INSTANT (tests/conftest.py)."""

from __future__ import annotations

import datetime as dt

import pytest

from core import clock
from marketplace.agreements import agreements_expire_due
from marketplace.models import Agreement, Offer
from marketplace.negotiation import offers_expire_due
from marketplace.signals import UpfrontFeePayment, agreement_activated
from settlement.models import Statement, StatementLine
from settlement.services import (
    SettlementError,
    settlement_run_create,
    settlement_run_execute,
    settlement_run_start,
)
from tests.marketplace.factories import (
    accepted_agreement,
    creator_org,
    developer_org,
    licensable_catalogue,
    requested_offer,
)
from tests.money.settlement_world import report_usage, worked_example

pytestmark = [pytest.mark.django_db, pytest.mark.dates]


def next_month_start(day: dt.date) -> dt.date:
    return (day.replace(day=28) + dt.timedelta(days=4)).replace(day=1)


def settle(period_start: dt.date, *, today: dt.date | None = None):
    run = settlement_run_create(period_start=period_start, today=today)
    return settlement_run_execute(run=settlement_run_start(run=run, dispatch=False))


def earned(run) -> dict[str, int]:
    return {s.holder.name: s.earned_minor for s in Statement.objects.filter(run=run)}


def term_around_today() -> dict[str, dt.date]:
    today = clock.today()
    return {
        "starts_on": clock.previous_month_start(clock.previous_month_start()),
        "ends_on": today.replace(day=1) + dt.timedelta(days=400),
    }


def test_the_clock_is_pinned_and_reads_utc_dates():
    pinned = clock.now()
    assert pinned.tzinfo is not None and pinned.utcoffset() == dt.timedelta(0)
    assert clock.today() == pinned.date()  # the UTC date, whatever the process's zone
    assert clock.month_start() == pinned.date().replace(day=1)
    assert clock.previous_month_start() < clock.month_start()
    assert clock.previous_month_start().day == 1
    assert next_month_start(clock.previous_month_start()) == clock.month_start()
    # Wherever its users are (at 2027-06-30T20:00Z it is already 1 July in UTC+14), the
    # platform's date is the UTC date: its months, periods and deadlines are UTC's.
    assert clock.today() == pinned.astimezone(dt.UTC).date()


def test_last_month_settles_by_the_worked_example_and_this_month_not_before_it_ends():
    world = worked_example(**term_around_today())
    last_month = clock.previous_month_start()
    report_usage(
        world.agreement,
        last_month,
        [(world.w1, "tokens_trained", 12_000_000), (world.w2, "tokens_trained", 4_000_000)],
    )

    run = settle(last_month)  # "today" is the clock's

    assert run.status == "completed"
    assert (run.period_start, run.period_end) == (last_month, clock.month_start())
    assert earned(run) == {
        "Ana Rivera": 2268,
        "Harbour Press": 1242,
        "Ben Ode": 540,
        "Chloe Marsh": 270,
    }
    statement = Statement.objects.get(run=run, holder=world.harbour)
    assert (statement.period_start, statement.period_end) == (last_month, clock.month_start())
    with pytest.raises(SettlementError, match="has not ended yet"):
        settlement_run_create(period_start=clock.month_start())


def test_a_fee_paid_today_joins_this_months_statements_not_last_months():
    world = worked_example(upfront_fee_minor=120_000, **term_around_today())
    payment = UpfrontFeePayment(120_000, "USD", False, "pi_d", "ch_d", "cus_d", 1)
    agreement_activated.send(Agreement, agreement_id=world.agreement.pk, payment=payment)
    fee_lines = StatementLine.objects.filter(kind="upfront_fee")
    assert {line.accrued_on for line in fee_lines} == {clock.today()}

    report_usage(world.agreement, clock.previous_month_start(), [(world.w1, "tokens_trained", 0)])
    last_month = settle(clock.previous_month_start())
    assert "Ana Rivera" not in earned(last_month)  # a zero month: the fee is not in it

    this_month = settle(clock.month_start(), today=next_month_start(clock.today()))
    # Ana's 70 % of W1's half of the fee after 10 % commission, as in the worked example.
    assert earned(this_month)["Ana Rivera"] == 37_800


def test_an_offer_expires_at_its_deadline_and_not_a_second_before(pinned_clock):
    offer = requested_offer(developer_org(), licensable_catalogue(creator_org()))
    assert offer.expires_at > clock.now()

    pinned_clock.move_to(offer.expires_at - dt.timedelta(seconds=1))
    assert offers_expire_due() == 0
    pinned_clock.move_to(offer.expires_at)
    assert offers_expire_due() == 1
    assert Offer.objects.get(pk=offer.pk).status == Offer.Status.EXPIRED


def test_an_agreement_covers_its_last_day_and_expires_the_next(pinned_clock):
    agreement = accepted_agreement(developer_org(), licensable_catalogue(creator_org()))
    Agreement.objects.filter(pk=agreement.pk).update(
        status=Agreement.Status.ACTIVE, ends_on=clock.today()
    )
    assert agreements_expire_due() == 0

    last_day = clock.today()
    pinned_clock.move_to(
        dt.datetime.combine(last_day + dt.timedelta(days=1), dt.time(), tzinfo=dt.UTC)
    )
    assert agreements_expire_due() == 1
    assert Agreement.objects.get(pk=agreement.pk).status == Agreement.Status.EXPIRED
