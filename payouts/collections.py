"""Collecting from licensees what a settlement run says they owe, and "pay when paid": the
holders' shares become payable only when Stripe confirms the licensee's payment (postings in
``ledger.services``; states in ``payouts.models``).

A collection is charged off-session with the card the licensee saved at checkout where it
agreed to that, otherwise it gets a Checkout Session to pay from its dashboard (and reminders
while unpaid). A declined charge is retried on ``COLLECTION_RETRY_SCHEDULE``, then the
collection is overdue for finance. Only the webhook (``payment_intent.succeeded`` or
``checkout.session.completed``) records the payment.

A collection is paid once. Before an off-session retry, the collection's open Checkout
Session is expired (and the retry skipped if the licensee paid there); Checkout is not offered
while an off-session payment is under way. A payment that still reaches a paid collection is a
``DuplicatePayment``: posted as the licensee's credit, refunded in full automatically, and shown
to the licensee and to finance.

Refunds and lost disputes of a collected payment go back through the same allocation: each
holder's share comes off its payable balance, and what was already paid out becomes
recoverable (taken back by a transfer reversal where the money is still in the holder's
connected account, else from its future earnings).
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable

import structlog
from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.db.models import Sum

from accounts.models import Membership, Organisation
from core import clock
from core.errors import DomainError
from core.money import apportion, money_format
from core.tasks import task_queue
from ledger.models import AccountCode, EntryKind, JournalEntry, LedgerAccount
from ledger.selectors import holder_balances
from ledger.services import LegSpec, journal_post, ledger_account_for
from payments import gateway
from payments.charges import off_session_payment_method_for, stripe_payment_sync
from payments.models import StripePayment
from payouts.models import Collection, DuplicatePayment, Payout
from payouts.selectors import (
    collection_holder_shares,
    collection_settlements,
    holder_reserved_minor,
)
from payouts.services import holder_lock, payout_schedule
from settlement.models import SettlementAgreement, SettlementRun, StatementLine

logger = structlog.get_logger(__name__)

COLLECTION_RETRY_SCHEDULE = (
    dt.timedelta(days=1),
    dt.timedelta(days=3),
    dt.timedelta(days=7),
)
"""Waits before each retry of a declined off-session charge; then the collection is overdue."""

REMINDER_INTERVAL = dt.timedelta(days=3)


class CollectionError(DomainError):
    """An invoice cannot be changed as asked; the message says why."""

    code = "collection_error"


# --- Reads ---------------------------------------------------------------------------------------


# --- Opening and charging ------------------------------------------------------------------------


def collections_open_for_run(*, run: SettlementRun) -> list[Collection]:
    """One collection per licensee and currency the run billed (idempotent), each queued
    for charging."""
    totals = (
        SettlementAgreement.objects.filter(run=run, journal_entry__isnull=False)
        .values("agreement__licensee_id", "currency")
        .annotate(total=Sum("invoiced_minor"))
        .filter(total__gt=0)
    )
    opened: list[Collection] = []
    with transaction.atomic():
        for row in totals:
            collection, created = Collection.objects.get_or_create(
                licensee_id=row["agreement__licensee_id"],
                run=run,
                currency=row["currency"],
                defaults={"amount_due_minor": row["total"]},
            )
            if created:
                opened.append(collection)
        ids = [collection.pk for collection in opened]
        transaction.on_commit(lambda: _queue_charges(ids))
    logger.info("collections_opened", run_id=run.pk, count=len(opened))
    return opened


def _queue_charges(collection_ids: Iterable[int]) -> None:
    for collection_id in collection_ids:
        task_queue("payouts.tasks.collection_charge_task", collection_id)


def collection_charge(*, collection_id: int, base_url: str = "") -> Collection:
    """Charge the saved card off-session, or open a Checkout Session for the licensee to pay.
    Idempotent per attempt (the Stripe key names the attempt)."""
    with transaction.atomic():
        collection = Collection.objects.select_for_update().get(pk=collection_id)
        if collection.status not in (Collection.Status.DUE, Collection.Status.FAILED):
            return collection
        if collection.next_attempt_at and collection.next_attempt_at > clock.now():
            return collection
        saved = off_session_payment_method_for(organisation=collection.licensee)
        if saved is None:
            attempt = 0
        elif collection.status == Collection.Status.DUE and collection.attempts > 0:
            # An attempt is already under way (or succeeded, and its webhook will post it):
            # send the same attempt again, under the same key, so Stripe answers with the
            # same PaymentIntent instead of charging a second time.
            attempt = collection.attempts
        else:
            # Reserve the attempt before calling Stripe, so a concurrent or retried caller
            # derives the same idempotency key.
            attempt = collection.attempts + 1
            collection.attempts = attempt
            collection.save(update_fields=["attempts"])
    if saved is None:
        return _collection_checkout_open(collection, base_url=base_url)
    if collection.checkout_session_id and _checkout_close(collection) == "paid":
        return Collection.objects.get(pk=collection_id)
    customer_id, payment_method_id = saved
    try:
        intent = gateway.payment_intent_create_off_session(
            amount_minor=collection.amount_due_minor,
            currency=collection.currency,
            customer_id=customer_id,
            payment_method_id=payment_method_id,
            transfer_group=collection.transfer_group,
            metadata=_metadata(collection),
            idempotency_key=gateway.idempotency_key(
                "payment_intent", "collection", collection.pk, attempt
            ),
            description=f"TrainRight usage royalties, {collection.run}",
        )
    except gateway.CardDeclined as error:
        return _collection_declined(collection.pk, attempt=attempt, reason=str(error))
    with transaction.atomic():
        collection = Collection.objects.select_for_update().get(pk=collection_id)
        collection.attempts = attempt
        collection.payment_intent_id = intent.id
        collection.save(update_fields=["attempts", "payment_intent_id"])
    return collection


def _metadata(collection: Collection) -> dict[str, str | int]:
    return {"collection_id": collection.pk, "organisation_id": collection.licensee_id}


def _collection_declined(collection_id: int, *, attempt: int, reason: str) -> Collection:
    with transaction.atomic():
        collection = Collection.objects.select_for_update().get(pk=collection_id)
        collection.attempts = attempt
        collection.failure_reason = reason[:300]
        if attempt > len(COLLECTION_RETRY_SCHEDULE):
            collection.mark_overdue()
            collection.next_attempt_at = None
        else:
            collection.mark_failed()
            collection.next_attempt_at = clock.now() + COLLECTION_RETRY_SCHEDULE[attempt - 1]
        collection.save(update_fields=["status", "attempts", "failure_reason", "next_attempt_at"])
    logger.warning("collection_declined", collection_id=collection_id, status=collection.status)
    return collection


def _checkout_close(collection: Collection) -> str:
    """Expire the collection's Checkout Session before it is charged off-session, so the
    licensee cannot pay there too. "paid" when the licensee already paid there (the payment
    is recorded now; its webhook changes nothing), else "closed"."""
    session_id = collection.checkout_session_id
    session = gateway.checkout_session_retrieve(session_id=session_id)
    if session.status == "open":
        try:
            session = gateway.checkout_session_expire(
                session_id=session_id,
                idempotency_key=gateway.idempotency_key(
                    "checkout_expire", "collection", session_id
                ),
            )
        except gateway.GatewayError:
            # Stripe refuses to expire a session that completed meanwhile: look again.
            session = gateway.checkout_session_retrieve(session_id=session_id)
    if session.status == "complete" and session.payment_status == "paid":
        intent_id = gateway.expandable_id(session.payment_intent)
        intent = gateway.payment_intent_retrieve(payment_intent_id=intent_id) if intent_id else None
        charge_id = gateway.expandable_id(intent.latest_charge) if intent is not None else ""
        if charge_id:
            collection_record_payment(collection_id=collection.pk, charge_id=charge_id)
        return "paid"
    if session.status == "open":
        raise CollectionError("The invoice's Checkout page could not be closed; retry later.")
    Collection.objects.filter(pk=collection.pk, checkout_session_id=session_id).update(
        checkout_session_id="", checkout_url=""
    )
    logger.info("collection_checkout_expired", collection_id=collection.pk, session=session_id)
    return "closed"


def _payment_under_way(collection: Collection) -> bool:
    """An off-session PaymentIntent of this collection is succeeding or has succeeded."""
    if not collection.payment_intent_id:
        return False
    intent = gateway.payment_intent_retrieve(payment_intent_id=collection.payment_intent_id)
    return intent.status in ("processing", "succeeded", "requires_capture")


def _collection_checkout_open(collection: Collection, *, base_url: str) -> Collection:
    if collection.checkout_session_id:
        return collection
    if _payment_under_way(collection):
        raise CollectionError(
            "A payment for this invoice is already under way; it shows as paid once Stripe "
            "confirms it.",
            code="payment_under_way",
        )
    root = (base_url or getattr(settings, "SITE_URL", "http://127.0.0.1:8000")).rstrip("/")
    session = gateway.checkout_session_create(
        checkout=gateway.CheckoutRequest(
            currency=collection.currency,
            line_items=[
                gateway.LineItem(
                    name=f"TrainRight usage royalties, {collection.run}",
                    unit_amount_minor=collection.amount_due_minor,
                )
            ],
            success_url=f"{root}/royalties/invoices/{collection.pk}/?paid=1",
            cancel_url=f"{root}/royalties/invoices/{collection.pk}/",
            transfer_group=collection.transfer_group,
            metadata=_metadata(collection),
            client_reference_id=f"collection:{collection.pk}",
        ),
        idempotency_key=gateway.idempotency_key(
            "checkout", "collection", collection.pk, collection.attempts
        ),
    )
    with transaction.atomic():
        collection = Collection.objects.select_for_update().get(pk=collection.pk)
        collection.checkout_session_id = session.id
        collection.checkout_url = session.url or ""
        collection.save(update_fields=["checkout_session_id", "checkout_url"])
    return collection


def collection_checkout_for(*, collection: Collection, base_url: str = "") -> Collection:
    """The Checkout Session the licensee pays an unpaid collection with (opened once, then
    the same one); ``CollectionError`` when it is already paid."""
    if collection.status == Collection.Status.PAID:
        raise CollectionError("This invoice is already paid.")
    return _collection_checkout_open(collection, base_url=base_url)


def collections_remind_unpaid(*, now: dt.datetime | None = None) -> int:
    """Email the licensee's members about collections still unpaid (beat)."""
    now = now or clock.now()
    due = Collection.objects.filter(
        status__in=[Collection.Status.DUE, Collection.Status.FAILED, Collection.Status.OVERDUE]
    ).exclude(last_reminded_at__gt=now - REMINDER_INTERVAL)
    sent = 0
    for collection in due.select_related("licensee"):
        emails = list(
            Membership.objects.filter(organisation=collection.licensee)
            .exclude(user__email="")
            .values_list("user__email", flat=True)
        )
        if not emails:
            continue
        amount = money_format(collection.amount_due_minor, collection.currency)
        send_mail(
            subject=f"TrainRight: {amount} due",
            message=(
                f"Your usage royalties for {collection.run} are unpaid "
                f"({collection.get_status_display()}). Pay from your dashboard"
                + (f": {collection.checkout_url}" if collection.checkout_url else ".")
            ),
            from_email=None,
            recipient_list=emails,
        )
        Collection.objects.filter(pk=collection.pk).update(
            last_reminded_at=now, reminders_sent=collection.reminders_sent + 1
        )
        sent += 1
    return sent


