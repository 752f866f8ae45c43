"""The platform's bank payouts against the Stripe emulator: ``payout.paid`` posts the move from
the Stripe balance to the bank once, reconciliation matches Stripe's ``payout`` transaction with
it, a payout the ledger never heard of is still flagged (and resolving it posts the same entry),
and a payout that failed nets to zero."""

from __future__ import annotations

import pytest
import stripe
from django.utils import timezone

from accounts.models import Membership, Organisation
from finance.bank_payouts import BANK_SUBLEDGER, bank_payout_record
from finance.models import ExceptionKind, ReconciliationException
from finance.reconciliation import (
    Resolution,
    reconciliation_exception_resolve,
    reconciliation_run_for_period,
)
from ledger.models import AccountCode, EntryKind, JournalEntry
from ledger.services import LegSpec, accounting_period_for, journal_post, ledger_account_for
from payments.events import stripe_event_process, stripe_event_store
from payments.models import StripeEvent
from tests.factories import MembershipFactory
from tests.gateway.helpers import events_of, paid_charge_id, process_events

pytestmark = pytest.mark.django_db

GROSS = 10_000
FEE = 320  # the emulator's 2.9 % + 30
PAID_OUT = 6_000


@pytest.fixture
def finance_user(tenant_factory):
    platform = tenant_factory(Organisation.Kind.PLATFORM, "TrainRight").organisation
    return MembershipFactory(organisation=platform, role=Membership.Role.FINANCE).user


def _account(code, organisation=None, subledger_key=""):
    return ledger_account_for(
        code=code, currency="USD", organisation=organisation, subledger_key=subledger_key
    )


@pytest.fixture
def collected(emulated_stripe, tenant_factory):
    """A licensee's payment, collected and booked, now available in the platform's balance."""
    licensee = tenant_factory(Organisation.Kind.AI_DEVELOPER, "Northwind AI").organisation
    charge_id = paid_charge_id(emulated_stripe, licensee, GROSS, key="bank-payouts")
    emulated_stripe.control.make_available()
    journal_post(
        kind=EntryKind.COLLECTION,
        currency="USD",
        effective_date=timezone.now().date(),
        legs=[
            LegSpec(_account(AccountCode.PLATFORM_CASH), GROSS - FEE),
            LegSpec(_account(AccountCode.STRIPE_FEES), FEE),
            LegSpec(_account(AccountCode.PLATFORM_COMMISSION), -GROSS),
        ],
        memo="collection",
        reference=f"stripe:{charge_id}",
        idempotency_key=f"stripe:{charge_id}",
        stripe_object_id=charge_id,
    )
    return charge_id


def _platform_payout(emulated, *, fail: bool = False) -> str:
    """Stripe pays part of the platform's balance out to its bank (on Stripe's own schedule in
    production; asked for directly here) and the bank answers."""
    client = stripe.StripeClient(
        "sk_test_emulator",
        max_network_retries=0,
        base_addresses={"api": emulated.url, "connect": emulated.url, "files": emulated.url},
    )
    payout = client.v1.payouts.create(params={"amount": PAID_OUT, "currency": "usd"})
    if fail:
        emulated.control.config(payout_failure_code="account_closed")
    emulated.control.settle_payouts(account=None)
    return payout.id


def _reconcile(actor):
    return reconciliation_run_for_period(
        period=accounting_period_for(day=timezone.now().date()), actor=actor
    )


def test_a_paid_platform_payout_is_posted_once_and_reconciles(
    emulated_stripe, collected, finance_user
):
    payout_id = _platform_payout(emulated_stripe)
    process_events("payout.paid")
    process_events("payout.paid")  # the same event delivered again
    [event] = events_of("payout.paid")
    copy = {**event.to_dict(), "id": "evt_redelivered_copy"}  # or another event for it
    record, created = stripe_event_store(event=copy)
    assert created
    assert stripe_event_process(event_pk=record.pk).status == StripeEvent.Status.PROCESSED

    [entry] = JournalEntry.objects.filter(stripe_object_id=payout_id)
    assert (entry.kind, entry.reference, entry.currency) == (
        EntryKind.ADJUSTMENT,
        f"stripe_payout:{payout_id}",
        "USD",
    )
    assert entry.effective_date == timezone.now().date()
    legs = {
        (leg.account.code, leg.account.subledger_key): leg.amount_minor
        for leg in entry.legs.select_related("account")
    }
    assert legs == {
        (AccountCode.PLATFORM_CASH, BANK_SUBLEDGER): PAID_OUT,
        (AccountCode.PLATFORM_CASH, ""): -PAID_OUT,
    }

    run = _reconcile(finance_user)
    assert (run.exception_count, run.matched_count) == (0, 2)  # the charge and the payout
    assert (
        run.totals["USD"]["stripe_net"]
        == run.totals["USD"]["ledger_net"]
        == (GROSS - FEE - PAID_OUT)
    )


def test_a_platform_payout_missing_from_the_ledger_is_flagged(
    emulated_stripe, collected, finance_user
):
    payout_id = _platform_payout(emulated_stripe)  # its payout.paid never arrives

    run = _reconcile(finance_user)
    assert run.exception_count == 1
    [exception] = ReconciliationException.objects.all()
    assert (exception.kind, exception.stripe_object_id) == (
        ExceptionKind.MISSING_IN_LEDGER,
        payout_id,
    )
    assert (exception.expected_minor, exception.actual_minor) == (0, -PAID_OUT)

    # Adjusting to Stripe posts the payout's own entry, so the late event adds nothing.
    resolved = reconciliation_exception_resolve(
        exception=exception,
        resolution=Resolution.ADJUST_TO_STRIPE,
        reason="The payout.paid webhook was lost.",
        actor=finance_user,
    )
    assert resolved.adjusting_entry.idempotency_key == f"stripe:{payout_id}:paid"
    process_events("payout.paid")
    assert JournalEntry.objects.filter(stripe_object_id=payout_id).count() == 1
    assert _reconcile(finance_user).exception_count == 0


def test_a_failed_platform_payout_nets_to_zero(emulated_stripe, collected, finance_user):
    payout_id = _platform_payout(emulated_stripe, fail=True)
    process_events("payout.failed")
    assert not JournalEntry.objects.filter(stripe_object_id=payout_id).exists()
    assert _reconcile(finance_user).exception_count == 0


def test_a_payout_paid_then_returned_by_the_bank_is_reversed(
    emulated_stripe, collected, finance_user
):
    payout_id = _platform_payout(emulated_stripe, fail=True)
    # Stripe said paid first (booked then), and the bank returned it days later.
    paid = bank_payout_record(
        payout_id=payout_id, amount_minor=PAID_OUT, currency="usd", created=timezone.now()
    )
    process_events("payout.failed")
    process_events("payout.failed")
    entries = JournalEntry.objects.filter(stripe_object_id=payout_id)
    assert entries.count() == 2
    assert entries.get(kind=EntryKind.REVERSAL).reverses == paid
    assert _reconcile(finance_user).exception_count == 0
