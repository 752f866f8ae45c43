"""Collections from licensees and payouts to rights holders.

A ``Collection`` is what one licensee owes for one settlement run in one currency: charged
off-session with the card it saved at checkout (where it agreed), otherwise paid through a
Checkout Session from its dashboard. When Stripe confirms the payment (webhook), the
collection entry moves the holders' shares from pending to payable ("pay when paid").

A ``Payout`` is one Stripe transfer to one rights holder's connected account. Its Stripe
idempotency key (``transfer:payout:<id>``) is stored with the row before any call, so every
retry, redelivered task or double click asks Stripe for the same transfer. States:

- ``scheduled``: the amount is reserved from the holder's payable balance;
- ``sent``: the transfer request is (or may be) in flight; a crash here is resolved by asking
  again with the same key;
- ``paid``: the transfer exists (a Connect transfer succeeds when created) and the ledger
  records it (Dr holder_payable / Cr platform_cash);
- ``failed``: Stripe refused it, or retries ran out; ``failure_reason`` says why and the
  amount stays payable (nothing was posted);
- ``reversed``: the transfer was reversed in full; the reversal entry put the amount back
  into the holder's payable balance (partial reversals keep ``paid`` and add to
  ``reversed_minor``).

A ``PayoutThreshold`` is the least a holder wants paid at once per currency (default: no
threshold, pay everything payable at or above Stripe's minimum).

Invariants held by PostgreSQL: one collection per (licensee, run, currency); one payout per
(holder, run, currency); at most one open (scheduled or sent) payout per holder and currency,
so a balance is never reserved twice; unique idempotency keys and transfer ids; positive
amounts; a paid or reversed payout has its transfer; reversals never exceed the amount.
"""

from __future__ import annotations

import pghistory
from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django_fsm import FSMField, transition

from accounts.models import Organisation
from accounts.tenancy import TenantQuerySet
from core.fields import ClockDateTimeField
from ledger.models import CURRENCY_CODE_REGEX
from settlement.models import SettlementRun


@pghistory.track(
    pghistory.InsertEvent(), pghistory.UpdateEvent(), meta={"db_table": "royalties_collectionevent"}
)
class Collection(models.Model):
    class Status(models.TextChoices):
        DUE = "due", "Due"
        PAID = "paid", "Paid"
        FAILED = "failed", "Failed (will retry)"
        OVERDUE = "overdue", "Overdue"

    licensee = models.ForeignKey(Organisation, on_delete=models.PROTECT, related_name="+")
    run = models.ForeignKey(SettlementRun, on_delete=models.PROTECT, related_name="collections")
    currency = models.CharField(max_length=3)
    amount_due_minor = models.BigIntegerField()  # minor units owed by the licensee, > 0
    status = FSMField(max_length=10, choices=Status.choices, default=Status.DUE, protected=True)
    attempts = models.PositiveIntegerField(default=0, help_text="Off-session charges tried.")
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    failure_reason = models.CharField(max_length=300, blank=True, default="")
    payment_intent_id = models.CharField(max_length=255, blank=True, default="")
    checkout_session_id = models.CharField(max_length=255, blank=True, default="")
    checkout_url = models.URLField(max_length=1000, blank=True, default="")
    # NULL until paid; unique, so one charge never pays two collections.
    charge_id = models.CharField(max_length=255, null=True, blank=True, unique=True)
    stripe_fee_minor = models.BigIntegerField(default=0)  # minor units, Stripe's fee, ≥ 0
    collected_at = models.DateTimeField(null=True, blank=True)
    last_reminded_at = models.DateTimeField(null=True, blank=True)
    reminders_sent = models.PositiveIntegerField(default=0)
    journal_entry = models.ForeignKey(
        "ledger.JournalEntry", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = ClockDateTimeField(auto_now_add=True)

    objects = TenantQuerySet.as_manager()
    tenant_lookups = ("licensee",)

    class Meta:
        db_table = "royalties_collection"
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["licensee", "run", "currency"], name="collection_unique_per_run"
            ),
            models.CheckConstraint(condition=Q(amount_due_minor__gt=0), name="collection_positive"),
            models.CheckConstraint(
                condition=Q(currency__regex=CURRENCY_CODE_REGEX), name="collection_currency_iso"
            ),
            models.CheckConstraint(
                condition=~Q(status="paid") | (Q(charge_id__isnull=False) & ~Q(charge_id="")),
                name="collection_paid_has_charge",
            ),
            models.CheckConstraint(
                condition=Q(stripe_fee_minor__gte=0), name="collection_fee_not_negative"
            ),
        ]
        indexes = [models.Index(fields=["status", "next_attempt_at"], name="collection_due_idx")]

    def __str__(self) -> str:
        return f"collection {self.pk}: {self.amount_due_minor} {self.currency} ({self.status})"

    @property
    def transfer_group(self) -> str:
        return f"collection:{self.pk}"

    @transition(
        field=status, source=[Status.DUE, Status.FAILED, Status.OVERDUE], target=Status.PAID
    )
    def mark_paid(self) -> None:
        """Stripe confirmed the payment."""

    @transition(field=status, source=[Status.DUE, Status.FAILED], target=Status.FAILED)
    def mark_failed(self) -> None:
        """A charge was declined; another is scheduled."""

    @transition(field=status, source=[Status.DUE, Status.FAILED], target=Status.OVERDUE)
    def mark_overdue(self) -> None:
        """Retries ran out: finance follows up."""