# --- Paid: pay when paid -------------------------------------------------------------------------


def collection_record_payment(*, collection_id: int, charge_id: str) -> Collection:
    """Stripe says the licensee paid: post the collection (cash less fee, the fee as the
    platform's expense, the receivable cleared, every holder's share from pending to
    payable), stamp the statement lines' collection date, and schedule the payouts. With
    ``STRIPE_FEES_PASSED_TO_CREATORS`` each holder's part of the fee stays off its payable
    balance and is credited to the platform's commission (``stripe_fees`` still holds the
    whole fee, as Stripe charged it, so reconciliation is unchanged).
    Idempotent: a duplicate webhook changes nothing."""
    payment = stripe_payment_sync(charge_id=charge_id)
    if payment.status != "succeeded":
        return Collection.objects.get(pk=collection_id)
    with transaction.atomic():
        collection = (
            Collection.objects.select_for_update().select_related("licensee").get(pk=collection_id)
        )
        if collection.status == Collection.Status.PAID:
            if collection.charge_id and collection.charge_id != charge_id:
                _duplicate_payment_record(collection, payment)
            return collection
        if payment.amount_minor != collection.amount_due_minor:
            raise CollectionError(
                f"Charge {charge_id} is {payment.amount_minor}, collection {collection.pk} "
                f"is {collection.amount_due_minor}."
            )
        shares = collection_holder_shares(collection=collection)
        currency = collection.currency
        fee = payment.fee_minor
        legs = payment_received_legs(
            licensee=collection.licensee,
            currency=currency,
            gross_minor=payment.amount_minor,
            fee_minor=fee,
            shares=shares,
        )
        today = clock.today()
        entry = journal_post(
            kind=EntryKind.COLLECTION,
            currency=currency,
            effective_date=today,
            legs=legs,
            memo=f"Collection {collection.pk} from {collection.licensee.name}",
            reference=f"collection:{collection.pk}",
            idempotency_key=f"stripe:{charge_id}",
            stripe_object_id=charge_id,
            late_if_closed=True,
        )
        StatementLine.objects.filter(
            agreement_id__in=collection_settlements(collection).values("agreement_id"),
            run_id=collection.run_id,
            collected_on__isnull=True,
        ).update(collected_on=entry.effective_date)
        collection.mark_paid()
        collection.charge_id = charge_id
        collection.stripe_fee_minor = fee
        collection.collected_at = clock.now()
        collection.journal_entry = entry
        collection.failure_reason = ""
        collection.next_attempt_at = None
        collection.save()
        transaction.on_commit(lambda: _queue_payouts(collection_id))
    logger.info("collection_paid", collection_id=collection.pk, charge_id=charge_id)
    return collection


