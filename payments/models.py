"""What we know of Stripe's objects, kept so that no decision needs a live call and every call is
journalled. payments.gateway is the only code that talks to Stripe.

These models lived in `accounts` until payments became an app of its own, and moved without
touching the database: their tables keep the names they had there (`db_table`), and so do the
history tables pghistory writes and the Postgres triggers on them (`_Trigger`, `_InsertEvent`,
`_UpdateEvent` below).
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any

import pghistory
import pgtrigger
from django.contrib.postgres.fields import ArrayField
from django.db import models
from django_fsm import FSMField, transition
from pghistory.trigger import Event as HistoryTrigger

from accounts.models import Organisation
from accounts.tenancy import TenantQuerySet
from core import clock
from core.fields import ClockDateTimeField


# --- Trigger names from the days in accounts ---------------------------------------------------
# pgtrigger names a trigger (and its function) "pgtrigger_<name>_<hash>", the hash taken of
# "<app label>.<Model>:<name>", so moving a model to another app would rename its triggers.
# These keep the names they were installed with under `accounts`.
def _pgid_as_installed(trigger_name: str | None, model: Any) -> str:
    uri = f"accounts.{model._meta.object_name}:{trigger_name}"
    model_hash = hashlib.sha1(uri.encode(), usedforsecurity=False).hexdigest()[:5]
    return f"pgtrigger_{trigger_name}_{model_hash}".lower()


class _NamedAsInstalled:
    name: str | None

    def get_pgid(self, model: Any) -> str:
        return _pgid_as_installed(self.name, model)


class _Trigger(_NamedAsInstalled, pgtrigger.Trigger):
    """pgtrigger.Trigger, keeping the Postgres name it was installed with."""


class _HistoryTrigger(_NamedAsInstalled, HistoryTrigger):
    """pghistory's event trigger, keeping the Postgres name it was installed with."""


class _TrackedAsInstalled(pghistory.RowEvent):
    def add_event_trigger(self, event_model: Any) -> None:
        # pghistory.RowEvent.add_event_trigger, with the trigger class above.
        pgtrigger.register(
            _HistoryTrigger(
                event_model=event_model,
                label=self.label,
                name=self.trigger_name,
                row=self.row,
                operation=self.operation,
                condition=self.condition,
                level=self.level,
            )
        )(event_model.pgh_tracked_model)


class _InsertEvent(_TrackedAsInstalled, pghistory.InsertEvent):
    pass


class _UpdateEvent(_TrackedAsInstalled, pghistory.UpdateEvent):
    pass


CURRENCY_CODE = models.Q(currency__regex=r"^[A-Z]{3}$")


@pghistory.track(
    _InsertEvent(), _UpdateEvent(), meta={"db_table": "accounts_stripeconnectedaccountevent"}
)
class StripeConnectedAccount(models.Model):
    """A payee organisation's Stripe connected account (Express, `transfers` capability).

    The fields mirror the account as Stripe last reported it (re-fetched on every
    `account.updated`), never what the onboarding return redirect suggests. Transfers go only
    to accounts whose `transfers` capability is active."""

    class Status(models.TextChoices):
        ONBOARDING = "onboarding", "Details still needed"
        PENDING_VERIFICATION = "pending_verification", "Stripe is checking the details"
        ENABLED = "enabled", "Ready to receive payouts"
        RESTRICTED = "restricted", "Restricted by Stripe"

    organisation = models.OneToOneField(
        Organisation, on_delete=models.PROTECT, related_name="stripe_account"
    )
    stripe_account_id = models.CharField(max_length=255, unique=True)
    status = models.CharField(max_length=24, choices=Status.choices, default=Status.ONBOARDING)
    details_submitted = models.BooleanField(default=False)
    charges_enabled = models.BooleanField(default=False)
    payouts_enabled = models.BooleanField(default=False)
    transfers_capability = models.CharField(
        max_length=20, blank=True, help_text="Stripe's status of the `transfers` capability."
    )
    requirements_currently_due = ArrayField(models.CharField(max_length=200), default=list)
    requirements_past_due = ArrayField(models.CharField(max_length=200), default=list)
    requirements_pending_verification = ArrayField(models.CharField(max_length=200), default=list)
    disabled_reason = models.CharField(max_length=100, blank=True)
    country = models.CharField(max_length=2, help_text="ISO 3166-1 alpha-2.")
    synced_at = models.DateTimeField(null=True, blank=True, help_text="Last fetched from Stripe.")
    created_at = ClockDateTimeField(auto_now_add=True)
    updated_at = ClockDateTimeField(auto_now=True)

    objects = TenantQuerySet.as_manager()
    tenant_lookups = ("organisation",)

    class Meta:
        db_table = "accounts_stripeconnectedaccount"
        ordering = ["organisation_id"]
        constraints = [
            models.CheckConstraint(
                condition=~models.Q(status="enabled") | models.Q(transfers_capability="active"),
                name="stripe_account_enabled_needs_active_transfers",
            ),
        ]
        triggers = [
            _Trigger(
                name="stripe_account_only_for_payees",
                when=pgtrigger.Before,
                operation=pgtrigger.Insert | pgtrigger.Update,
                func="""
                    IF (SELECT kind FROM accounts_organisation WHERE id = NEW.organisation_id)
                        IS DISTINCT FROM 'creator' THEN
                        RAISE EXCEPTION 'organisation %: only payees (kind creator) have a '
                            'connected account', NEW.organisation_id
                            USING ERRCODE = 'check_violation';
                    END IF;
                    RETURN NEW;
                """,
            ),
        ]

    def __str__(self) -> str:
        return f"{self.stripe_account_id} ({self.organisation})"

    @property
    def can_receive_transfers(self) -> bool:
        return self.transfers_capability == "active"


