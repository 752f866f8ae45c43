"""Paying rights holders: scheduling payouts from payable balances, sending them as Stripe
transfers exactly once, reversals and clawbacks (states and invariants in
``payouts.models``; postings in ``ledger.services``).

Exactly once: a payout's Stripe idempotency key is ``transfer:payout:<id>``, stored with the
row before the first call. The transfer call happens outside any transaction, after the row
is committed as ``sent``; whatever happens next (a crash, a timeout, a 429 or 500, a
redelivered task, a second click), asking again with the same key returns the same transfer.

Reservations: a holder has at most one open (scheduled or sent) payout per currency (a unique
index); scheduling takes a per-(holder) advisory lock, recovers any negative balance first
(``recovery``), and reserves the rest of the payable balance.
"""

from __future__ import annotations

import contextlib
import datetime as dt

import pghistory
import structlog
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.models import Sum

from accounts.models import AuditEvent, Organisation, User
from accounts.services import audit_event_record
from core import clock
from core.errors import DomainError
from core.money import UnknownCurrencyError, currency_exponent
from core.tasks import task_queue
from ledger.models import AccountCode, EntryKind, JournalEntry, JournalLeg, LedgerAccount
from ledger.selectors import holder_balances
from ledger.services import LegSpec, journal_post, ledger_account_for
from payments import gateway
from payments.connect import connected_account_for
from payouts.models import Payout, PayoutThreshold
from payouts.selectors import (
    holder_reserved_minor,
    payout_threshold_for,
    stripe_minimum_minor,
    transfer_blocker_for,
)
from settlement.models import SettlementRun

logger = structlog.get_logger(__name__)


_HOLDER_LOCK_NAMESPACE = 7_007


class PayoutError(ValidationError, DomainError):
    """A payout request the rules refuse; the message says why (see ``LedgerError`` for the
    two bases)."""

    message: str
    code: str

    def __init__(self, message: str, *, code: str = "payout") -> None:
        super().__init__(message, code=code)


def _max_attempts() -> int:
    return int(getattr(settings, "ROYALTIES_PAYOUT_MAX_ATTEMPTS", 8))


def _retry_delay(attempts: int) -> dt.timedelta:
    base = float(getattr(settings, "ROYALTIES_PAYOUT_RETRY_BASE_SECONDS", 60))
    return dt.timedelta(seconds=min(base * 2 ** max(attempts - 1, 0), 6 * 3600))


def holder_lock(holder_id: int) -> None:
    """Serialise every change to one holder's payable balance (scheduling, clawbacks)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", [_HOLDER_LOCK_NAMESPACE, holder_id])


# --- Reads ---------------------------------------------------------------------------------------


"""The ``action`` a person's change to a payout carries in its history (pghistory context)."""


# --- Writes --------------------------------------------------------------------------------------


def payout_threshold_set(
    *, holder: Organisation, currency: str, minimum_minor: int, actor: User | None = None
) -> PayoutThreshold:
    if minimum_minor < 0:
        raise PayoutError("A payout threshold cannot be negative.", code="threshold")
    try:
        currency_exponent(currency)
    except UnknownCurrencyError as error:
        raise PayoutError(str(error), code="currency") from None
    with pghistory.context(action="payout_threshold_set", actor_id=actor.pk if actor else None):
        row, _ = PayoutThreshold.objects.update_or_create(
            holder=holder, currency=currency.upper(), defaults={"minimum_minor": minimum_minor}
        )
    logger.info("payout_threshold_set", holder_id=holder.pk, minimum_minor=minimum_minor)
    audit_event_record(
        organisation_id=holder.pk,
        action=AuditEvent.Action.PAYOUT_THRESHOLD_SET,
        user=actor,
        detail={"currency": currency.upper(), "minimum_minor": minimum_minor},
    )
    return row


