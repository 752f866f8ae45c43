"""Offers and their negotiation, licence agreements (the accepted offer, frozen), checkout
attempts, licence certificates and their signing keys, and in-app notifications.

An agreement keeps everything settlement and certificates need as it was at acceptance: the
pricing (`PricingTerms` fields plus the commission), every licensed work with its content
fingerprint, and each work's split sheet. Later changes to the catalogue never reach it.

Invariants held by PostgreSQL:
- an agreement's snapshot rows (works and splits) are immutable once written;
- each licensed work's snapshot shares total exactly 10,000 basis points at commit;
- an offer yields at most one agreement (unique `Agreement.offer`);
- offer versions, their works and negotiation events are append-only;
- licence claims never collide: an exclusive claim on a (work, use, territory, period) excludes
  every other live claim there, and non-exclusive claims coexist (exclusion constraint);
- an agreement has at most one paid checkout attempt; certificates are immutable.
"""

from __future__ import annotations

import pgtrigger
from django.contrib.postgres.constraints import ExclusionConstraint
from django.contrib.postgres.fields import (
    BigIntegerRangeField,
    DateRangeField,
    IntegerRangeField,
    RangeOperators,
)
from django.db import models
from django_fsm import FSMField, transition

from accounts.models import ApiKey, Organisation, User
from accounts.tenancy import TenantQuerySet
from catalog.models import BASIS_POINTS_TOTAL, AiUse, Catalogue, PricingTerms, RightsShare, Work
from core.fields import ClockDateTimeField

_IMMUTABLE = pgtrigger.Protect(
    name="snapshot_is_immutable", operation=pgtrigger.Update | pgtrigger.Delete
)


class Agreement(PricingTerms):
    class Status(models.TextChoices):
        AWAITING_PAYMENT = "awaiting_payment", "Awaiting payment"
        ACTIVE = "active", "Active"
        EXPIRED = "expired", "Expired"
        TERMINATED = "terminated", "Terminated"

    class SettlementFrequency(models.TextChoices):
        MONTHLY = "monthly", "Monthly"
        QUARTERLY = "quarterly", "Quarterly"

    licensee = models.ForeignKey(
        Organisation, on_delete=models.PROTECT, related_name="agreements_as_licensee"
    )
    licensor = models.ForeignKey(
        Organisation, on_delete=models.PROTECT, related_name="agreements_as_licensor"
    )
    status = FSMField(
        max_length=20,
        choices=Status.choices,
        default=Status.AWAITING_PAYMENT,
        protected=True,
    )
    starts_on = models.DateField()
    ends_on = models.DateField(help_text="Last day covered (inclusive).")
    # Licensed uses and territories are PricingTerms.permitted_uses / .territories.
    # Platform commission taken from every amount before it is split, basis points.
    commission_bp = models.PositiveIntegerField()
    settlement_frequency = models.CharField(
        max_length=10, choices=SettlementFrequency.choices, default=SettlementFrequency.MONTHLY
    )
    accepted_at = models.DateTimeField()
    activated_at = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    termination_reason = models.TextField(blank=True)
    # The full terms as accepted, for the contract page and the certificate.
    terms_snapshot = models.JSONField(default=dict)
    # The negotiation it came from. Unique: one offer yields at most one agreement.
    offer = models.OneToOneField(
        "Offer", null=True, blank=True, on_delete=models.PROTECT, related_name="agreement"
    )
    accepted_version = models.OneToOneField(
        "OfferVersion", null=True, blank=True, on_delete=models.PROTECT, related_name="agreement"
    )

    objects = TenantQuerySet.as_manager()
    tenant_lookups = ("licensee", "licensor")

    class Meta:
        ordering = ["-accepted_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(ends_on__gte=models.F("starts_on")),
                name="agreement_ends_after_it_starts",
            ),
            models.CheckConstraint(
                condition=models.Q(commission_bp__lte=BASIS_POINTS_TOTAL),
                name="agreement_commission_at_most_100pct",
            ),
            models.CheckConstraint(
                condition=models.Q(upfront_fee_minor__gte=0)
                & models.Q(minimum_guarantee_minor__gte=0),
                name="agreement_amounts_not_negative",
            ),
        ]
        indexes = [models.Index(fields=["status", "ends_on"], name="agreement_status_end_idx")]

    def __str__(self) -> str:
        return f"Agreement {self.pk}: {self.licensee} ← {self.licensor}"

    # Transitions are called only from marketplace services, under select_for_update.
    @transition(field=status, source=Status.AWAITING_PAYMENT, target=Status.ACTIVE)
    def activate(self) -> None:
        pass

    @transition(field=status, source=Status.ACTIVE, target=Status.EXPIRED)
    def expire(self) -> None:
        pass

    @transition(
        field=status, source=[Status.AWAITING_PAYMENT, Status.ACTIVE], target=Status.TERMINATED
    )
    def terminate(self) -> None:
        pass


