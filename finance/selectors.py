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
    JournalEntry,
)
from payments.events import MALFORMED_PREFIX
from payments.models import StripeEvent, StripeRefund
from payouts.models import Collection, Payout
from settlement.models import SettlementRun

REFUND_SETTLED_STATUSES = ("succeeded", "failed", "canceled")
"""Stripe refund statuses after which nothing more moves (anything else is still in flight)."""


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


# --- Money still in flight for a period (the period-close checks) ---------------------------


def collections_in_flight(*, period: AccountingPeriod) -> QuerySet[Collection]:
    """Collections whose off-session charge is under way at Stripe (a PaymentIntent sent,
    the collection not yet paid nor declined). An unpaid invoice is not money in flight: it
    stays a receivable, and its payment, whenever it comes, is a late receipt."""
    return (
        Collection.objects.filter(status=Collection.Status.DUE)
        .exclude(payment_intent_id="")
        .order_by("id")
    )


def payouts_in_flight(*, period: AccountingPeriod) -> QuerySet[Payout]:
    """Payouts created by the end of the period whose transfer is not confirmed yet
    (scheduled or sent)."""
    _, end = period_window(period)
    return Payout.objects.filter(status__in=Payout.OPEN_STATUSES, created_at__lt=end).order_by("id")


def refunds_in_flight(*, period: AccountingPeriod) -> QuerySet[StripeRefund]:
    """Refunds asked for in the period that Stripe has not yet settled (pending or needing
    action): their posting is still to come."""
    start, end = period_window(period)
    return (
        StripeRefund.objects.filter(created_at__gte=start, created_at__lt=end)
        .exclude(status__in=REFUND_SETTLED_STATUSES)
        .order_by("id")
    )


def stripe_events_unprocessed(*, period: AccountingPeriod) -> QuerySet[StripeEvent]:
    """Stripe events created in the period whose handlers have not (yet) succeeded: received
    and waiting for their task, or failed and waiting for a retry. Malformed deliveries are
    left out (there is no event to process: they stay failed as evidence)."""
    start, end = period_window(period)
    return (
        StripeEvent.objects.filter(
            stripe_created__gte=start,
            stripe_created__lt=end,
            status__in=[StripeEvent.Status.RECEIVED, StripeEvent.Status.FAILED],
        )
        .exclude(stripe_event_id__startswith=MALFORMED_PREFIX)
        .order_by("stripe_created", "id")
    )


def settlement_runs_for_period(*, period: AccountingPeriod) -> QuerySet[SettlementRun]:
    start, _ = period_window(period)
    return SettlementRun.objects.filter(period_start=start.date()).order_by("id")


# --- Late receipts ---------------------------------------------------------------------------


def late_receipts_for_period(*, period: AccountingPeriod) -> QuerySet[JournalEntry]:
    """Entries that belong to the period but were posted in a later one because it was
    closed when their money arrived (``JournalEntry.intended_date`` in the period)."""
    start, end = period_window(period)
    return JournalEntry.objects.filter(
        intended_date__gte=start.date(), intended_date__lt=end.date()
    ).order_by("effective_date", "id")


def late_receipts_posted_in(*, period: AccountingPeriod) -> QuerySet[JournalEntry]:
    """Entries dated in the period that belong to an earlier, closed one (late receipts)."""
    start, end = period_window(period)
    return JournalEntry.objects.filter(
        effective_date__gte=start.date(),
        effective_date__lt=end.date(),
        intended_date__isnull=False,
    ).order_by("effective_date", "id")
