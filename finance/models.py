"""Reconciliation of the ledger with Stripe, and finance exports.

``StripeBalanceTransaction`` is our imported copy of Stripe's balance transactions (the
platform's own; upserted by Stripe id, so importing twice changes nothing but a status that
moved from pending to available). A ``ReconciliationRun`` compares, per Stripe object (the
balance transaction's ``source``: ch_, tr_, trr_, re_, dp_, po_ …), what Stripe moved with what
the ledger's entries for that object posted to ``platform_cash`` and ``stripe_fees``; every
difference is a ``ReconciliationException`` worked through a queue (assign, comment, resolve).
A resolution that moves money posts an adjusting journal entry (never an edit); the exception
keeps a link to it. Exceptions are carried from run to run: one unresolved exception per
(Stripe object, kind), held by a partial unique index.

Not tenant data: these rows are the platform's own books, read and written only by the
platform organisation's finance staff (``finance.reconciliation.require_finance``).
"""

from __future__ import annotations

from datetime import datetime

import pghistory
from django.conf import settings
from django.db import models
from django.db.models import Q
from django_fsm import FSMField, transition

from accounts.models import User
from core.fields import ClockDateTimeField
from ledger.models import CURRENCY_CODE_REGEX, JournalEntry


class StripeBalanceTransaction(models.Model):
    """One Stripe balance transaction (``txn_``) of the platform account, as last imported."""

    stripe_id = models.CharField(max_length=255, unique=True)
    type = models.CharField(max_length=40, help_text="charge, refund, transfer, payout, …")
    # Minor units of `currency`, signed as Stripe signs them: money into the balance positive.
    amount_minor = models.BigIntegerField()
    # Minor units of `currency`, positive: what Stripe kept.
    fee_minor = models.BigIntegerField()
    # Minor units of `currency`, signed: amount - fee, the balance's change.
    net_minor = models.BigIntegerField()
    currency = models.CharField(max_length=3, help_text="ISO 4217, uppercase.")
    status = models.CharField(max_length=20, help_text="pending or available.")
    available_on = models.DateTimeField()
    source_id = models.CharField(
        max_length=255, blank=True, default="", help_text="The Stripe object it moved money for."
    )
    account_id = models.CharField(
        max_length=255, blank=True, default="", help_text="Connected account; empty: platform."
    )
    created = models.DateTimeField(help_text="When Stripe created it.")
    imported_at = ClockDateTimeField(auto_now=True)

    class Meta:
        db_table = "royalties_stripebalancetransaction"
        ordering = ["-created", "stripe_id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(currency__regex=CURRENCY_CODE_REGEX),
                name="stripe_balance_txn_currency_iso",
            ),
            models.CheckConstraint(
                condition=Q(net_minor=models.F("amount_minor") - models.F("fee_minor")),
                name="stripe_balance_txn_net_is_amount_less_fee",
            ),
        ]
        indexes = [
            models.Index(fields=["source_id"], name="stripe_btxn_source_idx"),
            models.Index(fields=["created"], name="stripe_btxn_created_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.stripe_id} {self.type} {self.net_minor} {self.currency}"


class ReconciliationRun(models.Model):
    """One comparison of the ledger with Stripe over a window (usually an accounting period)."""

    class Status(models.TextChoices):
        RUNNING = "running", "Running"
        COMPLETED = "completed", "Completed"
        FAILED = "failed", "Failed"

    window_start = models.DateTimeField()
    window_end = models.DateTimeField(help_text="Exclusive.")
    status = FSMField(max_length=10, choices=Status.choices, default=Status.RUNNING)
    imported_count = models.PositiveIntegerField(default=0)
    matched_count = models.PositiveIntegerField(default=0)
    exception_count = models.PositiveIntegerField(default=0)
    totals = models.JSONField(
        default=dict,
        blank=True,
        help_text="Per currency, in minor units: stripe_net, ledger_net, matched_net.",
    )
    error = models.TextField(blank=True, default="")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = ClockDateTimeField(auto_now_add=True)
    completed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "royalties_reconciliationrun"
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(window_end__gt=models.F("window_start")),
                name="reconciliation_run_window_order",
            )
        ]

    def __str__(self) -> str:
        return f"Reconciliation #{self.pk} {self.window_start:%Y-%m-%d} ({self.status})"

    # Transitions are called only from finance.reconciliation.
    @transition(field=status, source=Status.RUNNING, target=Status.COMPLETED)
    def complete(self, *, at: datetime) -> None:
        self.completed_at = at

    @transition(field=status, source=Status.RUNNING, target=Status.FAILED)
    def fail(self, *, error: str) -> None:
        self.error = error


class ExceptionKind(models.TextChoices):
    MISSING_IN_LEDGER = "missing_in_ledger", "In Stripe, not in the ledger"
    MISSING_IN_STRIPE = "missing_in_stripe", "In the ledger, not in Stripe"
    AMOUNT_MISMATCH = "amount_mismatch", "Amount mismatch"
    CURRENCY_MISMATCH = "currency_mismatch", "Currency mismatch"
    FEE_MISMATCH = "fee_mismatch", "Fee mismatch"
    TIMING = "timing", "Timing (pending at Stripe, or dated in another period)"
    DUPLICATE_PAYMENT = "duplicate_payment", "Duplicate payment (an invoice paid twice)"
    POSTING_FAILED = "posting_failed", "Posting failed (a Stripe event's handler raised: retry it)"