class DuplicatePayment(models.Model):
    """A payment that reached a collection already paid (a Checkout page left open while an
    off-session retry succeeded, say). It is posted as the licensee's credit, refunded in full
    through Stripe (its own idempotency key) and shown to the licensee and to finance; Stripe
    keeps its fee, which the platform bears. One row per charge: the unique key makes a
    repeated webhook change nothing."""

    class Status(models.TextChoices):
        REFUNDING = "refunding", "Paid twice, refund under way"
        REFUNDED = "refunded", "Paid twice, refunded"

    collection = models.ForeignKey(
        Collection, on_delete=models.PROTECT, related_name="duplicate_payments"
    )
    charge_id = models.CharField(max_length=255, unique=True)
    currency = models.CharField(max_length=3)
    amount_minor = models.BigIntegerField()  # minor units, what the licensee paid again, > 0
    fee_minor = models.BigIntegerField(default=0)  # Stripe's fee on it, kept by Stripe, ≥ 0
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.REFUNDING)
    refund_id = models.CharField(max_length=255, blank=True, default="")
    receipt_entry = models.ForeignKey(
        "ledger.JournalEntry", on_delete=models.PROTECT, related_name="+"
    )
    refund_entry = models.ForeignKey(
        "ledger.JournalEntry", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = ClockDateTimeField(auto_now_add=True)
    refunded_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(amount_minor__gt=0, fee_minor__gte=0),
                name="duplicate_payment_amounts",
            ),
            models.CheckConstraint(
                condition=models.Q(currency__regex=CURRENCY_CODE_REGEX),
                name="duplicate_payment_currency_iso",
            ),
            models.CheckConstraint(
                condition=~models.Q(status="refunded")
                | (~models.Q(refund_id="") & models.Q(refund_entry__isnull=False)),
                name="duplicate_payment_refunded_has_refund",
            ),
        ]

    def __str__(self) -> str:
        return f"Second payment {self.charge_id} of collection {self.collection_id}"