def _duplicate_payment_record(collection: Collection, payment: StripePayment) -> DuplicatePayment:
    """A second payment of a paid collection (inside the caller's transaction): post it as
    the licensee's credit (cash less Stripe's fee, the fee as the platform's expense, the
    receivable credited) and queue its refund. Once per charge."""
    existing = DuplicatePayment.objects.filter(charge_id=payment.stripe_charge_id).first()
    if existing is not None:
        return existing
    currency = collection.currency
    entry = journal_post(
        kind=EntryKind.COLLECTION,
        currency=currency,
        effective_date=clock.today(),
        legs=[
            LegSpec(
                _account(AccountCode.PLATFORM_CASH, currency),
                payment.amount_minor - payment.fee_minor,
            ),
            LegSpec(_account(AccountCode.STRIPE_FEES, currency), payment.fee_minor),
            LegSpec(
                _account(AccountCode.LICENSEE_RECEIVABLE, currency, collection.licensee),
                -payment.amount_minor,
            ),
        ],
        memo=f"Collection {collection.pk} paid twice by {collection.licensee.name}: refunded",
        reference=f"collection:{collection.pk}:duplicate",
        idempotency_key=f"stripe:{payment.stripe_charge_id}",
        stripe_object_id=payment.stripe_charge_id,
        late_if_closed=True,
    )
    duplicate = DuplicatePayment.objects.create(
        collection=collection,
        charge_id=payment.stripe_charge_id,
        currency=currency,
        amount_minor=payment.amount_minor,
        fee_minor=payment.fee_minor,
        receipt_entry=entry,
    )
    transaction.on_commit(
        lambda: task_queue("payouts.tasks.duplicate_payment_refund_task", duplicate.pk)
    )
    logger.warning(
        "collection_paid_twice",
        collection_id=collection.pk,
        charge_id=payment.stripe_charge_id,
        amount_minor=payment.amount_minor,
    )
    return duplicate