class AgreementWork(models.Model):
    """A licensed work as it was at acceptance."""

    agreement = models.ForeignKey(Agreement, on_delete=models.PROTECT, related_name="works")
    work = models.ForeignKey(Work, on_delete=models.PROTECT, related_name="agreement_snapshots")
    title = models.CharField(max_length=500)
    content_sha256 = models.CharField(max_length=64, blank=True)
    identifiers = models.JSONField(default=dict, help_text="Identifiers at acceptance.")

    objects = TenantQuerySet.as_manager()
    tenant_lookups = ("agreement__licensee", "agreement__licensor")

    class Meta:
        ordering = ["agreement_id", "id"]
        constraints = [
            models.UniqueConstraint(fields=["agreement", "work"], name="agreement_work_unique")
        ]
        triggers = [_IMMUTABLE]

    def __str__(self) -> str:
        return self.title


class AgreementSplit(models.Model):
    """A split-sheet line of a licensed work as it was at acceptance: what settlement uses."""

    agreement = models.ForeignKey(Agreement, on_delete=models.PROTECT, related_name="splits")
    work = models.ForeignKey(Work, on_delete=models.PROTECT, related_name="+")
    holder = models.ForeignKey(Organisation, on_delete=models.PROTECT, related_name="+")
    role = models.CharField(max_length=20, choices=RightsShare.Role.choices)
    share_bp = models.PositiveIntegerField()

    objects = TenantQuerySet.as_manager()
    tenant_lookups = ("agreement__licensee", "agreement__licensor", "holder")

    class Meta:
        ordering = ["agreement_id", "work_id", "-share_bp", "holder_id"]
        constraints = [
            models.UniqueConstraint(
                fields=["agreement", "work", "holder", "role"], name="agreement_split_unique"
            ),
            models.CheckConstraint(
                condition=models.Q(share_bp__gte=1) & models.Q(share_bp__lte=BASIS_POINTS_TOTAL),
                name="agreement_split_between_1_and_10000",
            ),
        ]
        triggers = [
            _IMMUTABLE,
            pgtrigger.Trigger(
                name="agreement_split_totals_10000",
                when=pgtrigger.After,
                operation=pgtrigger.Insert,
                timing=pgtrigger.Deferred,
                func="""
                    IF (SELECT SUM(share_bp) FROM marketplace_agreementsplit
                        WHERE agreement_id = NEW.agreement_id AND work_id = NEW.work_id)
                        <> 10000 THEN
                        RAISE EXCEPTION
                            'agreement % work %: snapshot shares must total 10000 basis points',
                            NEW.agreement_id, NEW.work_id USING ERRCODE = 'check_violation';
                    END IF;
                    RETURN NULL;
                """,
            ),
        ]

    def __str__(self) -> str:
        return f"{self.holder} {self.share_bp} bp of work {self.work_id}"


class Party(models.TextChoices):
    """The two sides of a negotiation."""

    LICENSEE = "licensee", "Licensee"
    LICENSOR = "licensor", "Licensor"