def _recover(holder: Organisation, currency: str, available: int, recoverable: int) -> int:
    """Recover a negative balance from payable before paying out; returns what was recovered."""
    amount = min(available, recoverable)
    if amount <= 0:
        return 0
    count = JournalEntry.objects.filter(
        kind=EntryKind.RECOVERY, reference=f"holder:{holder.pk}", currency=currency
    ).count()
    journal_post(
        kind=EntryKind.RECOVERY,
        currency=currency,
        effective_date=clock.today(),
        legs=[
            LegSpec(_account(AccountCode.HOLDER_PAYABLE, currency, holder), amount),
            LegSpec(_account(AccountCode.HOLDER_RECOVERABLE, currency, holder), -amount),
        ],
        memo="Recovered from earnings before paying out",
        reference=f"holder:{holder.pk}",
        idempotency_key=f"recovery:holder:{holder.pk}:{currency}:{count + 1}",
        late_if_closed=True,
    )
    return amount


def _account(code: str, currency: str, organisation: Organisation | None = None) -> LedgerAccount:
    return ledger_account_for(code=code, currency=currency, organisation=organisation)


def _next_payout_id() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT nextval(pg_get_serial_sequence(%s, 'id'))", [Payout._meta.db_table])
        return int(cursor.fetchone()[0])


def payout_schedule(
    *,
    holder: Organisation,
    currency: str,
    run: SettlementRun | None = None,
    source_transaction: str = "",
    on_demand: bool = False,
    requested_by: User | None = None,
) -> Payout | None:
    """Reserve the holder's payable balance in a new payout and queue it for sending.

    Returns None (the balance stays payable, and ``payout_position`` says why) when the
    holder cannot receive transfers yet, when a payout is already open, or when the balance
    is below Stripe's minimum or (unless ``on_demand``) the holder's threshold. An on-demand
    request that cannot be met raises ``PayoutError`` with the reason instead."""
    currency = currency.upper()
    with transaction.atomic():
        holder_lock(holder.pk)
        account = connected_account_for(organisation=holder)
        blocker = transfer_blocker_for(account)
        blocker_code = "not_payable"
        if (
            not blocker
            and Payout.objects.filter(
                holder=holder, currency=currency, status__in=Payout.OPEN_STATUSES
            ).exists()
        ):
            blocker = "A payout is already on its way."
            blocker_code = "open_payout"
        if (
            not blocker
            and run is not None
            and Payout.objects.filter(holder=holder, currency=currency, run=run).exists()
        ):
            return None
        if blocker:
            if on_demand:
                raise PayoutError(blocker, code=blocker_code)
            return None
        assert account is not None
        balances = holder_balances(organisation=holder, currency=currency)
        _recover(holder, currency, balances.payable_minor, balances.recoverable_minor)
        available = balances.payable_minor - balances.recoverable_minor
        minimum = stripe_minimum_minor(currency)
        if not on_demand:
            minimum = max(minimum, payout_threshold_for(holder=holder, currency=currency))
        if available < minimum:
            if on_demand:
                raise PayoutError(
                    f"Your payable balance ({available}) is below the minimum payout "
                    f"({minimum} minor units of {currency}).",
                    code="below_minimum",
                )
            return None
        payout_id = _next_payout_id()
        audit = (
            {"action": "payout_pay_now", "actor_id": requested_by.pk if requested_by else None}
            if on_demand
            else {}
        )
        with pghistory.context(**audit) if audit else contextlib.nullcontext():
            payout = Payout.objects.create(
                id=payout_id,
                holder=holder,
                run=run,
                currency=currency,
                amount_minor=available,
                idempotency_key=gateway.idempotency_key("transfer", "payout", payout_id),
                destination_account_id=account.stripe_account_id,
                transfer_group=f"settlement_run:{run.pk}" if run else f"payout:{payout_id}",
                source_transaction=source_transaction,
                requested_by=requested_by,
            )
        transaction.on_commit(lambda: _queue_send(payout.pk))
    logger.info("payout_scheduled", payout_id=payout.pk, amount_minor=payout.amount_minor)
    return payout


def _queue_send(payout_id: int, countdown: float | None = None) -> None:
    task_queue("payouts.tasks.payout_send_task", payout_id, countdown=countdown or None)