def duplicate_payment_refund(*, duplicate_payment_id: int) -> DuplicatePayment:
    """Refund a duplicate payment in full (idempotent: Stripe's key names the duplicate, and
    the refund is posted once, by its own id, here or by its webhook)."""
    duplicate = DuplicatePayment.objects.get(pk=duplicate_payment_id)
    if duplicate.status == DuplicatePayment.Status.REFUNDED:
        return duplicate
    refund = gateway.refund_create(
        charge_id=duplicate.charge_id,
        idempotency_key=gateway.idempotency_key("refund", "duplicate_payment", duplicate.pk),
        reason="duplicate",
        metadata={
            "collection_id": duplicate.collection_id,
            "duplicate_payment_id": duplicate.pk,
        },
    )
    DuplicatePayment.objects.filter(pk=duplicate.pk, refund_id="").update(refund_id=refund.id)
    if refund.status == "succeeded":
        duplicate_payment_refunded(
            charge_id=duplicate.charge_id, refund_id=refund.id, amount_minor=int(refund.amount)
        )
    return DuplicatePayment.objects.get(pk=duplicate.pk)


def duplicate_payment_refunded(
    *, charge_id: str, refund_id: str, amount_minor: int
) -> JournalEntry | None:
    """Stripe refunded a duplicate payment: the cash goes back and the licensee's credit is
    cleared. None when the charge is not a duplicate payment. Idempotent per refund."""
    with transaction.atomic():
        duplicate = (
            DuplicatePayment.objects.select_for_update()
            .select_related("collection__licensee")
            .filter(charge_id=charge_id)
            .first()
        )
        if duplicate is None:
            return None
        if duplicate.refund_entry_id is not None:
            return duplicate.refund_entry
        currency = duplicate.currency
        entry = journal_post(
            kind=EntryKind.REFUND,
            currency=currency,
            effective_date=clock.today(),
            legs=[
                LegSpec(_account(AccountCode.PLATFORM_CASH, currency), -amount_minor),
                LegSpec(
                    _account(
                        AccountCode.LICENSEE_RECEIVABLE, currency, duplicate.collection.licensee
                    ),
                    amount_minor,
                ),
            ],
            memo=f"Refund of collection {duplicate.collection_id}'s second payment",
            reference=f"collection:{duplicate.collection_id}:duplicate",
            idempotency_key=f"stripe:{refund_id}",
            stripe_object_id=refund_id,
            late_if_closed=True,
        )
        duplicate.refund_id = refund_id
        duplicate.refund_entry = entry
        duplicate.status = DuplicatePayment.Status.REFUNDED
        duplicate.refunded_at = clock.now()
        duplicate.save(update_fields=["refund_id", "refund_entry", "status", "refunded_at"])
    logger.info("duplicate_payment_refunded", charge_id=charge_id, refund_id=refund_id)
    return entry


