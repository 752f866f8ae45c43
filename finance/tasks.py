"""Celery tasks of finance: thin wrappers taking ids and calling a service."""

from __future__ import annotations

from celery import shared_task
from django.db import OperationalError

from finance.exports import finance_export_build
from finance.reconciliation import (
    reconciliation_run_execute,
    stripe_balance_transactions_import_recent,
)


# --- Reconciliation and finance exports ---------------------------------------------------------
@shared_task(acks_late=True, autoretry_for=(OperationalError,), retry_backoff=True, max_retries=5)
def stripe_balance_transactions_import_task(days: int = 3) -> int:
    """Daily (beat): import the last days of Stripe balance transactions, idempotently."""
    return stripe_balance_transactions_import_recent(days=days)


@shared_task(acks_late=True, autoretry_for=(OperationalError,), retry_backoff=True, max_retries=5)
def reconciliation_run_task(run_id: int) -> str:
    return reconciliation_run_execute(run_id=run_id).status


@shared_task(acks_late=True)
def finance_export_build_task(export_id: int) -> str:
    return finance_export_build(export_id=export_id).status