class StripeRequest(models.Model):
    """The outbound journal: one row per mutating Stripe call, keyed by our own deterministic
    idempotency key and written before the call. A retry (Celery's, or a rerun after a crash)
    finds the row, reuses the key, and Stripe answers with the object it already made."""

    class Status(models.TextChoices):
        PENDING = "pending", "Sent or about to be; outcome not known"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Refused by Stripe"

    idempotency_key = models.CharField(max_length=255, unique=True)
    operation = models.CharField(max_length=60, help_text="e.g. transfer.create")
    stripe_account = models.CharField(
        max_length=255, blank=True, help_text="Connected account acted on; blank: the platform."
    )
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    stripe_object_id = models.CharField(max_length=255, blank=True)
    http_status = models.PositiveSmallIntegerField(null=True, blank=True)
    error_code = models.CharField(max_length=100, blank=True)
    error_message = models.TextField(blank=True)
    attempts = models.PositiveIntegerField(default=0, help_text="HTTP attempts, retries included.")
    created_at = ClockDateTimeField(auto_now_add=True)
    updated_at = ClockDateTimeField(auto_now=True)
    completed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "accounts_striperequest"
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["status", "created_at"], name="stripe_request_status_idx")]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(status__in=["pending", "succeeded", "failed"]),
                name="stripe_request_status_valid",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.operation} [{self.idempotency_key}] {self.status}"


