"""A month closes only once it has ended on the platform's clock and nothing that moves its
money is still under way: no settlement run unfinished, no collection of its runs unpaid, no
refund pending, no payout scheduled or sent, no Stripe event of it unprocessed. Each check is
named and explained on the period page and in the API."""

from __future__ import annotations

import datetime as dt

import pytest

from accounts.models import Membership, Organisation
from finance.period_close import (
    PeriodCloseError,
    period_close_checks,
    period_close_with_checks,
)
from finance.reconciliation import reconciliation_run_for_period
from ledger.services import accounting_period_for
from payments.models import StripeEvent, StripePayment, StripeRefund
from payouts.models import Collection, Payout
from settlement.models import SettlementRun
from tests.factories import MembershipFactory
from tests.marketplace.factories import creator_org, developer_org

pytestmark = [pytest.mark.django_db]

MARCH = dt.date(2026, 3, 15)
MARCH_NOON = dt.datetime(2026, 3, 10, 12, tzinfo=dt.UTC)


@pytest.fixture
def finance_user(tenant_factory):
    platform = tenant_factory(Organisation.Kind.PLATFORM, "TrainRight")
    return MembershipFactory(organisation=platform.organisation, role=Membership.Role.FINANCE).user


def _checks(period):
    return {
        check.name: (check.passed, check.detail) for check in period_close_checks(period=period)
    }


@pytest.mark.clock("2026-01-02T09:00:00Z")
def test_a_month_cannot_close_before_it_has_ended(emulated_stripe, finance_user, pinned_clock):
    january = accounting_period_for(day=dt.date(2026, 1, 1))
    reconciliation_run_for_period(period=january, actor=finance_user)
    assert _checks(january)["Period has ended"] == (
        False,
        "2026-01 ends on 2026-01-31 (UTC); today is 2026-01-02.",
    )
    with pytest.raises(PeriodCloseError, match="Period has ended"):
        period_close_with_checks(period=january, actor=finance_user)
    assert accounting_period_for(day=dt.date(2026, 1, 1)).status == "open"

    # The last second of January is still January.
    pinned_clock.move_to(dt.datetime(2026, 1, 31, 23, 59, 59, tzinfo=dt.UTC))
    assert _checks(january)["Period has ended"][0] is False

    pinned_clock.move_to(dt.datetime(2026, 2, 1, 0, 0, 1, tzinfo=dt.UTC))
    assert _checks(january)["Period has ended"] == (True, "2026-01 ended on 2026-01-31 (UTC).")
    assert period_close_with_checks(period=january, actor=finance_user).status == "closed"


