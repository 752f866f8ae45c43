"""Celery tasks of collections and payouts: thin wrappers taking ids and calling a service."""

from __future__ import annotations

from celery import shared_task
from django.db import OperationalError

from accounts.models import Organisation
from payments.gateway import GatewayError
from payouts import collections, upfront_fees
from payouts import services as payouts
from settlement.models import SettlementRun

# --- Upfront fees ---------------------------------------------------------------------------------
_FEE_RETRY = {
    "acks_late": True,
    "autoretry_for": (OperationalError, upfront_fees.UpfrontFeeError, GatewayError),
    "retry_backoff": True,
    "retry_backoff_max": 600,
    "max_retries": 8,
}


@shared_task(**_FEE_RETRY)
def upfront_fee_collect_task(agreement_id: int, charge_id: str) -> int | None:
    entry = upfront_fees.upfront_fee_collect(agreement_id=agreement_id, charge_id=charge_id)
    return entry.pk if entry else None


@shared_task(**_FEE_RETRY)
def upfront_fee_settle_task(agreement_id: int) -> int | None:
    entry = upfront_fees.upfront_fee_settle_paid(agreement_id=agreement_id)
    return entry.pk if entry else None


@shared_task(acks_late=True)
def upfront_fees_catch_up_task() -> int:
    """Beat: post and collect every paid fee a lost signal or an exhausted task left behind."""
    agreement_ids = upfront_fees.upfront_fees_uncollected()
    for agreement_id in agreement_ids:
        upfront_fee_settle_task.delay(agreement_id)
    return len(agreement_ids)


# --- Collections and payouts ----------------------------------------------------------------------
@shared_task(acks_late=True, autoretry_for=(OperationalError,), retry_backoff=True, max_retries=5)
def collection_charge_task(collection_id: int) -> str:
    return collections.collection_charge(collection_id=collection_id).status


@shared_task(acks_late=True)
def collections_open_due() -> int:
    """Open collections for completed runs that have none, and retry declined charges."""
    for run_id in collections.runs_without_collections():
        collections.collections_open_for_run(run=SettlementRun.objects.get(pk=run_id))
    due = collections.collections_due_for_retry()
    for collection_id in due:
        collection_charge_task.delay(collection_id)
    return len(due)


@shared_task(acks_late=True)
def collections_remind_task() -> int:
    return collections.collections_remind_unpaid()


@shared_task(acks_late=True, autoretry_for=(OperationalError,), retry_backoff=True, max_retries=5)
def payout_schedule_task(
    holder_id: int, currency: str, run_id: int | None = None, source_transaction: str = ""
) -> int | None:
    payout = payouts.payout_schedule(
        holder=Organisation.objects.get(pk=holder_id),
        currency=currency,
        run=SettlementRun.objects.get(pk=run_id) if run_id else None,
        source_transaction=source_transaction,
    )
    return payout.pk if payout else None


@shared_task(acks_late=True, autoretry_for=(OperationalError,), retry_backoff=True, max_retries=5)
def payout_send_task(payout_id: int) -> str:
    return payouts.payout_send(payout_id=payout_id).status


@shared_task(acks_late=True, autoretry_for=(OperationalError,), retry_backoff=True, max_retries=5)
def collection_payouts_schedule_task(collection_id: int) -> int:
    return collections.collection_payouts_schedule(collection_id=collection_id)


@shared_task(
    acks_late=True,
    autoretry_for=(OperationalError, GatewayError),
    retry_backoff=True,
    max_retries=8,
)
def duplicate_payment_refund_task(duplicate_payment_id: int) -> str:
    return collections.duplicate_payment_refund(duplicate_payment_id=duplicate_payment_id).status


@shared_task(acks_late=True)
def payouts_resume_due_task() -> int:
    """Payouts a lost task or a retry left behind, recent collections' missing payouts, and
    duplicate payments still to refund."""
    for collection_id in collections.collections_recently_paid():
        collection_payouts_schedule_task.delay(collection_id)
    for duplicate_payment_id in collections.duplicate_payments_unrefunded():
        duplicate_payment_refund_task.delay(duplicate_payment_id)
    return payouts.payouts_resume_due()


@shared_task(acks_late=True)
def payouts_schedule_payable_task(holder_ids: list[int] | None = None) -> int:
    return payouts.payouts_schedule_payable(holder_ids=holder_ids)


@shared_task(acks_late=True, autoretry_for=(OperationalError,), retry_backoff=True, max_retries=5)
def holder_clawback_task(holder_id: int, currency: str, reason_key: str) -> int:
    return payouts.holder_clawback(
        holder=Organisation.objects.get(pk=holder_id), currency=currency, reason_key=reason_key
    )
