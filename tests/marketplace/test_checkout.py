"""Paying the upfront fee through Stripe Checkout (the emulator, over real HTTP): active only
once the webhook confirms payment, once however often it arrives; declines and expiries leave
the agreement awaiting payment and a new attempt possible."""

from __future__ import annotations

import pytest

from marketplace import signals
from marketplace.checkout import checkout_session_settle
from marketplace.models import Agreement, CheckoutAttempt
from payments import gateway
from payments.events import stripe_event_process, stripe_event_store
from payments.models import StripeCustomer, StripeEvent
from tests.gateway.helpers import events_of, process_events
from tests.marketplace.factories import accepted_agreement

pytestmark = pytest.mark.django_db


@pytest.fixture
def agreement(world):
    return accepted_agreement(world.northwind.organisation, world.shelf)


@pytest.fixture
def activations():
    received = []

    def receiver(sender, signal, **payload):
        received.append(payload)

    signals.agreement_activated.connect(receiver)
    yield received
    signals.agreement_activated.disconnect(receiver)


def _start(world, agreement, **body):
    response = world.northwind.api().post(
        f"/api/v1/agreements/{agreement.pk}/checkout/",
        {"success_url": "http://app.test/paid?session={CHECKOUT_SESSION_ID}", **body},
        format="json",
    )
    assert response.status_code == 201, response.json()
    return response.json()


def _status(agreement) -> str:
    return Agreement.objects.values_list("status", flat=True).get(pk=agreement.pk)


def test_the_fee_is_paid_through_checkout_and_the_webhook_activates_the_agreement(
    world, agreement, emulated_stripe, activations, django_capture_on_commit_callbacks, client
):
    attempt = _start(world, agreement, save_payment_method=True)
    assert attempt["status"] == "open"
    assert attempt["amount_minor"] == 120_000 and attempt["currency"] == "USD"
    assert attempt["checkout_url"].startswith(emulated_stripe.url)
    session = gateway.checkout_session_retrieve(session_id=attempt["stripe_session_id"])
    assert session.metadata["agreement_id"] == str(agreement.pk)
    assert session.amount_total == 120_000

    # Coming back from Stripe proves nothing: still awaiting payment.
    client.force_login(world.northwind.owner)
    returned = client.get(
        f"/marketplace/agreements/{agreement.pk}/checkout/return/?session_id={session.id}"
    )
    assert returned.status_code == 200
    assert _status(agreement) == Agreement.Status.AWAITING_PAYMENT

    emulated_stripe.control.complete_checkout(session.id)
    with django_capture_on_commit_callbacks(execute=True):
        process_events("checkout.session.completed")

    assert _status(agreement) == Agreement.Status.ACTIVE
    paid = CheckoutAttempt.objects.get(pk=attempt["id"])
    intent = gateway.payment_intent_retrieve(payment_intent_id=paid.payment_intent_id)
    assert intent.transfer_group == f"agreement:{agreement.pk}"
    assert intent.setup_future_usage == "off_session"
    assert paid.status == CheckoutAttempt.Status.PAID
    assert paid.charge_id == intent.latest_charge and paid.charge_id.startswith("ch_")
    assert paid.saved_payment_method_id == intent.payment_method
    customer = StripeCustomer.objects.get(organisation=world.northwind.organisation)
    assert paid.customer_id == customer.stripe_customer_id
    assert customer.off_session_payment_method_id == paid.saved_payment_method_id
    assert Agreement.objects.get(pk=agreement.pk).certificate.manifest

    (announced,) = activations
    payment = announced["payment"]
    assert announced["agreement_id"] == agreement.pk
    assert (payment.amount_minor, payment.currency, payment.recoupable_advance) == (
        120_000,
        "USD",
        False,
    )
    assert (payment.stripe_charge_id, payment.stripe_payment_intent_id) == (
        paid.charge_id,
        paid.payment_intent_id,
    )


