"""Payments into the platform's Stripe balance, their refunds and disputes, and licensees'
saved cards.

Licensees pay through Checkout Sessions (marketplace builds them with
`gateway.checkout_session_create`, `transfer_group` set to the agreement or invoice and
`metadata["organisation_id"]` to the payer). Whatever event tells us about a charge, we
re-fetch the charge (and its refunds or dispute) and store its current state in
`StripePayment`, so duplicates and any order of events end in the same rows.

What a refund or a lost dispute means for creators' balances is the royalties engine's
decision, not ours. We announce them, each exactly once, with two signals sent inside the
transaction that records them (a receiver that raises rolls the recording back, and the
event is retried):

* `stripe_refund_succeeded(sender=StripeRefund, refund=..., payment=...)`
* `stripe_dispute_lost(sender=StripePayment, payment=...)`
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import structlog
from django.db import IntegrityError, transaction
from django.dispatch import Signal

from accounts.models import Organisation
from core import clock
from payments import gateway
from payments.events import stripe_event_handler
from payments.models import StripeCustomer, StripeEvent, StripePayment, StripeRefund

log = structlog.get_logger(__name__)

stripe_refund_succeeded = Signal()
stripe_dispute_lost = Signal()


def _organisation_id(metadata: dict[str, Any]) -> int | None:
    raw = str(metadata.get("organisation_id") or "")
    if raw.isdigit() and Organisation.objects.filter(pk=int(raw)).exists():
        return int(raw)
    return None


# --- Payments ----------------------------------------------------------------------------------
def stripe_payment_sync(*, charge_id: str) -> StripePayment:
    """Fetch the charge now and store its current state (amounts, fee, refunds, dispute id)."""
    charge = gateway.charge_retrieve(charge_id=charge_id, with_balance_transaction=True).to_dict()
    balance_transaction = charge.get("balance_transaction")
    fee = balance_transaction.get("fee", 0) if isinstance(balance_transaction, dict) else 0
    metadata = charge.get("metadata") or {}
    values = {
        "organisation_id": _organisation_id(metadata),
        "stripe_payment_intent_id": gateway.expandable_id(charge.get("payment_intent")),
        "stripe_customer_id": gateway.expandable_id(charge.get("customer")),
        "stripe_balance_transaction_id": gateway.expandable_id(balance_transaction),
        "status": charge["status"],
        "amount_minor": int(charge["amount"]),
        "fee_minor": int(fee or 0),
        "amount_refunded_minor": int(charge.get("amount_refunded") or 0),
        "currency": str(charge["currency"]).upper(),
        "transfer_group": charge.get("transfer_group") or "",
        "metadata": metadata,
        "stripe_created": datetime.fromtimestamp(int(charge["created"]), tz=UTC),
    }
    try:
        with transaction.atomic():
            payment, _ = StripePayment.objects.update_or_create(
                stripe_charge_id=charge["id"], defaults=values
            )
    except IntegrityError:  # recorded concurrently by another event about the same charge
        payment = StripePayment.objects.get(stripe_charge_id=charge["id"])
        StripePayment.objects.filter(pk=payment.pk).update(**values)
        payment.refresh_from_db()
    return payment


# --- Refunds -----------------------------------------------------------------------------------
def stripe_refund_record(*, refund: dict[str, Any]) -> StripeRefund:
    """Store a refund as Stripe now has it and, the first time it is seen succeeded, announce
    it (`stripe_refund_succeeded`)."""
    payment = stripe_payment_sync(charge_id=gateway.expandable_id(refund["charge"]))
    with transaction.atomic():
        row, created = StripeRefund.objects.select_for_update().get_or_create(
            stripe_refund_id=refund["id"],
            defaults={
                "payment": payment,
                "amount_minor": int(refund["amount"]),
                "currency": str(refund["currency"]).upper(),
                "status": refund["status"],
            },
        )
        previous_status = "" if created else row.status
        row.status = refund["status"]
        row.reason = refund.get("reason") or ""
        row.metadata = refund.get("metadata") or {}
        # A pending refund announces nothing yet (no clawback); it may still fail.
        newly_succeeded = row.status == "succeeded" and row.succeeded_at is None
        newly_failed = row.status == "failed" and previous_status != "failed"
        if newly_succeeded:
            row.succeeded_at = clock.now()
        row.save()
        if newly_failed:
            # The money never left: nothing to claw back, nothing posted. Said loudly, since
            # the licensee was told it would be refunded.
            log.warning(
                "stripe_refund_failed",
                refund_id=row.stripe_refund_id,
                charge_id=payment.stripe_charge_id,
                amount_minor=row.amount_minor,
                failure_reason=refund.get("failure_reason") or "",
                announced_before=row.succeeded_at is not None,
            )
        if newly_succeeded:
            stripe_refund_succeeded.send(sender=StripeRefund, refund=row, payment=payment)
    return row


def stripe_refund_sync(*, refund_id: str) -> StripeRefund:
    return stripe_refund_record(refund=gateway.refund_retrieve(refund_id=refund_id).to_dict())


def payment_refund(
    *,
    payment: StripePayment,
    idempotency_key: str,
    amount_minor: int | None = None,
    reason: str | None = None,
) -> StripeRefund:
    """Refund a payment (all of it, or `amount_minor`) and record the refund at once."""
    refund = gateway.refund_create(
        charge_id=payment.stripe_charge_id,
        amount_minor=amount_minor,
        reason=reason,
        idempotency_key=idempotency_key,
    )
    return stripe_refund_record(refund=refund.to_dict())


# --- Disputes ----------------------------------------------------------------------------------
def stripe_dispute_sync(*, dispute_id: str) -> StripePayment:
    """Store the dispute's current state on its payment; announce a loss once."""
    dispute = gateway.dispute_retrieve(dispute_id=dispute_id).to_dict()
    payment = stripe_payment_sync(charge_id=gateway.expandable_id(dispute["charge"]))
    with transaction.atomic():
        payment = StripePayment.objects.select_for_update().get(pk=payment.pk)
        payment.stripe_dispute_id = dispute["id"]
        payment.dispute_status = dispute["status"]
        payment.disputed_amount_minor = int(dispute["amount"])
        newly_lost = dispute["status"] == "lost" and payment.dispute_lost_at is None
        if newly_lost:
            payment.dispute_lost_at = clock.now()
        payment.save()
        if newly_lost:
            stripe_dispute_lost.send(sender=StripePayment, payment=payment)
    return payment