class Offer(models.Model):
    """A negotiation between a licensee and one catalogue owner over a selection of works.

    The status says whose turn it is; each proposal is an `OfferVersion` and every step an
    `OfferEvent`. Transitions are called only from marketplace services, under
    select_for_update on the offer."""

    class Status(models.TextChoices):
        AWAITING_LICENSOR = "awaiting_licensor", "Awaiting the licensor's answer"
        AWAITING_LICENSEE = "awaiting_licensee", "Awaiting the licensee's answer"
        ACCEPTED = "accepted", "Accepted"
        REJECTED = "rejected", "Rejected"
        WITHDRAWN = "withdrawn", "Withdrawn"
        EXPIRED = "expired", "Expired"

    OPEN_STATUSES = (Status.AWAITING_LICENSOR, Status.AWAITING_LICENSEE)

    licensee = models.ForeignKey(
        Organisation, on_delete=models.PROTECT, related_name="offers_as_licensee"
    )
    licensor = models.ForeignKey(
        Organisation, on_delete=models.PROTECT, related_name="offers_as_licensor"
    )
    status = FSMField(
        max_length=20,
        choices=Status.choices,
        default=Status.AWAITING_LICENSOR,
        protected=True,
    )
    # Number of the latest version: what an answer must name (optimistic concurrency).
    latest_version = models.PositiveIntegerField(default=0)
    # The party whose turn it is must answer by then, or the offer expires.
    expires_at = models.DateTimeField()
    # Whole catalogues the licensee asked for (their works are listed on each version).
    catalogues = models.ManyToManyField(Catalogue, blank=True, related_name="+")
    created_at = ClockDateTimeField(auto_now_add=True)
    updated_at = ClockDateTimeField(auto_now=True)
    closed_at = models.DateTimeField(null=True, blank=True)

    objects = TenantQuerySet.as_manager()
    tenant_lookups = ("licensee", "licensor")

    class Meta:
        ordering = ["-updated_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=~models.Q(licensee=models.F("licensor")),
                name="offer_parties_differ",
            ),
        ]
        indexes = [models.Index(fields=["status", "expires_at"], name="offer_status_expiry_idx")]

    def __str__(self) -> str:
        return f"Offer {self.pk}: {self.licensee} → {self.licensor}"

    @property
    def is_open(self) -> bool:
        return self.status in self.OPEN_STATUSES

    @property
    def party_to_answer(self) -> str | None:
        return {
            self.Status.AWAITING_LICENSOR: Party.LICENSOR,
            self.Status.AWAITING_LICENSEE: Party.LICENSEE,
        }.get(self.status)

    @transition(field=status, source=Status.AWAITING_LICENSOR, target=Status.AWAITING_LICENSEE)
    def counter_by_licensor(self) -> None:
        pass

    @transition(field=status, source=Status.AWAITING_LICENSEE, target=Status.AWAITING_LICENSOR)
    def counter_by_licensee(self) -> None:
        pass

    @transition(field=status, source=list(OPEN_STATUSES), target=Status.ACCEPTED)
    def accept(self) -> None:
        pass

    @transition(field=status, source=list(OPEN_STATUSES), target=Status.REJECTED)
    def reject(self) -> None:
        pass

    @transition(field=status, source=list(OPEN_STATUSES), target=Status.WITHDRAWN)
    def withdraw(self) -> None:
        pass

    @transition(field=status, source=list(OPEN_STATUSES), target=Status.EXPIRED)
    def expire(self) -> None:
        pass