def payout_send(*, payout_id: int) -> Payout:
    """Send one payout as a Stripe transfer (idempotent: safe to call any number of times)."""
    with transaction.atomic():
        payout = Payout.objects.select_for_update().get(pk=payout_id)
        if payout.on_hold or payout.status not in Payout.OPEN_STATUSES:
            return payout
        if payout.next_attempt_at and payout.next_attempt_at > clock.now():
            return payout
        payout.mark_sent()
        payout.attempts += 1
        payout.sent_at = clock.now()
        payout.save(update_fields=["status", "attempts", "sent_at"])
    try:
        transfer = gateway.transfer_create(
            destination_account_id=payout.destination_account_id,
            amount_minor=payout.amount_minor,
            currency=payout.currency,
            idempotency_key=payout.idempotency_key,
            transfer_group=payout.transfer_group,
            source_transaction=payout.source_transaction or None,
            metadata={"payout_id": payout.pk, "holder_id": payout.holder_id},
            description=f"TrainRight royalties payout {payout.pk}",
        )
    except gateway.GatewayError as error:
        return _payout_attempt_failed(payout.pk, error)
    return payout_record_transfer(payout_id=payout.pk, transfer_id=transfer.id)


FUNDS_PENDING_RETRY = dt.timedelta(hours=1)
"""How often a payout waiting for pending funds at Stripe tries again."""


def _funds_pending_cover(payout: Payout) -> bool:
    """Whether the platform's pending balance would cover the payout once available (asked
    outside any transaction; a Stripe failure here counts as no)."""
    try:
        balance = gateway.balance_retrieve()
    except gateway.GatewayError:
        return False
    return balance.available_minor(payout.currency) + balance.pending_minor(payout.currency) >= (
        payout.amount_minor
    )


def _payout_attempt_failed(payout_id: int, error: gateway.GatewayError) -> Payout:
    waiting_for_funds = False
    if isinstance(error, gateway.InsufficientBalance):
        waiting_for_funds = _funds_pending_cover(Payout.objects.get(pk=payout_id))
    with transaction.atomic():
        payout = Payout.objects.select_for_update().get(pk=payout_id)
        if payout.status != Payout.Status.SENT:
            return payout
        reason = str(error)[:300] or type(error).__name__
        retryable = error.retryable or isinstance(error, gateway.InsufficientBalance)
        if isinstance(error, gateway.InsufficientBalance) and waiting_for_funds:
            # The platform has the money, still pending at Stripe (card funds take about two
            # days): wait for it without using up an attempt.
            payout.mark_retry()
            payout.attempts -= 1
            payout.failure_reason = f"Waiting for Stripe to make the funds available: {reason}"
            payout.next_attempt_at = clock.now() + FUNDS_PENDING_RETRY
            delay = FUNDS_PENDING_RETRY.total_seconds()
            transaction.on_commit(lambda: _queue_send(payout_id, countdown=delay))
        elif retryable and payout.attempts < _max_attempts():
            payout.mark_retry()
            payout.failure_reason = reason
            payout.next_attempt_at = clock.now() + _retry_delay(payout.attempts)
            delay = (payout.next_attempt_at - clock.now()).total_seconds()
            transaction.on_commit(lambda: _queue_send(payout_id, countdown=max(delay, 0.01)))
        else:
            payout.mark_failed()
            payout.failure_reason = reason
            payout.next_attempt_at = None
        payout.save(update_fields=["status", "attempts", "failure_reason", "next_attempt_at"])
    logger.warning(
        "payout_attempt_failed", payout_id=payout_id, reason=reason, status=payout.status
    )
    return payout


