"""One payment per invoice (issue 13, finding 1). The saved card declined, the licensee took a
Checkout link, and the automatic retry then succeeded off-session while the Checkout page was
still open: the page took a second full payment, kept silently. Now the retry expires the open
Checkout Session first (or is skipped if the licensee paid there), Checkout is refused while an
off-session payment is under way, and a payment that still reaches a paid invoice is refunded
automatically, posted to the ledger and shown to the licensee and to finance; reconciliation
names one that slips through."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from accounts.models import Membership, Organisation
from core import clock
from finance.models import ExceptionKind, ReconciliationException
from finance.reconciliation import reconciliation_run_for_period
from ledger.models import AccountCode, JournalEntry
from ledger.selectors import account_balance, trial_balance
from ledger.services import accounting_period_for, ledger_account_for
from payments import gateway
from payments.models import StripeCustomer
from payouts.collections import (
    CollectionError,
    collection_charge,
    collection_checkout_for,
    collection_record_payment,
    collections_open_for_run,
    duplicate_payment_refund,
)
from payouts.models import Collection, DuplicatePayment
from stripe_emulator.control import ControlError
from tests.factories import MembershipFactory
from tests.gateway.helpers import process_events
from tests.money.payouts_world import billed_run, fresh_holders, fresh_licensee, saved_card

pytestmark = pytest.mark.django_db

DECLINING_CARD = "pm_card_chargeDeclined"


def _declined_invoice(emulated):
    """An invoice whose off-session charge declined: FAILED, retry scheduled; the licensee
    then asked for a Checkout link through the API, as the finding did."""
    licensee = fresh_licensee()
    customer = saved_card(emulated, licensee)
    good_card = customer.off_session_payment_method_id
    StripeCustomer.objects.filter(pk=customer.pk).update(
        off_session_payment_method_id=DECLINING_CARD
    )
    billed = billed_run(licensee, fresh_holders(2), amounts=[3_000, 1_000], commission_minor=400)
    [collection] = collections_open_for_run(run=billed.run)
    collection = collection_charge(collection_id=collection.pk)
    assert collection.status == Collection.Status.FAILED

    member = MembershipFactory(organisation=licensee, role=Membership.Role.OWNER).user
    client = APIClient()
    client.force_login(member)
    response = client.post(f"/api/v1/collections/{collection.pk}/pay/")
    assert response.status_code == 200, response.content
    assert response.json()["checkout_url"]
    collection = Collection.objects.get(pk=collection.pk)
    assert collection.checkout_session_id

    # The card works again and the retry is due.
    StripeCustomer.objects.filter(pk=customer.pk).update(off_session_payment_method_id=good_card)
    Collection.objects.filter(pk=collection.pk).update(next_attempt_at=clock.now())
    return Collection.objects.get(pk=collection.pk), client


def _payment_intents(emulated) -> int:
    return emulated.control.counts().get("payment_intent", 0)


def test_the_retry_expires_the_open_checkout_so_the_invoice_is_paid_once(emulated_stripe):
    collection, client = _declined_invoice(emulated_stripe)
    session_id = collection.checkout_session_id

    retried = collection_charge(collection_id=collection.pk)
    assert retried.payment_intent_id
    session = gateway.checkout_session_retrieve(session_id=session_id)
    assert session.status == "expired"
    with pytest.raises(ControlError):  # the licensee's open page can no longer take money
        emulated_stripe.control.complete_checkout(session_id)
    assert retried.checkout_session_id == "" and retried.checkout_url == ""

    # Until Stripe confirms, Checkout is refused rather than offered a second time.
    response = client.post(f"/api/v1/collections/{collection.pk}/pay/")
    assert response.status_code == 409
    assert "already under way" in response.json()["detail"]

    process_events("payment_intent.succeeded", "checkout.session.completed")
    paid = Collection.objects.get(pk=collection.pk)
    assert paid.status == Collection.Status.PAID
    charge = gateway.payment_intent_retrieve(payment_intent_id=paid.payment_intent_id).latest_charge
    assert paid.charge_id == charge
    assert not DuplicatePayment.objects.filter(collection=paid).exists()


def test_a_licensee_who_paid_on_checkout_is_not_charged_again_by_the_retry(emulated_stripe):
    collection, _ = _declined_invoice(emulated_stripe)
    emulated_stripe.control.complete_checkout(collection.checkout_session_id)
    intents_before = _payment_intents(emulated_stripe)

    retried = collection_charge(collection_id=collection.pk)
    assert retried.status == Collection.Status.PAID
    assert _payment_intents(emulated_stripe) == intents_before  # no off-session charge
    process_events("payment_intent.succeeded", "checkout.session.completed")
    assert not DuplicatePayment.objects.filter(collection=collection).exists()
    with pytest.raises(CollectionError):
        collection_checkout_for(collection=Collection.objects.get(pk=collection.pk))


def _second_payment(emulated, collection: Collection) -> str:
    """A second full payment of a paid invoice that got past the guards (a Checkout Session
    opened outside them): its charge id."""
    session = gateway.checkout_session_create(
        checkout=gateway.CheckoutRequest(
            currency=collection.currency,
            line_items=[
                gateway.LineItem(
                    name="Invoice again", unit_amount_minor=collection.amount_due_minor
                )
            ],
            success_url="http://app.test/paid",
            cancel_url="http://app.test/cancelled",
            transfer_group=collection.transfer_group,
            metadata={"collection_id": collection.pk, "organisation_id": collection.licensee_id},
        ),
        idempotency_key=f"checkout:second:{collection.pk}",
    )
    emulated.control.complete_checkout(session.id)
    session = gateway.checkout_session_retrieve(session_id=session.id)
    intent = gateway.payment_intent_retrieve(payment_intent_id=session.payment_intent)
    return str(intent.latest_charge)


def _paid_invoice(emulated) -> Collection:
    licensee = fresh_licensee()
    saved_card(emulated, licensee)
    billed = billed_run(licensee, fresh_holders(2), amounts=[3_000, 1_000], commission_minor=400)
    [collection] = collections_open_for_run(run=billed.run)
    collection = collection_charge(collection_id=collection.pk)
    intent = gateway.payment_intent_retrieve(payment_intent_id=collection.payment_intent_id)
    return collection_record_payment(collection_id=collection.pk, charge_id=intent.latest_charge)


def test_a_payment_reaching_a_paid_invoice_is_refunded_posted_and_shown(
    emulated_stripe, client, tenant_factory
):
    collection = _paid_invoice(emulated_stripe)
    receivable = ledger_account_for(
        code=AccountCode.LICENSEE_RECEIVABLE, currency="USD", organisation=collection.licensee
    )
    receivable_before = account_balance(account=receivable)
    second_charge = _second_payment(emulated_stripe, collection)

    # The webhook, delivered twice: one duplicate, one receipt entry.
    process_events("checkout.session.completed")
    process_events("checkout.session.completed")
    [duplicate] = DuplicatePayment.objects.filter(collection=collection)
    assert (duplicate.charge_id, duplicate.amount_minor) == (second_charge, 4_400)
    assert duplicate.status == DuplicatePayment.Status.REFUNDING
    assert Collection.objects.get(pk=collection.pk).charge_id != second_charge

    refunded = duplicate_payment_refund(duplicate_payment_id=duplicate.pk)
    assert refunded.status == DuplicatePayment.Status.REFUNDED and refunded.refund_id
    duplicate_payment_refund(duplicate_payment_id=duplicate.pk)  # again: nothing more
    process_events("charge.refunded", "refund.updated", "refund.created")  # no clawback
    [refund] = gateway.refunds_list(charge_id=second_charge)
    assert refund.amount == 4_400 and refund.id == refunded.refund_id

    # The ledger: the licensee's credit came and went; the platform bears Stripe's fee.
    assert account_balance(account=receivable) == receivable_before
    assert JournalEntry.objects.filter(stripe_object_id=second_charge).count() == 1
    assert JournalEntry.objects.filter(stripe_object_id=refunded.refund_id).count() == 1
    assert all(total == 0 for total in trial_balance().totals_by_currency.values())

    # Reconciliation: the duplicate and its refund both match Stripe.
    emulated_stripe.control.make_available()
    finance = tenant_factory(Organisation.Kind.PLATFORM, "TrainRight").organisation
    finance_user = MembershipFactory(organisation=finance, role=Membership.Role.FINANCE).user
    run = reconciliation_run_for_period(
        period=accounting_period_for(day=clock.today()), actor=finance_user
    )
    assert run.status == "completed"
    assert not ReconciliationException.objects.filter(
        stripe_object_id__in=[second_charge, refunded.refund_id]
    ).exists()

    # The licensee sees it on the invoice, finance on the collections page, both in the API.
    licensee_user = MembershipFactory(
        organisation=collection.licensee, role=Membership.Role.OWNER
    ).user
    client.force_login(licensee_user)
    page = client.get(f"/royalties/invoices/{collection.pk}/").content.decode()
    assert f'data-testid="invoice-duplicate-{duplicate.pk}"' in page
    assert "Paid twice" in page and "refunded in full" in page and "USD 44.00" in page
    api = APIClient()
    api.force_login(licensee_user)
    [shown] = api.get(f"/api/v1/collections/{collection.pk}/").json()["duplicate_payments"]
    assert (shown["charge_id"], shown["status"], shown["amount_minor"]) == (
        second_charge,
        "refunded",
        4_400,
    )
    client.force_login(finance_user)
    finance_page = client.get("/finance/collections/").content.decode()
    assert f'data-testid="collection-duplicate-{duplicate.pk}"' in finance_page


def test_reconciliation_names_a_second_payment_that_slipped_through(
    emulated_stripe, tenant_factory
):
    collection = _paid_invoice(emulated_stripe)
    second_charge = _second_payment(emulated_stripe, collection)  # its webhook never arrives
    emulated_stripe.control.make_available()
    finance = tenant_factory(Organisation.Kind.PLATFORM, "TrainRight").organisation
    finance_user = MembershipFactory(organisation=finance, role=Membership.Role.FINANCE).user

    run = reconciliation_run_for_period(
        period=accounting_period_for(day=clock.today()), actor=finance_user
    )
    assert run.status == "completed"
    [exception] = ReconciliationException.objects.filter(stripe_object_id=second_charge)
    assert exception.kind == ExceptionKind.DUPLICATE_PAYMENT
    assert f"Invoice {collection.pk} was already paid by {collection.charge_id}" in (
        exception.detail
    )
