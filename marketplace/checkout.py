"""Paying an agreement's upfront fee through Stripe Checkout.

The licensee starts a checkout attempt; we open a Checkout Session through the gateway (its
idempotency key derives from the attempt id) and send the licensee to Stripe's page. The
agreement becomes active only when Stripe's webhook confirms payment
(`checkout.session.completed` with `payment_status` paid), never on the browser's return. A
declined card or an expired session leaves the agreement awaiting payment; the licensee starts a
new attempt (older open sessions are expired first, so only one can be paid). Webhooks may
arrive twice or out of order: every handler re-fetches the session from Stripe and the
recording is idempotent under a row lock.
"""

from __future__ import annotations

from typing import Any

import structlog
from django.db import transaction

from accounts.tenancy import Principal
from core import clock
from marketplace.agreements import agreement_activate
from marketplace.errors import CheckoutNotNeeded, CheckoutUnavailable, NotAParty
from marketplace.models import Agreement, CheckoutAttempt
from marketplace.selectors import agreement_fee_total_minor
from marketplace.signals import UpfrontFeePayment
from payments import gateway
from payments.charges import stripe_customer_ensure
from payments.events import stripe_event_handler
from payments.models import StripeEvent

log = structlog.get_logger(__name__)

# metadata["purpose"] of our sessions and PaymentIntents: other apps' checkouts are not ours.
PURPOSE = "agreement_upfront_fee"
_SUPERSEDABLE = (CheckoutAttempt.Status.OPEN, CheckoutAttempt.Status.DECLINED)


def transfer_group_for(agreement: Agreement) -> str:
    return f"agreement:{agreement.pk}"


def checkout_attempt_start(
    *,
    principal: Principal,
    agreement: Agreement,
    success_url: str,
    cancel_url: str,
    save_payment_method: bool = False,
) -> CheckoutAttempt:
    """Open a Checkout Session for the agreement's upfront fee. `success_url` may contain
    `{CHECKOUT_SESSION_ID}`. Stripe calls happen outside any transaction of ours."""
    with transaction.atomic():
        agreement = (
            Agreement.objects.select_for_update(of=("self",))
            .select_related("licensee")
            .get(pk=agreement.pk)
        )
        if agreement.licensee_id not in principal.organisation_ids:
            raise NotAParty("Only the licensee pays the upfront fee.")
        amount = agreement_fee_total_minor(agreement=agreement)
        if agreement.status != Agreement.Status.AWAITING_PAYMENT or amount == 0:
            raise CheckoutNotNeeded(
                f"Agreement {agreement.pk} is {agreement.get_status_display().lower()}: "
                "there is nothing to pay."
            )
        superseded = list(
            CheckoutAttempt.objects.filter(
                agreement=agreement, status__in=_SUPERSEDABLE, stripe_session_id__isnull=False
            )
        )
        attempt = CheckoutAttempt.objects.create(
            agreement=agreement,
            amount_minor=amount,
            currency=agreement.currency,
            save_payment_method=save_payment_method,
            created_by=principal.user,
        )
    for older in superseded:
        _expire_session(older)
    try:
        session = gateway.checkout_session_create(
            checkout=_checkout_request(
                agreement,
                attempt,
                principal=principal,
                success_url=success_url,
                cancel_url=cancel_url,
            ),
            idempotency_key=gateway.idempotency_key("agreement-checkout", attempt.pk),
        )
    except gateway.GatewayError as error:
        _fail(attempt, error)
        raise CheckoutUnavailable(
            "Stripe could not open the payment page just now. Please try again in a moment."
            if error.retryable
            else f"Stripe refused the payment page: {error.message}"
        ) from error
    with transaction.atomic():
        attempt = CheckoutAttempt.objects.select_for_update().get(pk=attempt.pk)
        attempt.stripe_session_id = session.id
        attempt.checkout_url = session.url or ""
        if attempt.status == CheckoutAttempt.Status.CREATED:
            attempt.open()
        attempt.save()
    return attempt