# --- Customers and saved cards -----------------------------------------------------------------
def stripe_customer_ensure(
    *, organisation: Organisation, email: str | None = None
) -> StripeCustomer:
    """The licensee's Stripe customer, created on first use."""
    existing = StripeCustomer.objects.filter(organisation=organisation).first()
    if existing is not None:
        return existing
    customer = gateway.customer_create(
        email=email,
        name=organisation.name,
        metadata={"organisation_id": organisation.pk},
        idempotency_key=gateway.idempotency_key("customer", organisation.pk),
    )
    try:
        with transaction.atomic():
            row, _ = StripeCustomer.objects.get_or_create(
                organisation=organisation, defaults={"stripe_customer_id": customer.id}
            )
    except IntegrityError:
        row = StripeCustomer.objects.get(organisation=organisation)
    return row


def off_session_payment_method_for(*, organisation: Organisation) -> tuple[str, str] | None:
    """(customer id, payment method id) we may charge off-session, if the licensee agreed."""
    customer = StripeCustomer.objects.filter(organisation=organisation).first()
    if customer is None or not customer.off_session_payment_method_id:
        return None
    return customer.stripe_customer_id, customer.off_session_payment_method_id


def _save_card_from_session(session: dict[str, Any], intent: dict[str, Any]) -> None:
    """A Checkout payment made with `setup_future_usage=off_session` saved the card, with the
    payer's consent: remember it for later usage charges."""
    customer_id = gateway.expandable_id(intent.get("customer") or session.get("customer"))
    organisation_id = _organisation_id(session.get("metadata") or {})
    if intent.get("setup_future_usage") != "off_session" or not customer_id or not organisation_id:
        return
    with transaction.atomic():
        row, _ = StripeCustomer.objects.select_for_update().get_or_create(
            organisation_id=organisation_id, defaults={"stripe_customer_id": customer_id}
        )
        if row.stripe_customer_id != customer_id:
            return  # paid as another customer than the one we keep: do not mix them up
        row.off_session_payment_method_id = gateway.expandable_id(intent.get("payment_method"))
        row.off_session_consented_at = row.off_session_consented_at or clock.now()
        row.save()


# --- Event handlers ----------------------------------------------------------------------------
def _platform_event(event: StripeEvent) -> bool:
    """Charges, refunds and disputes of the platform's own balance (not connected accounts')."""
    return not event.account


@stripe_event_handler("charge.succeeded", "charge.updated", "charge.captured")
def _charge_changed(event: StripeEvent) -> None:
    if _platform_event(event):
        stripe_payment_sync(charge_id=event.data_object["id"])


@stripe_event_handler("charge.refunded")
def _charge_refunded(event: StripeEvent) -> None:
    if not _platform_event(event):
        return
    charge_id = event.data_object["id"]
    stripe_payment_sync(charge_id=charge_id)
    for refund in gateway.refunds_list(charge_id=charge_id):
        stripe_refund_record(refund=refund.to_dict())


@stripe_event_handler("refund.created", "refund.updated", "refund.failed", "charge.refund.updated")
def _refund_changed(event: StripeEvent) -> None:
    if _platform_event(event):
        stripe_refund_sync(refund_id=event.data_object["id"])


@stripe_event_handler(
    "charge.dispute.created",
    "charge.dispute.updated",
    "charge.dispute.closed",
    "charge.dispute.funds_withdrawn",
    "charge.dispute.funds_reinstated",
)
def _dispute_changed(event: StripeEvent) -> None:
    if _platform_event(event):
        stripe_dispute_sync(dispute_id=event.data_object["id"])


@stripe_event_handler("payment_intent.succeeded")
def _payment_intent_succeeded(event: StripeEvent) -> None:
    charge_id = gateway.expandable_id(event.data_object.get("latest_charge"))
    if _platform_event(event) and charge_id:
        stripe_payment_sync(charge_id=charge_id)


@stripe_event_handler("checkout.session.completed")
def _checkout_completed(event: StripeEvent) -> None:
    session = event.data_object
    intent_id = gateway.expandable_id(session.get("payment_intent"))
    if not _platform_event(event) or not intent_id:
        return
    intent = gateway.payment_intent_retrieve(payment_intent_id=intent_id).to_dict()
    if intent.get("latest_charge"):
        stripe_payment_sync(charge_id=gateway.expandable_id(intent["latest_charge"]))
    _save_card_from_session(session, intent)
