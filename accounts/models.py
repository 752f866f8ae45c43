"""People, organisations and the credentials machines use to act for an organisation."""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar

import pghistory
import pgtrigger
from django.contrib.auth.models import AbstractBaseUser, BaseUserManager, PermissionsMixin
from django.contrib.postgres.fields import ArrayField
from django.db import models
from django_fsm import FSMField, transition

from accounts.tenancy import TenantQuerySet
from core import clock
from core.fields import ClockDateTimeField


class UserManager(BaseUserManager["User"]):
    use_in_migrations = True

    def create_user(self, email: str, password: str | None = None, **extra: Any) -> User:
        if not email:
            raise ValueError("An email address is required.")
        user = self.model(email=self.normalize_email(email).lower(), **extra)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_superuser(self, email: str, password: str | None = None, **extra: Any) -> User:
        extra.setdefault("is_staff", True)
        extra.setdefault("is_superuser", True)
        return self.create_user(email, password, **extra)


class User(AbstractBaseUser, PermissionsMixin):
    """A person. Signs in with an email address; acts through organisation memberships."""

    email = models.EmailField(unique=True)
    full_name = models.CharField(max_length=200, blank=True)
    is_active = models.BooleanField(default=True)
    is_staff = models.BooleanField(default=False, help_text="Platform staff: may use the admin.")
    date_joined = models.DateTimeField(default=clock.now)

    objects = UserManager()

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS: ClassVar[list[str]] = []

    def __str__(self) -> str:
        return self.email


class Organisation(models.Model):
    """A party to the marketplace: a creator (or those acting for creators), an AI developer,
    or the platform operator. Money is owed to and by organisations, never to users."""

    class Kind(models.TextChoices):
        CREATOR = "creator", "Creator or rights holder"
        AI_DEVELOPER = "ai_developer", "AI developer (licensee)"
        PLATFORM = "platform", "Platform operator"

    class CreatorCategory(models.TextChoices):
        ARTIST = "artist", "Individual artist"
        AUTHOR = "author", "Author"
        PUBLISHER = "publisher", "Publisher"
        LABEL = "label", "Label"
        ESTATE = "estate", "Estate"

    name = models.CharField(max_length=200)
    slug = models.SlugField(max_length=80, unique=True)
    kind = models.CharField(max_length=20, choices=Kind.choices)
    creator_category = models.CharField(
        max_length=20, choices=CreatorCategory.choices, blank=True, default=""
    )
    country = models.CharField(max_length=2, default="GB", help_text="ISO 3166-1 alpha-2.")
    default_currency = models.CharField(max_length=3, default="USD", help_text="ISO 4217.")
    created_at = ClockDateTimeField(auto_now_add=True)

    objects = TenantQuerySet.as_manager()
    tenant_lookups = ("id",)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=(models.Q(kind="creator") & ~models.Q(creator_category=""))
                | (~models.Q(kind="creator") & models.Q(creator_category="")),
                name="organisation_creator_category_only_for_creators",
            )
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def is_payee(self) -> bool:
        return self.kind == self.Kind.CREATOR


class Membership(models.Model):
    class Role(models.TextChoices):
        OWNER = "owner", "Owner"
        MEMBER = "member", "Member"
        FINANCE = "finance", "Finance"

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="memberships")
    organisation = models.ForeignKey(
        Organisation, on_delete=models.CASCADE, related_name="memberships"
    )
    role = models.CharField(max_length=10, choices=Role.choices, default=Role.MEMBER)
    created_at = ClockDateTimeField(auto_now_add=True)

    objects = TenantQuerySet.as_manager()
    tenant_lookups = ("organisation",)

    class Meta:
        ordering = ["organisation_id", "created_at"]
        constraints = [
            models.UniqueConstraint(fields=["user", "organisation"], name="membership_unique")
        ]

    def __str__(self) -> str:
        return f"{self.user} @ {self.organisation} ({self.role})"


class ApiKey(models.Model):
    """A machine credential of one organisation. The secret is shown once and stored only as a
    SHA-256 hash: the secret has 256 bits of entropy, so a slow password hash buys nothing and
    would cost every API call."""

    organisation = models.ForeignKey(
        Organisation, on_delete=models.CASCADE, related_name="api_keys"
    )
    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=8, unique=True, help_text="Visible part of the key.")
    secret_hash = models.CharField(max_length=64)
    created_by = models.ForeignKey(User, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = ClockDateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    objects = TenantQuerySet.as_manager()
    tenant_lookups = ("organisation",)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"trk_{self.prefix}_… ({self.name})"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None


class IdempotencyRecord(models.Model):
    """The first response to a POST carrying an `Idempotency-Key`, replayed for later requests
    with the same key and body. The unique key is what makes concurrent retries safe."""

    principal = models.CharField(max_length=80, help_text="'org:<id>' or 'user:<id>'.")
    key = models.CharField(max_length=255)
    request_fingerprint = models.CharField(max_length=64)
    method = models.CharField(max_length=10)
    path = models.CharField(max_length=500)
    status_code = models.PositiveSmallIntegerField(null=True)
    content_type = models.CharField(max_length=100, blank=True)
    response_body = models.BinaryField(null=True)
    created_at = ClockDateTimeField(auto_now_add=True, db_index=True)
    completed_at = models.DateTimeField(null=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["principal", "key"], name="idempotency_key_unique")
        ]

    def __str__(self) -> str:
        return f"{self.principal} {self.method} {self.path} [{self.key}]"


class Invitation(models.Model):
    """An owner invites a person into an organisation with a role (how finance staff and a
    publisher's colleagues join). The token is stored only as a hash."""

    organisation = models.ForeignKey(
        Organisation, on_delete=models.CASCADE, related_name="invitations"
    )
    email = models.EmailField()
    role = models.CharField(max_length=10, choices=Membership.Role.choices)
    token_hash = models.CharField(max_length=64, unique=True)
    invited_by = models.ForeignKey(User, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = ClockDateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    accepted_at = models.DateTimeField(null=True, blank=True)

    objects = TenantQuerySet.as_manager()
    tenant_lookups = ("organisation",)

    def __str__(self) -> str:
        return f"{self.email} → {self.organisation} ({self.role})"


# --- Stripe ----------------------------------------------------------------------------------
# What we know of Stripe's objects, kept so that no decision needs a live call and every call is
# journalled. payments.gateway is the only code that talks to Stripe.

CURRENCY_CODE = models.Q(currency__regex=r"^[A-Z]{3}$")


@pghistory.track(pghistory.InsertEvent(), pghistory.UpdateEvent())
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
        ordering = ["organisation_id"]
        constraints = [
            models.CheckConstraint(
                condition=~models.Q(status="enabled") | models.Q(transfers_capability="active"),
                name="stripe_account_enabled_needs_active_transfers",
            ),
        ]
        triggers = [
            pgtrigger.Trigger(
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
        constraints = [
            models.CheckConstraint(
                condition=models.Q(off_session_payment_method_id="")
                | models.Q(off_session_consented_at__isnull=False),
                name="stripe_customer_saved_card_needs_consent",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.stripe_customer_id} ({self.organisation})"


@pghistory.track(pghistory.InsertEvent(), pghistory.UpdateEvent())
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
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(amount_minor__gt=0), name="stripe_refund_amount_positive"
            ),
            models.CheckConstraint(condition=CURRENCY_CODE, name="stripe_refund_currency_code"),
        ]

    def __str__(self) -> str:
        return f"{self.stripe_refund_id} {self.amount_minor} {self.currency} ({self.status})"
