"""The gateway against Stripe's API: these pass on the emulator and, unchanged, on Stripe's
test mode (`make test-stripe`). They use nothing but the gateway: no control API."""

from __future__ import annotations

import json
import time

import pytest

from payments import gateway
from payments.models import StripeRequest
from tests.gateway.helpers import checkout, signature_header

pytestmark = [pytest.mark.stripe_contract, pytest.mark.django_db]


def _key(name: str) -> str:
    """Keys unique per run: Stripe's test mode remembers keys for 24 hours."""
    return f"contract-{name}-{time.time_ns()}"


def test_a_connected_account_is_created_once_per_key_and_starts_unable_to_receive(
    stripe_api, payee
):
    key = _key("account")
    account = gateway.connected_account_create(
        country="US",
        email="ana@example.test",
        business_name="Ana Rivera",
        metadata={"organisation_id": payee.pk},
        idempotency_key=key,
    )
    again = gateway.connected_account_create(
        country="US",
        email="ana@example.test",
        business_name="Ana Rivera",
        metadata={"organisation_id": payee.pk},
        idempotency_key=key,
    )
    StripeRequest.objects.filter(idempotency_key=key).delete()  # only Stripe remembers the key now
    replayed = gateway.connected_account_create(
        country="US",
        email="ana@example.test",
        business_name="Ana Rivera",
        metadata={"organisation_id": payee.pk},
        idempotency_key=key,
    )
    assert account.id.startswith("acct_") and again.id == replayed.id == account.id
    fetched = gateway.connected_account_retrieve(account_id=account.id)
    assert fetched.metadata["organisation_id"] == str(payee.pk)
    assert fetched.capabilities["transfers"] in ("inactive", "pending")
    assert fetched.requirements.currently_due and not fetched.payouts_enabled
    schedule = fetched.settings.payouts.schedule  # paid out weekly, not Stripe's daily default
    assert (schedule.interval, schedule.weekly_anchor) == ("weekly", "friday")

    link = gateway.account_link_create(
        account_id=account.id,
        refresh_url="https://trainright.example/account/payouts/refresh/",
        return_url="https://trainright.example/account/payouts/return/",
        idempotency_key=_key("link"),
    )
    assert link.url.startswith("http") and link.expires_at > time.time()


def test_checkout_session_carries_our_business_ids_and_can_be_expired(stripe_api, licensee):
    session = checkout(licensee, 120_000, key=_key("checkout"))
    fetched = gateway.checkout_session_retrieve(session_id=session.id)
    assert (fetched.status, fetched.payment_status, fetched.amount_total) == (
        "open",
        "unpaid",
        120_000,
    )
    assert fetched.currency == "usd" and fetched.url.startswith("http")
    assert fetched.metadata["organisation_id"] == str(licensee.pk)
    expired = gateway.checkout_session_expire(session_id=session.id, idempotency_key=_key("expire"))
    assert expired.status == "expired"


def _charge_card(customer_id: str, payment_method: str, amount: int, name: str):
    return gateway.payment_intent_create_off_session(
        amount_minor=amount,
        currency="USD",
        customer_id=customer_id,
        payment_method_id=payment_method,
        transfer_group=f"invoice-{name}",
        metadata={"invoice_id": name},
        idempotency_key=_key(name),
    )


def test_off_session_charge_refund_and_balance_transactions(stripe_api, licensee):
    customer = gateway.customer_create(
        email="billing@northwind.test",
        name="Northwind AI",
        metadata={"organisation_id": licensee.pk},
        idempotency_key=_key("customer"),
    )
    intent = _charge_card(customer.id, "pm_card_visa", 4_800, "october")
    assert intent.status == "succeeded" and intent.amount_received == 4_800

    charge = gateway.charge_retrieve(charge_id=intent.latest_charge, with_balance_transaction=True)
    txn = charge.balance_transaction
    assert (charge.amount, charge.transfer_group) == (4_800, "invoice-october")
    assert txn.type == "charge" and txn.fee > 0 and txn.net == 4_800 - txn.fee
    listed = list(gateway.balance_transactions(source=charge.id))
    assert [t.id for t in listed] == [txn.id]

    key = _key("refund")
    refund = gateway.refund_create(charge_id=charge.id, amount_minor=1_000, idempotency_key=key)
    assert refund.status == "succeeded" and refund.amount == 1_000
    assert (
        gateway.refund_create(charge_id=charge.id, amount_minor=1_000, idempotency_key=key).id
        == refund.id
    )
    assert gateway.charge_retrieve(charge_id=charge.id).amount_refunded == 1_000
    assert [r.id for r in gateway.refunds_list(charge_id=charge.id)] == [refund.id]

    balance = gateway.balance_retrieve()
    assert "USD" in balance.available or "USD" in balance.pending
    events = list(gateway.events_list(types=["charge.succeeded"], created_gte=charge.created - 5))
    assert any(e.data.object.id == charge.id for e in events)
    event = next(e for e in events if e.data.object.id == charge.id)
    assert gateway.event_retrieve(event_id=event.id).type == "charge.succeeded"


def test_a_declined_card_and_a_missing_charge_become_our_errors(stripe_api, licensee):
    customer = gateway.customer_create(
        email=None, name="Northwind AI", metadata={}, idempotency_key=_key("customer")
    )
    with pytest.raises(gateway.CardDeclined) as declined:
        _charge_card(customer.id, "pm_card_chargeDeclined", 2_000, "declined")
    assert (declined.value.code, declined.value.decline_code) == (
        "card_declined",
        "generic_decline",
    )
    assert declined.value.http_status == 402
    journal = StripeRequest.objects.get(operation="payment_intent.create")
    assert (journal.status, journal.error_code) == ("failed", "card_declined")

    with pytest.raises(gateway.ResourceMissing) as missing:
        gateway.refund_create(charge_id="ch_doesnotexist", idempotency_key=_key("refund"))
    assert (missing.value.code, missing.value.param) == ("resource_missing", "charge")
    assert missing.value.http_status == 400


def test_transfers_to_an_account_that_cannot_receive_them_are_refused_before_calling(
    stripe_api, payee
):
    with pytest.raises(gateway.AccountCannotReceiveTransfers):
        gateway.transfer_create(
            destination_account_id="acct_unknown",
            amount_minor=1_000,
            currency="USD",
            idempotency_key=_key("transfer"),
        )
    assert not StripeRequest.objects.filter(operation="transfer.create").exists()


def test_webhook_signatures_are_checked_as_stripe_signs_them(stripe_api):
    payload = json.dumps({"id": "evt_1", "type": "account.updated", "object": "event"})
    event = gateway.webhook_event_verify(
        payload=payload.encode(), signature=signature_header(payload)
    )
    assert event["id"] == "evt_1"
    now = int(time.time())
    good = signature_header(payload, timestamp=now).split(",")[1]
    both = f"t={now},v1={'0' * 64},{good}"  # any matching v1 signature is enough
    assert gateway.webhook_event_verify(payload=payload.encode(), signature=both)["id"] == "evt_1"
    for bad in (
        signature_header(payload, secret="whsec_someone_else"),
        signature_header(payload, timestamp=int(time.time()) - 301),
        signature_header(payload + " "),
        "",
    ):
        with pytest.raises(gateway.WebhookSignatureInvalid):
            gateway.webhook_event_verify(payload=payload.encode(), signature=bad)