class OfferVersion(PricingTerms):
    """One proposal in a negotiation: the full terms and the works, as proposed. Immutable."""

    offer = models.ForeignKey(Offer, on_delete=models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField()
    proposed_by = models.CharField(max_length=10, choices=Party.choices)
    proposed_by_user = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    settlement_frequency = models.CharField(
        max_length=10,
        choices=Agreement.SettlementFrequency.choices,
        default=Agreement.SettlementFrequency.MONTHLY,
    )
    # Platform commission override, basis points; null means PLATFORM_COMMISSION_BP.
    commission_bp = models.PositiveIntegerField(null=True, blank=True)
    message = models.TextField(blank=True)
    respond_by = models.DateTimeField()
    works = models.ManyToManyField(Work, through="OfferVersionWork", related_name="+")
    created_at = ClockDateTimeField(auto_now_add=True)

    objects = TenantQuerySet.as_manager()
    tenant_lookups = ("offer__licensee", "offer__licensor")

    class Meta:
        ordering = ["offer_id", "number"]
        constraints = [
            models.UniqueConstraint(fields=["offer", "number"], name="offer_version_unique"),
            models.CheckConstraint(condition=models.Q(number__gte=1), name="offer_version_from_1"),
            models.CheckConstraint(
                condition=models.Q(upfront_fee_minor__gte=0)
                & models.Q(minimum_guarantee_minor__gte=0),
                name="offer_version_amounts_not_negative",
            ),
            models.CheckConstraint(
                condition=models.Q(revenue_share_bp__isnull=True)
                | models.Q(revenue_share_bp__lte=BASIS_POINTS_TOTAL),
                name="offer_version_revenue_share_at_most_100pct",
            ),
            models.CheckConstraint(
                condition=models.Q(commission_bp__isnull=True)
                | models.Q(commission_bp__lte=BASIS_POINTS_TOTAL),
                name="offer_version_commission_at_most_100pct",
            ),
            models.CheckConstraint(
                condition=models.Q(term_months__gte=1), name="offer_version_term_at_least_1_month"
            ),
        ]
        triggers = [_IMMUTABLE]

    def __str__(self) -> str:
        return f"offer {self.offer_id} v{self.number}"


class OfferVersionWork(models.Model):
    """A work in a proposal's selection."""

    version = models.ForeignKey(OfferVersion, on_delete=models.CASCADE, related_name="+")
    work = models.ForeignKey(Work, on_delete=models.PROTECT, related_name="+")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["version", "work"], name="offer_version_work_unique")
        ]
        triggers = [_IMMUTABLE]

    def __str__(self) -> str:
        return f"work {self.work_id} in version {self.version_id}"