@pghistory.track(
    pghistory.InsertEvent(), pghistory.UpdateEvent(), meta={"db_table": "royalties_payoutevent"}
)
class Payout(models.Model):
    class Status(models.TextChoices):
        SCHEDULED = "scheduled", "Scheduled"
        SENT = "sent", "Sent"
        PAID = "paid", "Paid"
        FAILED = "failed", "Failed"
        REVERSED = "reversed", "Reversed"

    OPEN_STATUSES = (Status.SCHEDULED, Status.SENT)

    holder = models.ForeignKey(Organisation, on_delete=models.PROTECT, related_name="+")
    run = models.ForeignKey(
        SettlementRun,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="payouts",
        help_text="The run whose collections funded it; empty for an on-demand payout.",
    )
    currency = models.CharField(max_length=3)
    amount_minor = models.BigIntegerField()  # minor units transferred to the holder, > 0
    reversed_minor = models.BigIntegerField(default=0)  # minor units reversed, 0..amount
    status = FSMField(
        max_length=10, choices=Status.choices, default=Status.SCHEDULED, protected=True
    )
    on_hold = models.BooleanField(default=False, help_text="Finance holds it: not sent.")
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    failure_reason = models.CharField(max_length=300, blank=True, default="")
    idempotency_key = models.CharField(max_length=100, unique=True)
    destination_account_id = models.CharField(max_length=255)
    transfer_group = models.CharField(max_length=100, blank=True, default="")
    source_transaction = models.CharField(max_length=255, blank=True, default="")
    # NULL until paid; unique, so one transfer never pays two payouts.
    transfer_id = models.CharField(max_length=255, null=True, blank=True, unique=True)
    journal_entry = models.ForeignKey(
        "ledger.JournalEntry", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = ClockDateTimeField(auto_now_add=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    paid_at = models.DateTimeField(null=True, blank=True)

    objects = TenantQuerySet.as_manager()
    tenant_lookups = ("holder",)

    class Meta:
        db_table = "royalties_payout"
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["holder", "run", "currency"],
                condition=Q(run__isnull=False),
                name="payout_unique_per_run",
            ),
            models.UniqueConstraint(
                fields=["holder", "currency"],
                condition=Q(status__in=["scheduled", "sent"]),
                name="payout_one_open_per_holder",
            ),
            models.CheckConstraint(condition=Q(amount_minor__gt=0), name="payout_positive"),
            models.CheckConstraint(
                condition=Q(reversed_minor__gte=0) & Q(reversed_minor__lte=F("amount_minor")),
                name="payout_reversed_within_amount",
            ),
            models.CheckConstraint(
                condition=~Q(status__in=["paid", "reversed"])
                | (Q(transfer_id__isnull=False) & ~Q(transfer_id="")),
                name="payout_paid_has_transfer",
            ),
            models.CheckConstraint(
                condition=~Q(status="failed") | ~Q(failure_reason=""),
                name="payout_failed_has_reason",
            ),
            models.CheckConstraint(
                condition=Q(currency__regex=CURRENCY_CODE_REGEX), name="payout_currency_iso"
            ),
        ]
        indexes = [models.Index(fields=["status", "next_attempt_at"], name="payout_due_idx")]

    def __str__(self) -> str:
        return f"payout {self.pk}: {self.amount_minor} {self.currency} ({self.status})"

    @transition(field=status, source=[Status.SCHEDULED, Status.SENT], target=Status.SENT)
    def mark_sent(self) -> None:
        """The transfer is being requested (again, with the same key, after a crash)."""

    @transition(field=status, source=[Status.SENT], target=Status.SCHEDULED)
    def mark_retry(self) -> None:
        """Stripe could not be reached; try again later with the same key."""

    @transition(field=status, source=[Status.SENT], target=Status.PAID)
    def mark_paid(self) -> None:
        """The transfer exists."""

    @transition(
        field=status, source=[Status.SCHEDULED, Status.SENT, Status.FAILED], target=Status.FAILED
    )
    def mark_failed(self) -> None:
        """Stripe refused it or retries ran out; the amount stays payable."""

    @transition(field=status, source=[Status.FAILED], target=Status.SCHEDULED)
    def mark_rescheduled(self) -> None:
        """Finance retries a failed payout (same key, so never a second transfer)."""

    @transition(field=status, source=[Status.PAID], target=Status.REVERSED)
    def mark_reversed(self) -> None:
        """Reversed in full; the amount is payable again."""


@pghistory.track(
    pghistory.InsertEvent(),
    pghistory.UpdateEvent(),
    meta={"db_table": "royalties_payoutthresholdevent"},
)
class PayoutThreshold(models.Model):
    holder = models.ForeignKey(Organisation, on_delete=models.CASCADE, related_name="+")
    currency = models.CharField(max_length=3)
    minimum_minor = models.BigIntegerField()  # minor units; pay only at or above this, ≥ 0
    updated_at = ClockDateTimeField(auto_now=True)

    objects = TenantQuerySet.as_manager()
    tenant_lookups = ("holder",)

    class Meta:
        db_table = "royalties_payoutthreshold"
        ordering = ["holder_id", "currency"]
        constraints = [
            models.UniqueConstraint(fields=["holder", "currency"], name="payout_threshold_unique"),
            models.CheckConstraint(
                condition=Q(minimum_minor__gte=0), name="payout_threshold_not_negative"
            ),
            models.CheckConstraint(
                condition=Q(currency__regex=CURRENCY_CODE_REGEX),
                name="payout_threshold_currency_iso",
            ),
        ]

    def __str__(self) -> str:
        return f"threshold {self.minimum_minor} {self.currency} for {self.holder_id}"
