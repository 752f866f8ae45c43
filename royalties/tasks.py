"""Celery tasks of the royalties engine: thin wrappers taking ids and calling a service."""

from __future__ import annotations

import datetime as dt

from celery import chord, shared_task
from django.db import OperationalError

from accounts.models import Organisation
from core import clock
from payments.gateway import GatewayError
from royalties import collections, payouts, upfront_fees
from royalties.models.settlement import SettlementRun
from royalties.settlement import (
    SettlementError,
    pending_chunk_numbers,
    settlement_chunk_settle,
    settlement_run_create,
    settlement_run_fail,
    settlement_run_finalise,
    settlement_run_start,
)

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


@shared_task(acks_late=True)
def payouts_resume_due_task() -> int:
    """Payouts a lost task or a retry left behind, and recent collections' missing payouts."""
    for collection_id in collections.collections_recently_paid():
        collection_payouts_schedule_task.delay(collection_id)
    return payouts.payouts_resume_due()


@shared_task(acks_late=True)
def payouts_schedule_payable_task(holder_ids: list[int] | None = None) -> int:
    return payouts.payouts_schedule_payable(holder_ids=holder_ids)


@shared_task(acks_late=True, autoretry_for=(OperationalError,), retry_backoff=True, max_retries=5)
def holder_clawback_task(holder_id: int, currency: str, reason_key: str) -> int:
    return payouts.holder_clawback(
        holder=Organisation.objects.get(pk=holder_id), currency=currency, reason_key=reason_key
    )


# --- Reconciliation and finance exports ---------------------------------------------------------
@shared_task(acks_late=True, autoretry_for=(OperationalError,), retry_backoff=True, max_retries=5)
def stripe_balance_transactions_import_task(days: int = 3) -> int:
    """Daily (beat): import the last days of Stripe balance transactions, idempotently."""
    from royalties.reconciliation import stripe_balance_transactions_import_recent

    return stripe_balance_transactions_import_recent(days=days)


@shared_task(acks_late=True, autoretry_for=(OperationalError,), retry_backoff=True, max_retries=5)
def reconciliation_run_task(run_id: int) -> str:
    from royalties.reconciliation import reconciliation_run_execute

    return reconciliation_run_execute(run_id=run_id).status


@shared_task(acks_late=True)
def finance_export_build_task(export_id: int) -> str:
    from royalties.exports import finance_export_build

    return finance_export_build(export_id=export_id).status


# --- settlement runs ---------------------------------------------------------------------

STALLED_AFTER = dt.timedelta(minutes=15)
"""A running run with no chunk finished for this long is re-queued by the beat job."""


@shared_task(acks_late=True, bind=True)
def settlement_run_dispatch(self, run_id: int) -> int:
    """Queue a chord of the run's unfinished chunks, then its finalisation, on the queue this
    task came from; returns how many chunks were queued. Queuing a chunk twice is harmless
    (the second finds it done)."""
    run = SettlementRun.objects.get(pk=run_id)
    if run.status != SettlementRun.Status.RUNNING:
        return 0
    queue = (self.request.delivery_info or {}).get("routing_key") or None
    finalise = settlement_run_finalise_task.si(run_id).set(queue=queue)
    pending = pending_chunk_numbers(run=run)
    if not pending:
        finalise.delay()
        return 0
    chord(settlement_chunk_task.s(run_id, number).set(queue=queue) for number in pending)(finalise)
    return len(pending)


@shared_task(
    acks_late=True,
    bind=True,
    autoretry_for=(OperationalError,),
    retry_backoff=True,
    max_retries=5,
)
def settlement_chunk_task(self, run_id: int, chunk_no: int) -> int:
    try:
        return settlement_chunk_settle(run_id=run_id, chunk_no=chunk_no)
    except OperationalError:
        raise
    except Exception as error:
        settlement_run_fail(run_id=run_id, error=f"chunk {chunk_no}: {error}")
        raise


@shared_task(acks_late=True)
def settlement_run_finalise_task(run_id: int) -> str:
    """Finalise the run and, once it is complete, open its invoices in the same step (the
    beat job `collections-open-and-retry` is only the catch-up)."""
    run = settlement_run_finalise(run_id=run_id)
    if run.status == SettlementRun.Status.COMPLETED:
        collections.collections_open_for_run(run=run)
    return run.status


@shared_task(acks_late=True)
def settlement_runs_tick() -> str:
    """Beat job: once a month has ended, create and start its run; re-queue stalled runs."""
    today = clock.today()
    last_month = (today.replace(day=1) - dt.timedelta(days=1)).replace(day=1)
    run = SettlementRun.objects.filter(period_start=last_month).first()
    if run is None:
        try:
            run = settlement_run_create(period_start=last_month, today=today)
            settlement_run_start(run=run)
        except SettlementError as error:
            return str(error)
    stalled = SettlementRun.objects.filter(
        status=SettlementRun.Status.RUNNING, started_at__lt=clock.now() - STALLED_AFTER
    ).exclude(chunks__done_at__gt=clock.now() - STALLED_AFTER)
    for stalled_run in stalled.distinct():
        settlement_run_dispatch.delay(stalled_run.pk)
    return "ok"