def payout_record_transfer(*, payout_id: int, transfer_id: str) -> Payout:
    """The transfer exists: post it and mark the payout paid (idempotent)."""
    with transaction.atomic():
        payout = Payout.objects.select_for_update().select_related("holder").get(pk=payout_id)
        if payout.status != Payout.Status.SENT:
            return payout
        entry = journal_post(
            kind=EntryKind.PAYOUT,
            currency=payout.currency,
            effective_date=clock.today(),
            legs=[
                LegSpec(
                    _account(AccountCode.HOLDER_PAYABLE, payout.currency, payout.holder),
                    payout.amount_minor,
                ),
                LegSpec(_account(AccountCode.PLATFORM_CASH, payout.currency), -payout.amount_minor),
            ],
            memo=f"Payout {payout.pk} to {payout.holder.name}",
            reference=f"payout:{payout.pk}",
            idempotency_key=f"payout:{payout.pk}",
            stripe_object_id=transfer_id,
            late_if_closed=True,
        )
        payout.mark_paid()
        payout.transfer_id = transfer_id
        payout.journal_entry = entry
        payout.paid_at = clock.now()
        payout.failure_reason = ""
        payout.next_attempt_at = None
        payout.save(
            update_fields=[
                "status",
                "transfer_id",
                "journal_entry",
                "paid_at",
                "failure_reason",
                "next_attempt_at",
            ]
        )
    logger.info("payout_paid", payout_id=payout.pk, transfer_id=transfer_id)
    return payout


def payout_retry(*, payout: Payout, actor: User) -> Payout:
    """Finance sends a failed payout again (same key: never a second transfer)."""
    with transaction.atomic():
        holder_lock(payout.holder_id)
        payout = Payout.objects.select_for_update().get(pk=payout.pk)
        if payout.status != Payout.Status.FAILED:
            raise PayoutError("Only a failed payout can be retried.", code="not_failed")
        if Payout.objects.filter(
            holder_id=payout.holder_id, currency=payout.currency, status__in=Payout.OPEN_STATUSES
        ).exists():
            raise PayoutError("Another payout to this holder is on its way.", code="open_payout")
        balances = holder_balances(organisation=payout.holder, currency=payout.currency)
        if balances.payable_minor - balances.recoverable_minor < payout.amount_minor:
            raise PayoutError("The holder's payable balance no longer covers it.", code="balance")
        account = connected_account_for(organisation=payout.holder)
        blocker = transfer_blocker_for(account)
        if blocker:
            raise PayoutError(blocker, code="not_payable")
        payout.mark_rescheduled()
        payout.attempts = 0
        payout.next_attempt_at = None
        with pghistory.context(action="payout_retry", actor_id=actor.pk):
            payout.save(update_fields=["status", "attempts", "next_attempt_at"])
        transaction.on_commit(lambda: _queue_send(payout.pk))
    logger.info("payout_retried", payout_id=payout.pk, actor_id=actor.pk)
    return payout


def payout_hold(*, payout: Payout, on_hold: bool, actor: User) -> Payout:
    """Finance holds a scheduled payout (it is not sent) or releases it."""
    with transaction.atomic():
        payout = Payout.objects.select_for_update().get(pk=payout.pk)
        if payout.status != Payout.Status.SCHEDULED:
            raise PayoutError("Only a scheduled payout can be held or released.", code="state")
        if payout.on_hold == on_hold:
            return payout
        payout.on_hold = on_hold
        action = "payout_hold" if on_hold else "payout_release"
        with pghistory.context(action=action, actor_id=actor.pk):
            payout.save(update_fields=["on_hold"])
        if not on_hold:
            transaction.on_commit(lambda: _queue_send(payout.pk))
    logger.info("payout_hold_changed", payout_id=payout.pk, on_hold=on_hold, actor_id=actor.pk)
    return payout


def payouts_resume_due(*, stale_after: dt.timedelta = dt.timedelta(minutes=5)) -> int:
    """Queue again the payouts a retry or a crashed worker left behind (beat)."""
    now = clock.now()
    due = (
        list(
            Payout.objects.filter(
                status=Payout.Status.SCHEDULED, on_hold=False, next_attempt_at__lte=now
            ).values_list("pk", flat=True)
        )
        + list(
            Payout.objects.filter(
                status=Payout.Status.SCHEDULED,
                next_attempt_at__isnull=True,
                on_hold=False,
                created_at__lte=now - stale_after,
            ).values_list("pk", flat=True)
        )
        + list(
            Payout.objects.filter(
                status=Payout.Status.SENT, sent_at__lte=now - stale_after
            ).values_list("pk", flat=True)
        )
    )
    for payout_id in due:
        _queue_send(payout_id)
    return len(due)