class ExceptionStatus(models.TextChoices):
    OPEN = "open", "Open"
    ASSIGNED = "assigned", "Assigned"
    RESOLVED = "resolved", "Resolved"


@pghistory.track(meta={"db_table": "royalties_reconciliationexceptionevent"})
class ReconciliationException(models.Model):
    """One difference between the ledger and Stripe for one Stripe object, or
    (``posting_failed``) a Stripe event whose handler failed, leaving its money unposted: its
    ``stripe_object_id`` is the event's id, it has no run, and it is retried rather than
    adjusted (``finance.reconciliation.reconciliation_exception_retry``)."""

    Kind = ExceptionKind
    Status = ExceptionStatus

    run = models.ForeignKey(
        ReconciliationRun,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="exceptions_found",
        help_text="The run that found it; empty for a failed posting (no run finds those).",
    )
    last_seen_run = models.ForeignKey(
        ReconciliationRun,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="exceptions_seen",
    )
    stripe_event = models.ForeignKey(
        "payments.StripeEvent",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        help_text="A failed posting's event: retrying runs its handlers again.",
    )
    kind = models.CharField(max_length=20, choices=ExceptionKind.choices)
    status = FSMField(max_length=10, choices=ExceptionStatus.choices, default=ExceptionStatus.OPEN)
    stripe_object_id = models.CharField(max_length=255)
    balance_transaction = models.ForeignKey(
        StripeBalanceTransaction,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    entry = models.ForeignKey(
        JournalEntry, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    occurred_on = models.DateField(help_text="Its accounting date: decides the period.")
    currency = models.CharField(max_length=3)
    # Minor units, signed debit-positive on platform_cash: what the ledger posted.
    expected_minor = models.BigIntegerField(default=0)
    # Minor units, signed like Stripe's net (fee for a fee mismatch): what Stripe moved.
    actual_minor = models.BigIntegerField(default=0)
    detail = models.CharField(max_length=300, blank=True, default="")
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    resolution_reason = models.TextField(blank=True, default="")
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    resolved_at = models.DateTimeField(null=True, blank=True)
    adjusting_entry = models.ForeignKey(
        JournalEntry, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = ClockDateTimeField(auto_now_add=True)

    class Meta:
        db_table = "royalties_reconciliationexception"
        ordering = ["status", "-occurred_on", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["stripe_object_id", "kind"],
                condition=~Q(status=ExceptionStatus.RESOLVED),
                name="reconciliation_exception_one_unresolved",
            ),
            models.CheckConstraint(
                condition=~Q(status=ExceptionStatus.RESOLVED)
                | (
                    Q(resolved_by__isnull=False, resolved_at__isnull=False)
                    & ~Q(resolution_reason="")
                ),
                name="reconciliation_exception_resolved_has_who_and_why",
            ),
            models.CheckConstraint(
                condition=~Q(status=ExceptionStatus.ASSIGNED) | Q(assignee__isnull=False),
                name="reconciliation_exception_assigned_has_assignee",
            ),
        ]
        indexes = [models.Index(fields=["status", "occurred_on"], name="recon_exc_status_date")]

    def __str__(self) -> str:
        return f"{self.kind} {self.stripe_object_id} ({self.status})"

    @transition(
        field=status, source=[ExceptionStatus.OPEN, ExceptionStatus.ASSIGNED], target="assigned"
    )
    def assign(self, *, to: User) -> None:
        self.assignee = to

    @transition(
        field=status, source=[ExceptionStatus.OPEN, ExceptionStatus.ASSIGNED], target="resolved"
    )
    def resolve(self, *, by: User, at: datetime, reason: str) -> None:
        self.resolved_by = by
        self.resolved_at = at
        self.resolution_reason = reason


class ReconciliationComment(models.Model):
    """A note on an exception; append-only (who and when are kept)."""

    exception = models.ForeignKey(
        ReconciliationException, on_delete=models.PROTECT, related_name="comments"
    )
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    body = models.TextField()
    created_at = ClockDateTimeField(auto_now_add=True)

    class Meta:
        db_table = "royalties_reconciliationcomment"
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"comment on exception {self.exception_id}"


class FinanceExport(models.Model):
    """A long export built by a Celery task into a file, with progress."""

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        COMPLETED = "completed", "Completed"
        FAILED = "failed", "Failed"

    kind = models.CharField(max_length=40, help_text="A report name, journal or statements.")
    file_format = models.CharField(max_length=10, help_text="csv, xlsx or zip.")
    params = models.JSONField(default=dict, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    progress_done = models.PositiveIntegerField(default=0)
    progress_total = models.PositiveIntegerField(default=0)
    file_path = models.CharField(max_length=500, blank=True, default="")
    filename = models.CharField(max_length=200, blank=True, default="")
    error = models.TextField(blank=True, default="")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = ClockDateTimeField(auto_now_add=True)
    completed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "royalties_financeexport"
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"export #{self.pk} {self.kind}.{self.file_format} ({self.status})"

    @property
    def percent(self) -> int:
        if self.status == self.Status.COMPLETED:
            return 100
        return self.progress_done * 100 // self.progress_total if self.progress_total else 0