@pytest.mark.clock("2026-04-10T09:00:00Z")
def test_money_in_flight_for_the_month_holds_it_open(emulated_stripe, finance_user):
    period = accounting_period_for(day=MARCH)
    reconciliation_run_for_period(period=period, actor=finance_user)
    run = SettlementRun.objects.create(
        period_start=dt.date(2026, 3, 1),
        period_end=dt.date(2026, 4, 1),
        posting_date=dt.date(2026, 3, 31),
    )
    SettlementRun.objects.filter(pk=run.pk).update(status=SettlementRun.Status.COMPLETED)
    licensee, holder = developer_org("Northwind AI"), creator_org("Harbour Press")
    collection = Collection.objects.create(
        licensee=licensee, run=run, currency="USD", amount_due_minor=4_800
    )
    # An invoice merely unpaid does not hold the month: its payment would be a late receipt.
    assert _checks(period)["Collection payments confirmed"][0] is True
    Collection.objects.filter(pk=collection.pk).update(payment_intent_id="pi_march")
    payout = Payout.objects.create(
        holder=holder,
        run=run,
        currency="USD",
        amount_minor=1_242,
        idempotency_key="payout:test:march",
        destination_account_id="acct_test",
    )
    Payout.objects.filter(pk=payout.pk).update(created_at=MARCH_NOON)  # sent in March
    payment = StripePayment.objects.create(
        organisation=licensee,
        stripe_charge_id="ch_march",
        status="succeeded",
        amount_minor=4_800,
        currency="USD",
        stripe_created=MARCH_NOON,
    )
    refund = StripeRefund.objects.create(
        payment=payment,
        stripe_refund_id="re_march",
        amount_minor=100,
        currency="USD",
        status="pending",
    )
    StripeRefund.objects.filter(pk=refund.pk).update(created_at=MARCH_NOON)
    event = StripeEvent.objects.create(
        stripe_event_id="evt_march",
        type="payment_intent.succeeded",
        stripe_created=MARCH_NOON,
        payload={"id": "evt_march", "type": "payment_intent.succeeded", "data": {"object": {}}},
        status=StripeEvent.Status.FAILED,
        error="boom",
    )
    # What happens in April is not March's business.
    StripeEvent.objects.create(
        stripe_event_id="evt_april",
        type="payment_intent.succeeded",
        stripe_created=dt.datetime(2026, 4, 2, tzinfo=dt.UTC),
        payload={"id": "evt_april", "type": "payment_intent.succeeded", "data": {"object": {}}},
    )

    checks = _checks(period)
    assert checks["Period has ended"][0] is True
    assert checks["Collection payments confirmed"] == (
        False,
        f"1 collection payment(s) under way at Stripe: #{collection.pk} pi_march.",
    )
    assert checks["Payouts settled"] == (
        False,
        f"1 payout(s) created by the end of 2026-03 still scheduled or sent: "
        f"#{payout.pk} scheduled.",
    )
    assert checks["Refunds settled"] == (
        False,
        "1 refund(s) of 2026-03 still pending at Stripe: re_march.",
    )
    assert checks["Stripe events processed"] == (
        False,
        "1 Stripe event(s) of 2026-03 not processed: evt_march (payment_intent.succeeded, failed).",
    )
    with pytest.raises(PeriodCloseError) as refused:
        period_close_with_checks(period=period, actor=finance_user)
    for name in ("Collection payments", "Payouts settled", "Refunds settled", "Stripe events"):
        assert name in str(refused.value)

    Collection.objects.filter(pk=collection.pk).update(
        status=Collection.Status.PAID, charge_id="ch_march"
    )
    Payout.objects.filter(pk=payout.pk).update(status=Payout.Status.PAID, transfer_id="tr_1")
    StripeRefund.objects.filter(pk=refund.pk).update(status="succeeded")
    StripeEvent.objects.filter(pk=event.pk).update(status=StripeEvent.Status.PROCESSED)
    checks = _checks(period)
    assert checks["Collection payments confirmed"] == (
        True,
        "No collection payment is waiting for Stripe's answer.",
    )
    assert checks["Payouts settled"] == (
        True,
        "No payout created by the end of 2026-03 is scheduled or sent.",
    )
    assert checks["Refunds settled"] == (True, "No refund of 2026-03 is pending at Stripe.")
    assert checks["Stripe events processed"] == (
        True,
        "Every Stripe event of 2026-03 is processed.",
    )
    assert period_close_with_checks(period=period, actor=finance_user).status == "closed"


@pytest.mark.clock("2026-03-20T09:00:00Z")
def test_the_period_page_and_the_api_show_the_new_checks(finance_user, client):
    accounting_period_for(day=MARCH)
    client.force_login(finance_user)
    page = client.get("/finance/periods/2026-03/").content.decode()
    assert "Period has ended" in page
    assert "2026-03 ends on 2026-03-31 (UTC); today is 2026-03-20." in page
    assert "Stripe events processed" in page

    response = client.get("/api/v1/finance/periods/")
    assert response.status_code == 200, response.content
    (row,) = [p for p in response.json()["results"] if p["period_label"] == "2026-03"]
    names = [check["name"] for check in row["checks"]]
    assert names[0] == "Period has ended"
    assert {"Collection payments confirmed", "Payouts settled", "Refunds settled"} <= set(names)