class StripeEvent(models.Model):
    """An event Stripe sent to our webhook, stored once (unique event id) before anything is
    done with it, then processed by the handlers registered for its type."""

    class Status(models.TextChoices):
        RECEIVED = "received", "Received"
        PROCESSED = "processed", "Processed"
        IGNORED = "ignored", "Ignored (no handler)"
        FAILED = "failed", "Failed (will be retried)"

    stripe_event_id = models.CharField(max_length=255, unique=True)
    type = models.CharField(max_length=100, db_index=True)
    account = models.CharField(
        max_length=255, blank=True, help_text="Connected account (Connect events); blank: ours."
    )
    livemode = models.BooleanField(default=False)
    api_version = models.CharField(max_length=40, blank=True)
    stripe_created = models.DateTimeField()
    payload = models.JSONField(help_text="The event exactly as Stripe sent it (verified).")
    status = FSMField(max_length=10, choices=Status.choices, default=Status.RECEIVED)
    error = models.TextField(blank=True)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    received_at = ClockDateTimeField(auto_now_add=True)
    processed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "accounts_stripeevent"
        ordering = ["-received_at"]
        indexes = [
            models.Index(fields=["status", "next_attempt_at"], name="stripe_event_retry_idx"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(status__in=["received", "processed", "ignored", "failed"]),
                name="stripe_event_status_valid",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.type} {self.stripe_event_id} ({self.status})"

    @property
    def data_object(self) -> dict[str, Any]:
        """The object the event is about, as it was when the event happened."""
        return self.payload.get("data", {}).get("object", {})

    @transition(field=status, source=[Status.RECEIVED, Status.FAILED], target=Status.PROCESSED)
    def mark_processed(self) -> None:
        self.error = ""
        self.next_attempt_at = None
        self.processed_at = clock.now()

    @transition(field=status, source=[Status.RECEIVED, Status.FAILED], target=Status.IGNORED)
    def mark_ignored(self) -> None:
        self.processed_at = clock.now()

    @transition(field=status, source=[Status.RECEIVED, Status.FAILED], target=Status.FAILED)
    def mark_failed(self, *, error: str, retry_at: datetime) -> None:
        self.error = error
        self.next_attempt_at = retry_at


class StripeCustomer(models.Model):
    """A licensee's Stripe customer, and the card it agreed we may charge later for usage."""

    organisation = models.OneToOneField(
        Organisation, on_delete=models.PROTECT, related_name="stripe_customer"
    )
    stripe_customer_id = models.CharField(max_length=255, unique=True)
    off_session_payment_method_id = models.CharField(max_length=255, blank=True)
    off_session_consented_at = models.DateTimeField(null=True, blank=True)
    created_at = ClockDateTimeField(auto_now_add=True)
    updated_at = ClockDateTimeField(auto_now=True)

    objects = TenantQuerySet.as_manager()
    tenant_lookups = ("organisation",)

    class Meta:
        db_table = "accounts_stripecustomer"
        constraints = [
            models.CheckConstraint(
                condition=models.Q(off_session_payment_method_id="")
                | models.Q(off_session_consented_at__isnull=False),
                name="stripe_customer_saved_card_needs_consent",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.stripe_customer_id} ({self.organisation})"


@pghistory.track(_InsertEvent(), _UpdateEvent(), meta={"db_table": "accounts_stripepaymentevent"})
class StripePayment(models.Model):
    """A card payment into the platform's balance (one Stripe charge), with what has been
    refunded and disputed since. Kept current from events (re-fetching the charge)."""

    organisation = models.ForeignKey(
        Organisation,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="stripe_payments",
        help_text="The payer, from the payment's metadata.",
    )
    stripe_charge_id = models.CharField(max_length=255, unique=True)
    stripe_payment_intent_id = models.CharField(max_length=255, blank=True, db_index=True)
    stripe_customer_id = models.CharField(max_length=255, blank=True)
    stripe_balance_transaction_id = models.CharField(max_length=255, blank=True)
    status = models.CharField(max_length=20, help_text="Stripe's charge status.")
    # Amount charged, minor units of `currency`, never negative.
    amount_minor = models.BigIntegerField()
    # Stripe's processing fee kept from the amount, minor units, never negative (0 until known).
    fee_minor = models.BigIntegerField(default=0)
    # Total refunded so far, minor units, 0 up to amount_minor.
    amount_refunded_minor = models.BigIntegerField(default=0)
    currency = models.CharField(max_length=3, help_text="ISO 4217, uppercase.")
    transfer_group = models.CharField(max_length=255, blank=True, db_index=True)
    metadata = models.JSONField(default=dict, blank=True)
    stripe_dispute_id = models.CharField(max_length=255, blank=True)
    dispute_status = models.CharField(max_length=30, blank=True, help_text="Stripe's status.")
    # Amount the cardholder disputed, minor units, 0 up to amount_minor.
    disputed_amount_minor = models.BigIntegerField(default=0)
    dispute_lost_at = models.DateTimeField(null=True, blank=True)
    stripe_created = models.DateTimeField()
    created_at = ClockDateTimeField(auto_now_add=True)
    updated_at = ClockDateTimeField(auto_now=True)

    objects = TenantQuerySet.as_manager()
    tenant_lookups = ("organisation",)

    class Meta:
        db_table = "accounts_stripepayment"
        ordering = ["-stripe_created"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(amount_minor__gte=0), name="stripe_payment_amount_not_negative"
            ),
            models.CheckConstraint(
                condition=models.Q(fee_minor__gte=0), name="stripe_payment_fee_not_negative"
            ),
            models.CheckConstraint(
                condition=models.Q(amount_refunded_minor__gte=0)
                & models.Q(amount_refunded_minor__lte=models.F("amount_minor")),
                name="stripe_payment_refunds_within_amount",
            ),
            models.CheckConstraint(
                condition=models.Q(disputed_amount_minor__gte=0)
                & models.Q(disputed_amount_minor__lte=models.F("amount_minor")),
                name="stripe_payment_dispute_within_amount",
            ),
            models.CheckConstraint(condition=CURRENCY_CODE, name="stripe_payment_currency_code"),
        ]

    def __str__(self) -> str:
        return f"{self.stripe_charge_id} {self.amount_minor} {self.currency}"


class StripeRefund(models.Model):
    """A refund of a payment. `succeeded_at` is set once, when the refund is first seen to
    have succeeded: that is when the `stripe_refund_succeeded` hook fires."""

    payment = models.ForeignKey(StripePayment, on_delete=models.PROTECT, related_name="refunds")
    stripe_refund_id = models.CharField(max_length=255, unique=True)
    # Amount returned to the cardholder, minor units of `currency`, positive.
    amount_minor = models.BigIntegerField()
    currency = models.CharField(max_length=3, help_text="ISO 4217, uppercase.")
    status = models.CharField(max_length=20, help_text="Stripe's refund status.")
    reason = models.CharField(max_length=40, blank=True)
    metadata = models.JSONField(default=dict, blank=True)
    succeeded_at = models.DateTimeField(null=True, blank=True)
    created_at = ClockDateTimeField(auto_now_add=True)
    updated_at = ClockDateTimeField(auto_now=True)

    objects = TenantQuerySet.as_manager()
    tenant_lookups = ("payment__organisation",)

    class Meta:
        db_table = "accounts_striperefund"
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(amount_minor__gt=0), name="stripe_refund_amount_positive"
            ),
            models.CheckConstraint(condition=CURRENCY_CODE, name="stripe_refund_currency_code"),
        ]

    def __str__(self) -> str:
        return f"{self.stripe_refund_id} {self.amount_minor} {self.currency} ({self.status})"