def _checkout_request(
    agreement: Agreement,
    attempt: CheckoutAttempt,
    *,
    principal: Principal,
    success_url: str,
    cancel_url: str,
) -> gateway.CheckoutRequest:
    email = principal.user.email if principal.user else None
    customer_id = None
    if attempt.save_payment_method:
        # Cards saved for usage charges all live on the licensee's one Stripe customer.
        customer_id = stripe_customer_ensure(
            organisation=agreement.licensee, email=email
        ).stripe_customer_id
    return gateway.CheckoutRequest(
        currency=attempt.currency,
        line_items=[
            gateway.LineItem(
                name=f"Licence agreement {agreement.pk} with {agreement.licensor.name}: "
                "upfront fee",
                unit_amount_minor=attempt.amount_minor,
            )
        ],
        success_url=success_url,
        cancel_url=cancel_url,
        transfer_group=transfer_group_for(agreement),
        metadata={
            "purpose": PURPOSE,
            "agreement_id": agreement.pk,
            "checkout_attempt_id": attempt.pk,
            "organisation_id": agreement.licensee_id,
        },
        customer_id=customer_id,
        customer_email=None if customer_id else email,
        client_reference_id=transfer_group_for(agreement),
        save_card_for_later=attempt.save_payment_method,
        description=f"TrainRight licence agreement {agreement.pk}",
    )


def _fail(attempt: CheckoutAttempt, error: gateway.GatewayError) -> None:
    with transaction.atomic():
        attempt = CheckoutAttempt.objects.select_for_update().get(pk=attempt.pk)
        if attempt.status == CheckoutAttempt.Status.CREATED:
            attempt.fail()
            attempt.failure_message = str(error)
            attempt.save()
    log.warning("checkout_open_failed", attempt=attempt.pk, error=str(error))


def _expire_session(attempt: CheckoutAttempt) -> None:
    """Close an older attempt's session at Stripe so it can no longer be paid. When Stripe
    refuses (already complete or expired), its webhook tells us what happened."""
    assert attempt.stripe_session_id
    try:
        gateway.checkout_session_expire(
            session_id=attempt.stripe_session_id,
            idempotency_key=gateway.idempotency_key("agreement-checkout-expire", attempt.pk),
        )
    except gateway.GatewayError as error:
        log.info("checkout_expire_refused", attempt=attempt.pk, error=str(error))
        return
    checkout_attempt_expired(attempt_id=attempt.pk)


# --- What Stripe tells us ------------------------------------------------------------------
def _attempt_id(metadata: dict[str, Any] | None) -> int | None:
    metadata = metadata or {}
    raw = str(metadata.get("checkout_attempt_id") or "")
    return int(raw) if metadata.get("purpose") == PURPOSE and raw.isdigit() else None


def checkout_session_settle(*, session_id: str) -> CheckoutAttempt | None:
    """Fetch the session's current state from Stripe and record it: paid activates the
    agreement (once), expired closes the attempt. Returns the attempt (None: not ours)."""
    session = gateway.checkout_session_retrieve(session_id=session_id).to_dict()
    attempt_id = _attempt_id(session.get("metadata"))
    if attempt_id is None:
        return None
    if session.get("payment_status") == "paid":
        intent = gateway.payment_intent_retrieve(
            payment_intent_id=gateway.expandable_id(session.get("payment_intent"))
        ).to_dict()
        return checkout_attempt_paid(attempt_id=attempt_id, session=session, intent=intent)
    if session.get("status") == "expired":
        checkout_attempt_expired(attempt_id=attempt_id)
    return CheckoutAttempt.objects.get(pk=attempt_id)