class OfferEvent(models.Model):
    """One step of a negotiation: who did what, when, to which version, and why."""

    class Kind(models.TextChoices):
        REQUESTED = "requested", "Requested"
        COUNTERED = "countered", "Countered"
        ACCEPTED = "accepted", "Accepted"
        REJECTED = "rejected", "Rejected"
        WITHDRAWN = "withdrawn", "Withdrawn"
        EXPIRED = "expired", "Expired"

    offer = models.ForeignKey(Offer, on_delete=models.CASCADE, related_name="events")
    version = models.ForeignKey(OfferVersion, on_delete=models.CASCADE, related_name="events")
    kind = models.CharField(max_length=10, choices=Kind.choices)
    # Null actor: the platform (an offer expiring).
    actor_party = models.CharField(max_length=10, choices=Party.choices, blank=True)
    actor_user = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    actor_api_key = models.ForeignKey(
        ApiKey, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    message = models.TextField(blank=True)
    created_at = ClockDateTimeField(auto_now_add=True)

    objects = TenantQuerySet.as_manager()
    tenant_lookups = ("offer__licensee", "offer__licensor")

    class Meta:
        ordering = ["offer_id", "created_at", "id"]
        triggers = [_IMMUTABLE]

    def __str__(self) -> str:
        return f"offer {self.offer_id} {self.kind} (version id {self.version_id})"


class LicenceClaim(models.Model):
    """What a live agreement holds: one work, one use, one territory, over its term.

    The exclusion constraint makes exclusivity a database fact: an exclusive claim's `claim`
    range is unbounded, so it overlaps every other claim on the same work, use, territory and
    dates; a non-exclusive claim's range is its agreement's own id, so non-exclusive claims of
    different agreements never overlap. A claim is released when its agreement ends."""

    agreement = models.ForeignKey(Agreement, on_delete=models.PROTECT, related_name="claims")
    work = models.ForeignKey(Work, on_delete=models.PROTECT, related_name="+")
    use = models.CharField(max_length=30, choices=AiUse.choices)
    territory = models.CharField(max_length=5, help_text="ISO 3166-1 alpha-2, or WORLD.")
    # Country codes as integers (AA = 0 … ZZ = 675); WORLD covers them all.
    territory_span = IntegerRangeField()
    period = DateRangeField()
    claim = BigIntegerRangeField()
    exclusive = models.BooleanField()
    released_at = models.DateTimeField(null=True, blank=True)

    objects = TenantQuerySet.as_manager()
    tenant_lookups = ("agreement__licensee", "agreement__licensor")

    class Meta:
        ordering = ["agreement_id", "work_id", "use", "territory"]
        constraints = [
            models.UniqueConstraint(
                fields=["agreement", "work", "use", "territory"], name="licence_claim_unique"
            ),
            ExclusionConstraint(
                name="licence_claims_never_collide",
                expressions=[
                    ("work", RangeOperators.EQUAL),
                    ("use", RangeOperators.EQUAL),
                    ("territory_span", RangeOperators.OVERLAPS),
                    ("period", RangeOperators.OVERLAPS),
                    ("claim", RangeOperators.OVERLAPS),
                ],
                condition=models.Q(released_at__isnull=True),
            ),
        ]

    def __str__(self) -> str:
        kind = "exclusive" if self.exclusive else "non-exclusive"
        return f"{kind} {self.use} {self.territory} on work {self.work_id}"


class CheckoutAttempt(models.Model):
    """One try at paying an agreement's upfront fee through a Stripe Checkout Session.

    Its Stripe idempotency key derives from its own id, so a retried request never opens a
    second session, and a new attempt (after a decline or an expiry) always does. Transitions
    are called only from marketplace.checkout, under select_for_update."""

    class Status(models.TextChoices):
        CREATED = "created", "Created"
        OPEN = "open", "Open"
        DECLINED = "declined", "Card declined"
        PAID = "paid", "Paid"
        EXPIRED = "expired", "Expired"
        FAILED = "failed", "Could not be opened"
        # Paid although the agreement no longer needed it (paid already, or ended): refund it.
        REFUND_DUE = "refund_due", "Paid but not needed: refund due"

    agreement = models.ForeignKey(
        Agreement, on_delete=models.PROTECT, related_name="checkout_attempts"
    )
    status = FSMField(max_length=12, choices=Status.choices, default=Status.CREATED, protected=True)
    # What the session charges: minor units of `currency`, > 0.
    amount_minor = models.BigIntegerField()
    currency = models.CharField(max_length=3, help_text="ISO 4217, uppercase.")
    save_payment_method = models.BooleanField(
        default=False, help_text="The licensee asked to keep the card for usage charges."
    )
    stripe_session_id = models.CharField(max_length=255, null=True, blank=True, unique=True)
    checkout_url = models.URLField(max_length=2000, blank=True)
    payment_intent_id = models.CharField(max_length=255, blank=True)
    charge_id = models.CharField(max_length=255, blank=True)
    customer_id = models.CharField(max_length=255, blank=True)
    # Set only when the licensee asked to save the card; used later for off-session charges.
    saved_payment_method_id = models.CharField(max_length=255, blank=True)
    failure_message = models.TextField(blank=True)
    created_by = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = ClockDateTimeField(auto_now_add=True)
    completed_at = models.DateTimeField(null=True, blank=True)

    objects = TenantQuerySet.as_manager()
    tenant_lookups = ("agreement__licensee", "agreement__licensor")

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["agreement"],
                condition=models.Q(status="paid"),
                name="checkout_one_paid_attempt_per_agreement",
            ),
            models.CheckConstraint(
                condition=models.Q(amount_minor__gt=0), name="checkout_amount_positive"
            ),
        ]

    def __str__(self) -> str:
        return f"checkout {self.pk} of agreement {self.agreement_id} ({self.status})"

    @transition(field=status, source=Status.CREATED, target=Status.OPEN)
    def open(self) -> None:
        pass

    @transition(field=status, source=Status.CREATED, target=Status.FAILED)
    def fail(self) -> None:
        pass

    @transition(field=status, source=[Status.OPEN, Status.DECLINED], target=Status.DECLINED)
    def decline(self) -> None:
        pass

    @transition(
        field=status, source=[Status.CREATED, Status.OPEN, Status.DECLINED], target=Status.PAID
    )
    def pay(self) -> None:
        pass

    @transition(
        field=status, source=[Status.CREATED, Status.OPEN, Status.DECLINED], target=Status.EXPIRED
    )
    def expire(self) -> None:
        pass

    @transition(
        field=status,
        source=[Status.CREATED, Status.OPEN, Status.DECLINED, Status.EXPIRED],
        target=Status.REFUND_DUE,
    )
    def pay_unneeded(self) -> None:
        pass


