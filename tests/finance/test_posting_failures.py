"""A Stripe event whose handler fails leaves money unposted: that is a finance exception
(``posting_failed``) with a retry action, not just a worker log line. Retrying re-runs the
event's handlers; it resolves on success (and so does the beat's automatic retry)."""

from __future__ import annotations

import pytest

from accounts.models import Membership, Organisation
from finance.models import ExceptionKind, ExceptionStatus, ReconciliationException
from finance.period_close import period_close_checks
from ledger.services import accounting_period_for
from payments.events import stripe_event_process, stripe_event_store
from payments.models import StripeEvent
from payouts.collections import collection_charge, collections_open_for_run
from payouts.models import Collection
from tests.conftest import STRIPE_NOWHERE
from tests.factories import MembershipFactory
from tests.gateway.helpers import events_of
from tests.money.payouts_world import billed_run, fresh_holders, fresh_licensee, saved_card

pytestmark = [pytest.mark.django_db]


@pytest.fixture
def finance_user(tenant_factory):
    platform = tenant_factory(Organisation.Kind.PLATFORM, "TrainRight")
    return MembershipFactory(organisation=platform.organisation, role=Membership.Role.FINANCE).user


def _paid_invoice_event(emulated, settings) -> tuple[Collection, StripeEvent]:
    """An invoice charged off-session: Stripe took the money and sent payment_intent.succeeded;
    its handler runs while Stripe cannot be reached (it reads the charge back), and fails."""
    licensee = fresh_licensee()
    saved_card(emulated, licensee)
    billed = billed_run(licensee, fresh_holders(2), amounts=[3_000, 1_000], commission_minor=400)
    [collection] = collections_open_for_run(run=billed.run)
    collection_charge(collection_id=collection.pk)
    [event] = [
        e
        for e in events_of("payment_intent.succeeded")
        if (e.to_dict()["data"]["object"].get("metadata") or {}).get("collection_id")
        == str(collection.pk)
    ]
    record, _ = stripe_event_store(event=event.to_dict())
    reachable = settings.STRIPE_API_BASE
    settings.STRIPE_API_BASE = STRIPE_NOWHERE
    record = stripe_event_process(event_pk=record.pk)
    settings.STRIPE_API_BASE = reachable
    assert record.status == StripeEvent.Status.FAILED
    assert Collection.objects.get(pk=collection.pk).status != Collection.Status.PAID
    return collection, record


@pytest.mark.clock("2026-03-10T12:00:00Z")
def test_a_failed_payment_handler_is_a_finance_exception_retried_from_the_api(
    emulated_stripe, settings, finance_user
):
    collection, event = _paid_invoice_event(emulated_stripe, settings)
    exception = ReconciliationException.objects.get(kind=ExceptionKind.POSTING_FAILED)
    assert exception.status == ExceptionStatus.OPEN
    assert exception.stripe_object_id == event.stripe_event_id
    assert exception.stripe_event_id == event.pk
    assert str(exception.occurred_on) == "2026-03-10"
    assert (exception.currency, exception.actual_minor) == ("USD", collection.amount_due_minor)
    assert "payment_intent.succeeded" in exception.detail
    # It holds its month open like any unresolved exception.
    period = accounting_period_for(day=exception.occurred_on)
    checks = {check.name: check for check in period_close_checks(period=period)}
    assert "1 unresolved exception(s) in 2026-03" in checks["Reconciliation clean"].detail

    client = _client(finance_user)
    listed = client.get(
        "/api/v1/finance/reconciliation-exceptions/", {"kind": "posting_failed"}
    ).json()
    assert [row["id"] for row in listed["results"]] == [exception.pk]
    # A retry while Stripe is still unreachable fails again, and says so.
    settings.STRIPE_API_BASE = STRIPE_NOWHERE
    again = client.post(f"/api/v1/finance/reconciliation-exceptions/{exception.pk}/retry/")
    settings.STRIPE_API_BASE = emulated_stripe.url
    assert again.status_code == 409, again.content
    assert "still fails" in again.json()["detail"]
    assert ReconciliationException.objects.get(pk=exception.pk).status == ExceptionStatus.OPEN

    retried = client.post(f"/api/v1/finance/reconciliation-exceptions/{exception.pk}/retry/")
    assert retried.status_code == 200, retried.content
    assert retried.json()["status"] == "resolved"
    assert Collection.objects.get(pk=collection.pk).status == Collection.Status.PAID
    assert StripeEvent.objects.get(pk=event.pk).status == StripeEvent.Status.PROCESSED
    resolved = ReconciliationException.objects.get(pk=exception.pk)
    assert resolved.resolved_by == finance_user
    assert "Retried" in resolved.resolution_reason


@pytest.mark.clock("2026-03-10T12:00:00Z")
def test_the_exception_page_retries_and_the_beats_retry_resolves_it_too(
    emulated_stripe, settings, finance_user, tenant_factory
):
    tenant_factory(Organisation.Kind.PLATFORM, "TrainRight owner")  # someone to sign it off
    collection, event = _paid_invoice_event(emulated_stripe, settings)
    exception = ReconciliationException.objects.get(kind=ExceptionKind.POSTING_FAILED)
    client = _client(finance_user)
    page = client.get(f"/finance/exceptions/{exception.pk}/").content.decode()
    assert 'data-testid="retry-form"' in page
    assert event.stripe_event_id in page

    # The beat's automatic retry succeeds first: the exception resolves by itself.
    assert stripe_event_process(event_pk=event.pk).status == StripeEvent.Status.PROCESSED
    resolved = ReconciliationException.objects.get(pk=exception.pk)
    assert resolved.status == ExceptionStatus.RESOLVED
    assert Collection.objects.get(pk=collection.pk).status == Collection.Status.PAID
    page = client.get(f"/finance/exceptions/{exception.pk}/").content.decode()
    assert 'data-testid="retry-form"' not in page


def _client(user):
    from rest_framework.test import APIClient

    client = APIClient()
    client.force_login(user)
    return client
