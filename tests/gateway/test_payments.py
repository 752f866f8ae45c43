"""Payments, refunds and disputes recorded from Stripe's current state, whatever the order
of events, with the royalties hooks fired once each."""

from __future__ import annotations

import contextlib

import pytest

from payments import gateway
from payments.charges import (
    off_session_payment_method_for,
    payment_refund,
    stripe_customer_ensure,
    stripe_dispute_lost,
    stripe_refund_succeeded,
)
from payments.models import StripeCustomer, StripePayment, StripeRefund
from tests.gateway.helpers import events_of, paid_charge_id, process_events

pytestmark = pytest.mark.django_db


@contextlib.contextmanager
def _received(signal):
    calls = []

    def receiver(sender, **kwargs):
        calls.append(kwargs)

    signal.connect(receiver, weak=False)
    try:
        yield calls
    finally:
        signal.disconnect(receiver)


def test_a_checkout_payment_is_recorded_with_its_fee_and_business_ids(emulated_stripe, licensee):
    charge_id = paid_charge_id(emulated_stripe, licensee, 10_000, key="agreement-1")
    process_events("checkout.session.completed", "charge.succeeded", "payment_intent.succeeded")
    payment = StripePayment.objects.get()
    assert payment.stripe_charge_id == charge_id
    assert (payment.amount_minor, payment.fee_minor, payment.currency) == (10_000, 320, "USD")
    assert payment.organisation == licensee
    assert payment.transfer_group == "agreement-agreement-1"
    assert payment.metadata["agreement_id"] == "agreement-1"


def test_a_refund_is_recorded_against_the_payment_and_announced_once(emulated_stripe, licensee):
    charge_id = paid_charge_id(emulated_stripe, licensee, 10_000, key="a-2")
    process_events("charge.succeeded")
    payment = StripePayment.objects.get(stripe_charge_id=charge_id)
    with _received(stripe_refund_succeeded) as announced:
        refund = payment_refund(payment=payment, amount_minor=2_500, idempotency_key="refund:1")
        process_events("refund.created", "charge.refunded")  # the same refund, by webhook
        process_events("refund.created", "charge.refunded")  # and redelivered
    assert [call["refund"].pk for call in announced] == [refund.pk]
    assert announced[0]["payment"].pk == payment.pk
    payment.refresh_from_db()
    assert payment.amount_refunded_minor == 2_500
    assert (refund.amount_minor, refund.status, refund.currency) == (2_500, "succeeded", "USD")
    assert StripeRefund.objects.count() == 1


def test_a_refund_made_in_stripes_dashboard_arrives_by_event_before_the_charge(
    emulated_stripe, licensee
):
    charge_id = paid_charge_id(emulated_stripe, licensee, 5_000, key="a-3")
    gateway.refund_create(charge_id=charge_id, idempotency_key="dashboard-refund")
    with _received(stripe_refund_succeeded) as announced:
        process_events("charge.refunded")  # before any charge.succeeded reached us
    payment = StripePayment.objects.get(stripe_charge_id=charge_id)
    assert payment.amount_refunded_minor == 5_000
    assert len(announced) == 1 and payment.refunds.get().amount_minor == 5_000


def test_a_lost_dispute_is_recorded_and_announced_once_whatever_the_order(
    emulated_stripe, licensee
):
    charge_id = paid_charge_id(emulated_stripe, licensee, 8_000, key="a-4")
    dispute = emulated_stripe.control.create_dispute(charge_id)
    emulated_stripe.control.close_dispute(dispute["id"], "lost")
    dispute_events = events_of("charge.dispute.created", "charge.dispute.closed")
    assert [e.type for e in dispute_events] == ["charge.dispute.created", "charge.dispute.closed"]
    with _received(stripe_dispute_lost) as announced:
        process_events("charge.dispute.closed")  # the later event first
        process_events("charge.dispute.created", "charge.dispute.funds_withdrawn")
    payment = StripePayment.objects.get(stripe_charge_id=charge_id)
    assert (payment.dispute_status, payment.disputed_amount_minor) == ("lost", 8_000)
    assert payment.dispute_lost_at is not None
    assert [call["payment"].pk for call in announced] == [payment.pk]


def test_a_won_dispute_is_recorded_without_announcing_a_loss(emulated_stripe, licensee):
    charge_id = paid_charge_id(emulated_stripe, licensee, 8_000, key="a-5")
    dispute = emulated_stripe.control.create_dispute(charge_id, amount=3_000)
    with _received(stripe_dispute_lost) as announced:
        process_events("charge.dispute.created")
        assert StripePayment.objects.get().dispute_status == "needs_response"
        emulated_stripe.control.close_dispute(dispute["id"], "won")
        process_events("charge.dispute.closed")
    payment = StripePayment.objects.get()
    assert (payment.dispute_status, payment.disputed_amount_minor) == ("won", 3_000)
    assert announced == []


def test_a_card_saved_with_consent_can_be_charged_later_off_session(emulated_stripe, licensee):
    customer = stripe_customer_ensure(organisation=licensee, email="billing@northwind.test")
    assert stripe_customer_ensure(organisation=licensee) == customer
    assert off_session_payment_method_for(organisation=licensee) is None
    paid_charge_id(
        emulated_stripe,
        licensee,
        120_000,
        key="a-6",
        save_card=True,
        customer_id=customer.stripe_customer_id,
    )
    process_events("checkout.session.completed")
    customer_id, payment_method_id = off_session_payment_method_for(organisation=licensee)
    assert customer_id == customer.stripe_customer_id
    assert [pm.id for pm in gateway.payment_methods_list(customer_id=customer_id)] == [
        payment_method_id
    ]
    assert StripeCustomer.objects.get().off_session_consented_at is not None

    usage = gateway.payment_intent_create_off_session(
        amount_minor=4_800,
        currency="USD",
        customer_id=customer_id,
        payment_method_id=payment_method_id,
        transfer_group="invoice-oct",
        metadata={"organisation_id": licensee.pk},
        idempotency_key="usage-charge:oct",
    )
    assert usage.status == "succeeded"


def test_a_payment_without_consent_saves_no_card(emulated_stripe, licensee):
    paid_charge_id(emulated_stripe, licensee, 120_000, key="a-7")
    process_events("checkout.session.completed")
    assert off_session_payment_method_for(organisation=licensee) is None
    assert StripePayment.objects.get().organisation == licensee
