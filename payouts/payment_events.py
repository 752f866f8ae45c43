"""Stripe events and payment signals that move royalties money (imported from
``RoyaltiesConfig.ready``): collections paid, transfers reversed, connected accounts able to
receive transfers, refunds and lost disputes of collected payments."""

from __future__ import annotations

from typing import Any

from django.db import transaction

from ledger.models import EntryKind
from payments import gateway
from payments.connect import connected_account_sync
from payments.events import stripe_event_handler
from payments.models import StripeEvent, StripePayment, StripeRefund
from payouts import collections
from payouts import services as payouts


@stripe_event_handler("payment_intent.succeeded")
def _collection_intent_succeeded(event: StripeEvent) -> None:
    intent = event.data_object
    collection = collections.collection_for_payment_intent(metadata=intent.get("metadata") or {})
    charge_id = gateway.expandable_id(intent.get("latest_charge"))
    if event.account or collection is None or not charge_id:
        return
    collections.collection_record_payment(collection_id=collection.pk, charge_id=charge_id)


@stripe_event_handler("checkout.session.completed")
def _collection_checkout_completed(event: StripeEvent) -> None:
    session = event.data_object
    collection = collections.collection_for_payment_intent(metadata=session.get("metadata") or {})
    intent_id = gateway.expandable_id(session.get("payment_intent"))
    if event.account or collection is None or not intent_id:
        return
    intent = gateway.payment_intent_retrieve(payment_intent_id=intent_id)
    if intent.latest_charge:
        collections.collection_record_payment(
            collection_id=collection.pk, charge_id=gateway.expandable_id(intent.latest_charge)
        )


@stripe_event_handler("transfer.reversed")
def _transfer_reversed(event: StripeEvent) -> None:
    transfer = event.data_object
    for reversal in (transfer.get("reversals") or {}).get("data") or []:
        payouts.payout_reversal_record(
            transfer_id=transfer["id"],
            reversal_id=reversal["id"],
            amount_minor=int(reversal["amount"]),
        )


@stripe_event_handler("account.updated")
def _pay_held_balances(event: StripeEvent) -> None:
    account_id = event.account or event.data_object.get("id") or ""
    account = connected_account_sync(stripe_account_id=account_id)
    if account is not None and account.can_receive_transfers:
        holder_ids = [account.organisation_id]
        transaction.on_commit(lambda: payouts.payouts_schedule_payable(holder_ids=holder_ids))


def refund_succeeded(
    sender: Any, *, refund: StripeRefund, payment: StripePayment, **_: Any
) -> None:
    if collections.duplicate_payment_refunded(
        charge_id=payment.stripe_charge_id,
        refund_id=refund.stripe_refund_id,
        amount_minor=refund.amount_minor,
    ):
        return
    collections.collection_clawback(
        payment=payment,
        amount_minor=refund.amount_minor,
        kind=EntryKind.REFUND,
        stripe_object_id=refund.stripe_refund_id,
        idempotency_key=f"stripe:{refund.stripe_refund_id}",
    )


def dispute_lost(sender: Any, *, payment: StripePayment, **_: Any) -> None:
    collections.collection_clawback(
        payment=payment,
        amount_minor=payment.disputed_amount_minor,
        kind=EntryKind.DISPUTE,
        stripe_object_id=payment.stripe_dispute_id,
        idempotency_key=f"stripe:{payment.stripe_dispute_id}:lost",
    )
