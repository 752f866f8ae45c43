"""Reads of finance (no writes): reconciliation runs and exceptions, periods, audit trails."""

from __future__ import annotations

import calendar
import datetime as dt
from typing import Any

from django.apps import apps
from django.db.models import Q, QuerySet

from finance.models import (
    ExceptionStatus,
    ReconciliationException,
    ReconciliationRun,
)
from ledger.models import (
    AccountingPeriod,
)


def period_window(period: AccountingPeriod) -> tuple[dt.datetime, dt.datetime]:
    """The period's calendar month as [start, end) in UTC."""
    start = dt.datetime(period.year, period.month, 1, tzinfo=dt.UTC)
    last_day = calendar.monthrange(period.year, period.month)[1]
    return start, start + dt.timedelta(days=last_day)


def reconciliation_run_list() -> QuerySet[ReconciliationRun]:
    return ReconciliationRun.objects.select_related("created_by").order_by("-created_at", "-id")


def reconciliation_exception_list(
    *, status: str | None = None, unresolved: bool = False
) -> QuerySet[ReconciliationException]:
    exceptions = ReconciliationException.objects.select_related(
        "assignee", "resolved_by", "entry", "balance_transaction", "adjusting_entry"
    )
    if status:
        exceptions = exceptions.filter(status=status)
    if unresolved:
        exceptions = exceptions.exclude(status=ExceptionStatus.RESOLVED)
    return exceptions.order_by("status", "-occurred_on", "id")


def unresolved_exceptions_for_period(
    *, period: AccountingPeriod
) -> QuerySet[ReconciliationException]:
    start, end = period_window(period)
    return ReconciliationException.objects.filter(
        ~Q(status=ExceptionStatus.RESOLVED),
        occurred_on__gte=start.date(),
        occurred_on__lt=end.date(),
    )


def completed_run_covering(*, period: AccountingPeriod) -> ReconciliationRun | None:
    """The latest completed run whose window covers the whole period."""
    start, end = period_window(period)
    return (
        ReconciliationRun.objects.filter(
            status=ReconciliationRun.Status.COMPLETED, window_start__lte=start, window_end__gte=end
        )
        .order_by("-completed_at", "-id")
        .first()
    )


def exception_history(*, exception: ReconciliationException) -> list[Any]:
    """The exception's audit trail (pghistory events with their context), oldest first."""
    events = apps.get_model("finance", "ReconciliationExceptionEvent")
    return list(
        events.objects.filter(pgh_obj=exception)
        .select_related("pgh_context")
        .order_by("pgh_created_at", "pgh_id")
    )


def accounting_period_list() -> QuerySet[AccountingPeriod]:
    return AccountingPeriod.objects.order_by("-year", "-month")


def period_history(*, period: AccountingPeriod) -> list[object]:
    events = apps.get_model("ledger", "AccountingPeriodEvent")
    return list(
        events.objects.filter(pgh_obj=period)
        .select_related("pgh_context")
        .order_by("pgh_created_at", "pgh_id")
    )
