"""People, organisations and the credentials machines use to act for an organisation."""

from __future__ import annotations

from typing import Any, ClassVar

import pgtrigger
from django.contrib.auth.models import AbstractBaseUser, BaseUserManager, PermissionsMixin
from django.db import models

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
        """What each may do: ``accounts.roles.ROLE_MATRIX`` (and the README's table)."""

        OWNER = "owner", "Owner"
        ADMIN = "admin", "Admin"
        MEMBER = "member", "Member"
        VIEWER = "viewer", "Viewer (read only)"
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

    class Role(models.TextChoices):
        """A key acts in one role, chosen when it is created (``accounts.roles``)."""

        ADMIN = "admin", "Admin (binding acts too)"
        MEMBER = "member", "Member"
        VIEWER = "viewer", "Viewer (read only)"

    name = models.CharField(max_length=100)
    role = models.CharField(max_length=10, choices=Role.choices, default=Role.MEMBER)
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


class AuditEvent(models.Model):
    """A security-relevant act in an organisation, kept for its owners and admins: an API key
    created or revoked, an invitation (a role granted), a sign-in lock-out, payout settings
    changed, consent changed. Append-only (PostgreSQL refuses UPDATE and DELETE)."""

    class Action(models.TextChoices):
        API_KEY_CREATED = "api_key_created", "API key created"
        API_KEY_REVOKED = "api_key_revoked", "API key revoked"
        MEMBER_INVITED = "member_invited", "Member invited (role granted)"
        SIGN_IN_LOCKED_OUT = "sign_in_locked_out", "Sign-in locked out"
        PAYOUT_THRESHOLD_SET = "payout_threshold_set", "Payout threshold set"
        CONSENT_CHANGED = "consent_changed", "Consent changed"

    organisation = models.ForeignKey(
        Organisation, on_delete=models.PROTECT, related_name="audit_events"
    )
    action = models.CharField(max_length=30, choices=Action.choices)
    actor_user = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    actor_api_key = models.ForeignKey(
        ApiKey, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    detail = models.JSONField(default=dict, blank=True)
    created_at = ClockDateTimeField(auto_now_add=True, db_index=True)

    objects = TenantQuerySet.as_manager()
    tenant_lookups = ("organisation",)

    class Meta:
        ordering = ["-created_at", "-id"]
        triggers = [
            pgtrigger.Protect(
                name="audit_event_append_only", operation=pgtrigger.Update | pgtrigger.Delete
            )
        ]

    def __str__(self) -> str:
        return f"{self.get_action_display()} ({self.organisation_id})"