@transaction.atomic
def checkout_attempt_paid(
    *, attempt_id: int, session: dict[str, Any], intent: dict[str, Any]
) -> CheckoutAttempt:
    """Record a paid session and activate its agreement. A duplicate changes nothing; a payment
    the agreement no longer needed is marked for refund."""
    agreement_id = CheckoutAttempt.objects.values_list("agreement_id", flat=True).get(pk=attempt_id)
    agreement = Agreement.objects.select_for_update(of=("self",)).get(pk=agreement_id)
    attempt = CheckoutAttempt.objects.select_for_update().get(pk=attempt_id)
    if attempt.status in (CheckoutAttempt.Status.PAID, CheckoutAttempt.Status.REFUND_DUE):
        return attempt
    paid = (int(session.get("amount_total") or 0), str(session.get("currency") or "").upper())
    if paid != (attempt.amount_minor, attempt.currency):
        raise ValueError(
            f"Checkout attempt {attempt.pk} was paid {paid}, not "
            f"{(attempt.amount_minor, attempt.currency)}."
        )
    attempt.stripe_session_id = session["id"]
    attempt.payment_intent_id = gateway.expandable_id(session.get("payment_intent"))
    attempt.charge_id = gateway.expandable_id(intent.get("latest_charge"))
    attempt.customer_id = gateway.expandable_id(intent.get("customer") or session.get("customer"))
    if intent.get("setup_future_usage") == "off_session":
        attempt.saved_payment_method_id = gateway.expandable_id(intent.get("payment_method"))
    attempt.completed_at = clock.now()
    already_paid = CheckoutAttempt.objects.filter(
        agreement=agreement, status=CheckoutAttempt.Status.PAID
    ).exists()
    if already_paid or agreement.status != Agreement.Status.AWAITING_PAYMENT:
        attempt.pay_unneeded()
        attempt.save()
        log.error(
            "agreement_paid_twice",
            agreement=agreement.pk,
            attempt=attempt.pk,
            charge=attempt.charge_id,
            detail="refund due",
        )
        return attempt
    attempt.pay()
    attempt.save()
    agreement_activate(
        agreement_id=agreement.pk,
        payment=UpfrontFeePayment(
            amount_minor=attempt.amount_minor,
            currency=attempt.currency,
            recoupable_advance=agreement.advance_recoupable,
            stripe_payment_intent_id=attempt.payment_intent_id,
            stripe_charge_id=attempt.charge_id,
            stripe_customer_id=attempt.customer_id,
            checkout_attempt_id=attempt.pk,
        ),
    )
    return attempt


def checkout_attempt_expired(*, attempt_id: int) -> None:
    with transaction.atomic():
        attempt = CheckoutAttempt.objects.select_for_update().get(pk=attempt_id)
        if attempt.status in (*_SUPERSEDABLE, CheckoutAttempt.Status.CREATED):
            attempt.expire()
            attempt.save()


def checkout_attempt_declined(*, attempt_id: int, message: str) -> None:
    """A card was declined: the session stays open (the licensee may try another card there)
    and the agreement keeps awaiting payment."""
    with transaction.atomic():
        attempt = CheckoutAttempt.objects.select_for_update().get(pk=attempt_id)
        if attempt.status in _SUPERSEDABLE:
            attempt.decline()
            attempt.failure_message = message
            attempt.save()


@stripe_event_handler("checkout.session.completed", "checkout.session.async_payment_succeeded")
def _session_completed(event: StripeEvent) -> None:
    session = event.data_object
    if not event.account and _attempt_id(session.get("metadata")) is not None:
        checkout_session_settle(session_id=session["id"])


@stripe_event_handler("checkout.session.expired")
def _session_expired(event: StripeEvent) -> None:
    attempt_id = _attempt_id(event.data_object.get("metadata"))
    if not event.account and attempt_id is not None:
        checkout_attempt_expired(attempt_id=attempt_id)


@stripe_event_handler("payment_intent.payment_failed")
def _payment_failed(event: StripeEvent) -> None:
    intent = event.data_object
    attempt_id = _attempt_id(intent.get("metadata"))
    if event.account or attempt_id is None:
        return
    error = intent.get("last_payment_error") or {}
    checkout_attempt_declined(
        attempt_id=attempt_id, message=str(error.get("message") or "The card was declined.")
    )
