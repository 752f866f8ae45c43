"""Our webhook endpoint: verified, stored once, processed once, in any order."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.conf import settings
from django.utils import timezone

from payments import gateway
from payments.connect import connected_account_ensure
from payments.events import (
    stripe_event_process,
    stripe_events_claim_due,
    stripe_events_due_for_retry,
)
from payments.models import StripeConnectedAccount, StripeEvent
from tests.gateway.helpers import events_of, post_webhook, signature_header

pytestmark = pytest.mark.django_db


def _deliver(client, event, **signing):
    payload = gateway.event_payload(event)
    return post_webhook(client, payload, signature_header(payload, **signing))


def _account_events(emulated, payee):
    """Two account.updated events for one account: first while it still needs details,
    then when onboarding completes."""
    account = connected_account_ensure(organisation=payee)
    gateway_client = gateway._client()
    gateway_client.v1.accounts.update(
        account.stripe_account_id, params={"metadata": {"note": "first"}}
    )
    emulated.control.complete_onboarding(account.stripe_account_id)
    older, newer = events_of("account.updated", account_id=account.stripe_account_id)
    return account, older, newer


def test_a_wrong_signature_answers_400_and_stores_nothing(client, emulated_stripe, payee):
    _, event, _ = _account_events(emulated_stripe, payee)
    payload = gateway.event_payload(event)
    for signature in (
        signature_header(payload, secret="whsec_not_ours"),
        signature_header(payload, timestamp=int(timezone.now().timestamp()) - 600),
        "t=1,v1=deadbeef",
        None,
    ):
        response = post_webhook(client, payload, signature)
        assert response.status_code == 400, signature
    tampered = payload.replace("first", "forged")
    assert post_webhook(client, tampered, signature_header(payload)).status_code == 400
    assert not StripeEvent.objects.exists()
    assert client.get("/stripe/webhooks/").status_code == 405


def test_an_event_is_stored_once_and_processed_once(
    client, emulated_stripe, payee, django_capture_on_commit_callbacks
):
    _, _, event = _account_events(emulated_stripe, payee)
    with django_capture_on_commit_callbacks() as queued:
        first = _deliver(client, event)
        second = _deliver(client, event)
    assert (first.status_code, second.status_code) == (200, 200)
    assert (first.json()["duplicate"], second.json()["duplicate"]) == (False, True)
    assert len(queued) == 1  # one processing task for one event
    record = StripeEvent.objects.get()
    assert (record.stripe_event_id, record.type, record.account) == (
        event.id,
        "account.updated",
        event.account,
    )
    assert record.payload["data"]["object"]["id"] == event.account

    emulated_stripe.control.clear_requests()
    stripe_event_process(event_pk=record.pk)
    after_first = len(emulated_stripe.control.requests())
    stripe_event_process(event_pk=record.pk)  # a duplicate task
    record.refresh_from_db()
    assert (record.status, record.attempts) == ("processed", 1)
    assert after_first >= 1  # the account was re-fetched from Stripe
    assert len(emulated_stripe.control.requests()) == after_first  # the duplicate did nothing


def test_events_in_reverse_order_leave_the_accounts_current_state(client, emulated_stripe, payee):
    account, older, newer = _account_events(emulated_stripe, payee)
    assert older.data.object.capabilities["transfers"] == "inactive"
    for event in (newer, older):  # Stripe does not promise order
        _deliver(client, event)
        stripe_event_process(event_pk=StripeEvent.objects.get(stripe_event_id=event.id).pk)
    account.refresh_from_db()
    current = gateway.connected_account_retrieve(account_id=account.stripe_account_id)
    assert account.transfers_capability == current.capabilities["transfers"] == "active"
    assert account.status == StripeConnectedAccount.Status.ENABLED
    assert account.requirements_currently_due == [] and account.payouts_enabled


def test_an_event_type_without_handlers_is_stored_and_ignored(client, emulated_stripe, licensee):
    gateway.customer_create(email=None, name="Northwind AI", metadata={}, idempotency_key="c:1")
    (event,) = events_of("customer.created")
    _deliver(client, event)
    record = StripeEvent.objects.get(stripe_event_id=event.id)
    assert stripe_event_process(event_pk=record.pk).status == "ignored"


def test_a_failed_handler_keeps_its_error_and_is_retried_with_backoff(
    client, emulated_stripe, payee
):
    account, _, event = _account_events(emulated_stripe, payee)
    _deliver(client, event)
    record = StripeEvent.objects.get(stripe_event_id=event.id)
    emulated_stripe.control.add_fault("api_error", count=4, path="/v1/accounts/")
    failed = stripe_event_process(event_pk=record.pk)
    assert (failed.status, failed.attempts) == ("failed", 1)
    assert "GatewayUnavailable" in failed.error
    assert failed.next_attempt_at > timezone.now() + timedelta(seconds=20)
    assert not StripeConnectedAccount.objects.get(pk=account.pk).can_receive_transfers

    assert record.pk not in stripe_events_due_for_retry().values_list("pk", flat=True)
    later = failed.next_attempt_at + timedelta(seconds=1)
    assert list(stripe_events_due_for_retry(now=later).values_list("pk", flat=True)) == [record.pk]

    retried = stripe_event_process(event_pk=record.pk)  # the outage is over
    assert (retried.status, retried.attempts, retried.error) == ("processed", 2, "")
    assert StripeConnectedAccount.objects.get(pk=account.pk).can_receive_transfers


def test_staff_can_process_a_failed_event_again_from_the_admin(
    admin_client, client, emulated_stripe, payee
):
    _, _, event = _account_events(emulated_stripe, payee)
    _deliver(client, event)
    record = StripeEvent.objects.get(stripe_event_id=event.id)
    emulated_stripe.control.add_fault("api_error", count=4, path="/v1/accounts/")
    assert stripe_event_process(event_pk=record.pk).status == "failed"
    response = admin_client.post(
        "/admin/payments/stripeevent/",
        {"action": "process_again", "_selected_action": [record.pk]},
        follow=True,
    )
    assert "1 processed" in response.content.decode()
    record.refresh_from_db()
    assert record.status == "processed"


def test_an_event_stuck_in_received_is_picked_up_again_once_per_round():
    record = StripeEvent.objects.create(
        stripe_event_id="evt_lost",
        type="account.updated",
        stripe_created=timezone.now(),
        payload={"id": "evt_lost", "type": "account.updated", "data": {"object": {}}},
    )
    assert stripe_events_claim_due(limit=10) == []  # its task may simply not have run yet
    StripeEvent.objects.filter(pk=record.pk).update(received_at=timezone.now() - timedelta(hours=1))
    assert stripe_events_claim_due(limit=10) == [record.pk]
    assert stripe_events_claim_due(limit=10) == []  # queued: not again until it is overdue


def test_the_retry_job_is_scheduled_and_registered():
    from config.celery import app

    entry = settings.CELERY_BEAT_SCHEDULE["retry-failed-stripe-events"]
    assert entry["task"] in app.tasks
    assert json.dumps(entry["task"]) == '"payments.tasks.stripe_events_retry_due"'