def payouts_schedule_payable(
    *, holder_ids: list[int] | None = None, currency: str | None = None
) -> int:
    """Schedule a payout for every holder with a payable balance (beat, account.updated)."""
    legs = JournalLeg.objects.filter(account__code=AccountCode.HOLDER_PAYABLE)
    if holder_ids is not None:
        legs = legs.filter(account__organisation_id__in=holder_ids)
    if currency:
        legs = legs.filter(account__currency=currency)
    rows = (
        legs.values("account__organisation_id", "account__currency")
        .annotate(total=Sum("amount_minor"))
        .filter(total__lt=0)
    )
    scheduled = 0
    for row in rows:
        holder = Organisation.objects.get(pk=row["account__organisation_id"])
        if payout_schedule(holder=holder, currency=row["account__currency"]) is not None:
            scheduled += 1
    return scheduled


# --- Reversals and clawbacks ----------------------------------------------------------------------


def payout_reversal_record(
    *, transfer_id: str, reversal_id: str, amount_minor: int
) -> Payout | None:
    """A transfer reversal (ours or Stripe's): the amount is payable to the holder again.
    Idempotent per reversal id."""
    with transaction.atomic():
        payout = (
            Payout.objects.select_for_update()
            .select_related("holder")
            .filter(transfer_id=transfer_id)
            .first()
        )
        if payout is None:
            return None
        key = f"stripe:{reversal_id}"
        if JournalEntry.objects.filter(idempotency_key=key).exists():
            return payout
        journal_post(
            kind=EntryKind.PAYOUT_REVERSAL,
            currency=payout.currency,
            effective_date=clock.today(),
            legs=[
                LegSpec(_account(AccountCode.PLATFORM_CASH, payout.currency), amount_minor),
                LegSpec(
                    _account(AccountCode.HOLDER_PAYABLE, payout.currency, payout.holder),
                    -amount_minor,
                ),
            ],
            memo=f"Reversal of payout {payout.pk}",
            reference=f"payout:{payout.pk}",
            idempotency_key=key,
            stripe_object_id=reversal_id,
            late_if_closed=True,
        )
        payout.reversed_minor += amount_minor
        if payout.reversed_minor >= payout.amount_minor and payout.status == Payout.Status.PAID:
            payout.mark_reversed()
        payout.save(update_fields=["reversed_minor", "status"])
    logger.info("payout_reversed", payout_id=payout.pk, amount_minor=amount_minor)
    return payout


def holder_clawback(*, holder: Organisation, currency: str, reason_key: str) -> int:
    """Take back a holder's recoverable balance by reversing its latest transfers where the
    money is still in its connected account; what cannot be reversed stays recoverable from
    future earnings. Returns the amount reversed."""
    balances = holder_balances(organisation=holder, currency=currency)
    owed = balances.recoverable_minor - max(balances.payable_minor, 0)
    reversed_total = 0
    if owed <= 0:
        return 0
    for payout in Payout.objects.filter(
        holder=holder, currency=currency, status=Payout.Status.PAID
    ).order_by("-paid_at"):
        amount = min(owed - reversed_total, payout.amount_minor - payout.reversed_minor)
        if amount <= 0:
            continue
        try:
            reversal = gateway.transfer_reversal_create(
                transfer_id=str(payout.transfer_id),
                amount_minor=amount,
                idempotency_key=gateway.idempotency_key("transfer_reversal", reason_key, payout.pk),
                metadata={"payout_id": payout.pk, "reason": reason_key},
            )
        except gateway.InvalidRequest as error:
            logger.info("clawback_not_reversible", payout_id=payout.pk, reason=str(error))
            continue
        payout_reversal_record(
            transfer_id=str(payout.transfer_id), reversal_id=reversal.id, amount_minor=amount
        )
        reversed_total += amount
        if reversed_total >= owed:
            break
    if reversed_total:
        with transaction.atomic():
            holder_lock(holder.pk)
            balances = holder_balances(organisation=holder, currency=currency)
            free = balances.payable_minor - holder_reserved_minor(holder.pk, currency)
            _recover(holder, currency, free, balances.recoverable_minor)
    return reversed_total