def duplicate_payments_unrefunded(
    *, older_than: dt.timedelta = dt.timedelta(minutes=5)
) -> list[int]:
    """Duplicate payments whose refund a lost task left behind (the beat sweep retries them)."""
    return list(
        DuplicatePayment.objects.filter(
            status=DuplicatePayment.Status.REFUNDING, created_at__lt=clock.now() - older_than
        ).values_list("pk", flat=True)
    )


def payment_received_legs(
    *,
    licensee: Organisation,
    currency: str,
    gross_minor: int,
    fee_minor: int,
    shares: dict[int, int],
) -> list[LegSpec]:
    """The legs of a licensee's payment that Stripe confirmed (a run's collection or an
    upfront fee): cash at Stripe less its fee, the fee as the platform's expense, the
    receivable cleared, and each holder's share (minor units, > 0) moved from pending to
    payable. With ``STRIPE_FEES_PASSED_TO_CREATORS`` each holder's part of the fee stays off
    its payable balance and is credited to the platform's commission (``stripe_fees`` still
    holds the whole fee, as Stripe charged it, so reconciliation is unchanged)."""
    legs = [
        LegSpec(_account(AccountCode.PLATFORM_CASH, currency), gross_minor - fee_minor),
        LegSpec(_account(AccountCode.STRIPE_FEES, currency), fee_minor),
        LegSpec(_account(AccountCode.LICENSEE_RECEIVABLE, currency, licensee), -gross_minor),
    ]
    fee_parts = _holder_fee_parts(gross_minor, shares, fee_minor)
    holders = Organisation.objects.in_bulk(list(shares))
    for holder_id, share in sorted(shares.items()):
        holder = holders[holder_id]
        part = fee_parts.get(holder_id, 0)
        legs.append(LegSpec(_account(AccountCode.HOLDER_PENDING, currency, holder), share))
        legs.append(
            LegSpec(_account(AccountCode.HOLDER_PAYABLE, currency, holder), -(share - part))
        )
    if sum(fee_parts.values()):
        legs.append(
            LegSpec(
                _account(AccountCode.PLATFORM_COMMISSION, currency),
                -sum(fee_parts.values()),
                memo="holders' share of the Stripe fee (STRIPE_FEES_PASSED_TO_CREATORS)",
            )
        )
    return [leg for leg in legs if leg.amount_minor]