class SigningKey(models.Model):
    """An Ed25519 key the platform signs certificates with. Public keys, retired ones included,
    are published at /.well-known/trainright-keys.json. The private key is kept here only when
    the deployment does not supply CERTIFICATE_SIGNING_KEY (development, tests)."""

    key_id = models.CharField(max_length=64, unique=True)
    # Raw 32-byte Ed25519 public key, base64url without padding.
    public_key = models.CharField(max_length=64)
    private_key_pem = models.TextField(blank=True)
    created_at = ClockDateTimeField(auto_now_add=True)
    retired_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["retired_at"],
                condition=models.Q(retired_at__isnull=True),
                name="signing_key_one_active",
                nulls_distinct=False,
            ),
        ]

    def __str__(self) -> str:
        return self.key_id

    @property
    def is_active(self) -> bool:
        return self.retired_at is None


class Certificate(models.Model):
    """An active agreement as a signed manifest: canonical JSON (sorted keys, no whitespace,
    UTF-8) signed with Ed25519. Immutable."""

    agreement = models.OneToOneField(
        Agreement, on_delete=models.PROTECT, related_name="certificate"
    )
    signing_key = models.ForeignKey(SigningKey, on_delete=models.PROTECT, related_name="+")
    # The exact bytes signed (UTF-8 text).
    manifest = models.TextField()
    # Ed25519 signature of `manifest`, base64url without padding.
    signature = models.CharField(max_length=128)
    issued_at = models.DateTimeField()

    objects = TenantQuerySet.as_manager()
    tenant_lookups = ("agreement__licensee", "agreement__licensor")

    class Meta:
        ordering = ["-issued_at", "-id"]
        triggers = [_IMMUTABLE]

    def __str__(self) -> str:
        return f"certificate of agreement {self.agreement_id}"


class Notification(models.Model):
    """Something an organisation should see: shown in the app (badge in the nav) and, when
    `email` is set, sent to its people through Django's email backend."""

    class Kind(models.TextChoices):
        YOUR_TURN = "your_turn", "Your answer is needed"
        OFFER_CLOSED = "offer_closed", "Negotiation closed"
        AGREEMENT_AWAITING_PAYMENT = "awaiting_payment", "Agreement awaiting payment"
        AGREEMENT_ACTIVE = "agreement_active", "Agreement active"
        AGREEMENT_ENDED = "agreement_ended", "Agreement ended"

    organisation = models.ForeignKey(
        Organisation, on_delete=models.CASCADE, related_name="notifications"
    )
    kind = models.CharField(max_length=20, choices=Kind.choices)
    title = models.CharField(max_length=200)
    body = models.TextField(blank=True)
    link = models.CharField(max_length=500, blank=True, help_text="Path of the page to open.")
    offer = models.ForeignKey(
        Offer, null=True, blank=True, on_delete=models.CASCADE, related_name="notifications"
    )
    agreement = models.ForeignKey(
        Agreement, null=True, blank=True, on_delete=models.CASCADE, related_name="notifications"
    )
    email = models.BooleanField(default=False)
    emailed_at = models.DateTimeField(null=True, blank=True)
    created_at = ClockDateTimeField(auto_now_add=True)
    read_at = models.DateTimeField(null=True, blank=True)

    objects = TenantQuerySet.as_manager()
    tenant_lookups = ("organisation",)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(
                fields=["organisation"],
                condition=models.Q(read_at__isnull=True),
                name="notification_unread_idx",
            )
        ]

    def __str__(self) -> str:
        return self.title