def test_a_duplicate_webhook_activates_the_agreement_once(
    world, agreement, emulated_stripe, activations, django_capture_on_commit_callbacks
):
    attempt = _start(world, agreement)
    emulated_stripe.control.complete_checkout(attempt["stripe_session_id"])
    (event,) = events_of("checkout.session.completed")
    payload = event.to_dict()
    with django_capture_on_commit_callbacks(execute=True):
        for copy in (payload, payload, {**payload, "id": payload["id"] + "_redelivered"}):
            record, _ = stripe_event_store(event=copy)
            stripe_event_process(event_pk=record.pk)
        checkout_session_settle(session_id=attempt["stripe_session_id"])

    assert StripeEvent.objects.filter(type="checkout.session.completed").count() == 2
    assert _status(agreement) == Agreement.Status.ACTIVE
    assert CheckoutAttempt.objects.filter(status=CheckoutAttempt.Status.PAID).count() == 1
    assert len(activations) == 1


def test_a_declined_card_leaves_the_agreement_awaiting_payment_and_a_new_attempt_pays(
    world, agreement, emulated_stripe
):
    first = _start(world, agreement)
    emulated_stripe.control.decline_checkout(first["stripe_session_id"])
    process_events("payment_intent.payment_failed")
    declined = CheckoutAttempt.objects.get(pk=first["id"])
    assert declined.status == CheckoutAttempt.Status.DECLINED
    assert "declined" in declined.failure_message.lower()
    assert _status(agreement) == Agreement.Status.AWAITING_PAYMENT

    second = _start(world, agreement)
    assert second["stripe_session_id"] != first["stripe_session_id"]
    keys = [
        r["idempotency_key"]
        for r in emulated_stripe.control.requests()
        if r["path"] == "/v1/checkout/sessions" and r["method"] == "POST"
    ]
    assert keys == [f"agreement-checkout:{first['id']}", f"agreement-checkout:{second['id']}"]
    # The older session can no longer be paid: only one payment is possible.
    old = gateway.checkout_session_retrieve(session_id=first["stripe_session_id"])
    assert old.status == "expired"
    assert CheckoutAttempt.objects.get(pk=first["id"]).status == CheckoutAttempt.Status.EXPIRED

    emulated_stripe.control.complete_checkout(second["stripe_session_id"])
    process_events("checkout.session.completed")
    assert _status(agreement) == Agreement.Status.ACTIVE


def test_an_expired_checkout_leaves_the_agreement_awaiting_payment_and_retryable(
    world, agreement, emulated_stripe
):
    first = _start(world, agreement)
    emulated_stripe.control.expire_checkout(first["stripe_session_id"])
    process_events("checkout.session.expired")
    assert CheckoutAttempt.objects.get(pk=first["id"]).status == CheckoutAttempt.Status.EXPIRED
    assert _status(agreement) == Agreement.Status.AWAITING_PAYMENT
    attempts = world.northwind.api().get(f"/api/v1/agreements/{agreement.pk}/checkout/").json()
    assert [a["status"] for a in attempts["results"]] == ["expired"]

    second = _start(world, agreement)
    emulated_stripe.control.complete_checkout(second["stripe_session_id"])
    process_events("checkout.session.completed")
    assert _status(agreement) == Agreement.Status.ACTIVE


def test_only_the_licensee_pays_and_only_what_is_due(world, agreement, emulated_stripe):
    creator = world.harbour.api().post(
        f"/api/v1/agreements/{agreement.pk}/checkout/", {}, format="json"
    )
    assert creator.status_code == 403
    attempt = _start(world, agreement)
    emulated_stripe.control.complete_checkout(attempt["stripe_session_id"])
    process_events("checkout.session.completed")
    again = world.northwind.api().post(
        f"/api/v1/agreements/{agreement.pk}/checkout/", {}, format="json"
    )
    assert again.status_code == 409
    assert again.json()["code"] == "checkout_not_needed"


def test_when_stripe_is_unreachable_the_attempt_fails_and_can_be_retried(world, agreement):
    response = world.northwind.api().post(
        f"/api/v1/agreements/{agreement.pk}/checkout/", {}, format="json"
    )
    assert response.status_code == 503
    assert response.json()["code"] == "checkout_unavailable"
    failed = CheckoutAttempt.objects.get()
    assert failed.status == CheckoutAttempt.Status.FAILED
    assert _status(agreement) == Agreement.Status.AWAITING_PAYMENT