def _holder_fee_parts(gross: int, shares: dict[int, int], fee: int) -> dict[int, int]:
    """Each holder's part of a payment's Stripe fee when the platform passes fees on
    (``STRIPE_FEES_PASSED_TO_CREATORS``), apportioned like clawbacks: commission (what the
    payment holds beyond the holders' shares) and holder shares in proportion. Empty when the
    fee is the platform's expense (the default)."""
    if not getattr(settings, "STRIPE_FEES_PASSED_TO_CREATORS", False) or fee <= 0:
        return {}
    parts = _apportion_to_commission_and_holders(
        fee, commission=gross - sum(shares.values()), shares=shares
    )
    return {
        holder_id: min(int(parts[holder_id]), share)
        for holder_id, share in shares.items()
        if share > 0 and parts.get(holder_id)
    }


def _queue_payouts(collection_id: int) -> None:
    task_queue("payouts.tasks.collection_payouts_schedule_task", collection_id)


def collection_payouts_schedule(*, collection_id: int) -> int:
    """Schedule the run's payout for every holder the collection paid that has none yet
    (idempotent; the beat sweep calls it again for recent collections, so a lost task only
    delays payouts). Returns how many were scheduled."""
    collection = Collection.objects.get(pk=collection_id)
    if collection.status != Collection.Status.PAID:
        return 0
    paid_holders = set(
        Payout.objects.filter(run_id=collection.run_id, currency=collection.currency).values_list(
            "holder_id", flat=True
        )
    )
    holder_ids = [
        holder_id
        for holder_id, share in collection_holder_shares(collection=collection).items()
        if share > 0 and holder_id not in paid_holders
    ]
    scheduled = 0
    for holder in Organisation.objects.filter(pk__in=holder_ids):
        payout = payout_schedule(
            holder=holder,
            currency=collection.currency,
            run=collection.run,
            source_transaction=collection.charge_id or "",
        )
        scheduled += payout is not None
    return scheduled


def collections_recently_paid(*, within: dt.timedelta = dt.timedelta(days=2)) -> list[int]:
    return list(
        Collection.objects.filter(
            status=Collection.Status.PAID, collected_at__gte=clock.now() - within
        ).values_list("pk", flat=True)
    )


def _account(code: str, currency: str, organisation: Organisation | None = None) -> LedgerAccount:
    return ledger_account_for(code=code, currency=currency, organisation=organisation)


def collection_for_payment_intent(*, metadata: dict[str, object]) -> Collection | None:
    raw = str(metadata.get("collection_id") or "")
    return Collection.objects.filter(pk=int(raw)).first() if raw.isdigit() else None


# --- Refunds and lost disputes -------------------------------------------------------------------


def _apportion_to_commission_and_holders(
    total: int, *, commission: int, shares: dict[int, int]
) -> dict[int | str, int]:
    """Split ``total`` in proportion to the commission and the holders' shares of a payment
    (``core.money.apportion``), ties to the holders in ascending id, then the commission. A
    negative commission or share (a credit larger than the earnings) weighs nothing. Nothing
    to weigh by (no commission, no positive share): all zero."""
    weights: dict[int | str, int] = {holder: max(shares[holder], 0) for holder in sorted(shares)}
    weights["commission"] = max(commission, 0)
    if not any(weights.values()):
        return dict.fromkeys(weights, 0)
    return apportion(amount_minor=total, weights=weights)


