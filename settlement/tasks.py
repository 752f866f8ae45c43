"""Celery tasks of settlement runs: thin wrappers taking ids and calling a service."""

from __future__ import annotations

import datetime as dt

from celery import Task, chord, shared_task
from django.db import OperationalError

from core import clock
from settlement.models import SettlementRun
from settlement.services import (
    SettlementError,
    pending_chunk_numbers,
    settlement_chunk_settle,
    settlement_run_create,
    settlement_run_fail,
    settlement_run_finalise,
    settlement_run_start,
)
from settlement.signals import settlement_run_completed

# --- settlement runs ---------------------------------------------------------------------

STALLED_AFTER = dt.timedelta(minutes=15)
"""A running run with no chunk finished for this long is re-queued by the beat job."""


@shared_task(acks_late=True, bind=True)
def settlement_run_dispatch(self: Task, run_id: int) -> int:
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
def settlement_chunk_task(self: Task, run_id: int, chunk_no: int) -> int:
    try:
        return settlement_chunk_settle(run_id=run_id, chunk_no=chunk_no)
    except OperationalError:
        raise
    except Exception as error:
        settlement_run_fail(run_id=run_id, error=f"chunk {chunk_no}: {error}")
        raise


@shared_task(acks_late=True)
def settlement_run_finalise_task(run_id: int) -> str:
    """Finalise the run and, once it is complete, announce it: payouts opens its invoices in
    the same step (the beat job `collections-open-and-retry` is only the catch-up)."""
    run = settlement_run_finalise(run_id=run_id)
    if run.status == SettlementRun.Status.COMPLETED:
        settlement_run_completed.send(sender=SettlementRun, run=run)
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