def collection_clawback(
    *,
    payment: StripePayment,
    amount_minor: int,
    kind: str,
    stripe_object_id: str,
    idempotency_key: str,
) -> JournalEntry | None:
    """Reverse ``amount_minor`` of a collected payment through the collection's allocation:
    commission and holder shares in proportion; a holder's share comes off its payable
    balance and, beyond it, becomes recoverable (a negative balance). For a refund the cash
    goes back to the licensee; for a lost dispute the dispute loss already posted moves to
    the commission and holders. Idempotent per Stripe object."""
    collection = (
        Collection.objects.select_related("licensee")
        .filter(charge_id=payment.stripe_charge_id)
        .first()
    )
    if collection is None or amount_minor <= 0:
        return None
    existing = JournalEntry.objects.filter(idempotency_key=idempotency_key).first()
    if existing is not None:
        return existing
    currency = collection.currency
    shares = collection_holder_shares(collection=collection)
    parts = _apportion_to_commission_and_holders(
        amount_minor, commission=collection.amount_due_minor - sum(shares.values()), shares=shares
    )
    source = AccountCode.PLATFORM_CASH if kind == EntryKind.REFUND else AccountCode.DISPUTE_LOSSES
    legs = [LegSpec(_account(source, currency), -amount_minor)]
    if parts["commission"]:
        legs.append(
            LegSpec(_account(AccountCode.PLATFORM_COMMISSION, currency), parts["commission"])
        )
    holders = Organisation.objects.in_bulk(list(shares))
    owing: list[int] = []
    with transaction.atomic():
        for holder_id in sorted(shares):
            part = parts[holder_id]
            if part <= 0:
                continue
            holder = holders[holder_id]
            holder_lock(holder_id)
            balances = holder_balances(organisation=holder, currency=currency)
            free = max(balances.payable_minor - holder_reserved_minor(holder_id, currency), 0)
            from_payable = min(part, free)
            if from_payable:
                legs.append(
                    LegSpec(
                        _account(AccountCode.HOLDER_PAYABLE, currency, holder),
                        from_payable,
                        memo="share of the clawback",
                    )
                )
            if part - from_payable:
                legs.append(
                    LegSpec(
                        _account(AccountCode.HOLDER_RECOVERABLE, currency, holder),
                        part - from_payable,
                        memo="already paid out: recoverable",
                    )
                )
                owing.append(holder_id)
        entry = journal_post(
            kind=kind,
            currency=currency,
            effective_date=clock.today(),
            legs=legs,
            memo=f"{kind.title()} of collection {collection.pk}",
            reference=f"collection:{collection.pk}",
            idempotency_key=idempotency_key,
            stripe_object_id=stripe_object_id,
            late_if_closed=True,
        )
        transaction.on_commit(lambda: _queue_clawbacks(owing, currency, idempotency_key))
    logger.info("collection_clawback", collection_id=collection.pk, amount_minor=amount_minor)
    return entry


def _queue_clawbacks(holder_ids: list[int], currency: str, reason_key: str) -> None:
    for holder_id in holder_ids:
        task_queue("payouts.tasks.holder_clawback_task", holder_id, currency, reason_key)


def collections_due_for_retry(*, now: dt.datetime | None = None) -> list[int]:
    now = now or clock.now()
    return list(
        Collection.objects.filter(
            status=Collection.Status.FAILED, next_attempt_at__lte=now
        ).values_list("pk", flat=True)
    )


def runs_without_collections() -> list[int]:
    billed = SettlementAgreement.objects.filter(
        run__status=SettlementRun.Status.COMPLETED, invoiced_minor__gt=0
    ).values_list("run_id", flat=True)
    opened = Collection.objects.values_list("run_id", flat=True)
    return sorted(set(billed) - set(opened))


def shares_by_holder(collections: Iterable[Collection]) -> dict[int, int]:
    totals: dict[int, int] = defaultdict(int)
    for collection in collections:
        for holder_id, share in collection_holder_shares(collection=collection).items():
            totals[holder_id] += share
    return dict(totals)
