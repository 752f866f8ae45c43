from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from catalog.models import AiUse, PricingTerms
from catalog.terms import MAX_AMOUNT_MINOR, MAX_TERM_MONTHS
from marketplace import selectors
from marketplace.certificates import Status
from marketplace.models import (
    Agreement,
    AgreementWork,
    CheckoutAttempt,
    Notification,
    Offer,
    OfferVersion,
)
from marketplace.negotiation import MAX_EXPLICIT_WORKS, MAX_MESSAGE_LENGTH
from marketplace.terms import TERM_FIELDS, terms_of

MAX_IDS = MAX_EXPLICIT_WORKS


class PartySerializer(serializers.Serializer[Any]):
    id = serializers.IntegerField()
    name = serializers.CharField()


def _party(organisation: Any) -> dict[str, Any]:
    return {"id": organisation.pk, "name": organisation.name}


def _rate() -> serializers.DecimalField:
    return serializers.DecimalField(
        max_digits=24,
        decimal_places=10,
        min_value=0,
        required=False,
        allow_null=True,
        help_text="Exact rate in minor units of the currency (a decimal string).",
    )


class TermsSerializer(serializers.Serializer[Any]):
    """Licence terms. In a request or a counter every field is optional: those left out keep
    the listed terms (request) or the countered version's (counter)."""

    permitted_uses = serializers.ListField(
        child=serializers.ChoiceField(choices=AiUse.choices), min_length=1, required=False
    )
    territories = serializers.ListField(
        child=serializers.CharField(max_length=5),
        min_length=1,
        max_length=300,
        required=False,
        help_text='ISO 3166-1 alpha-2 codes, or ["WORLD"].',
    )
    term_months = serializers.IntegerField(min_value=1, max_value=MAX_TERM_MONTHS, required=False)
    exclusive = serializers.BooleanField(required=False)
    currency = serializers.RegexField(r"^[A-Za-z]{3}$", required=False, help_text="ISO 4217.")
    upfront_fee_minor = serializers.IntegerField(
        min_value=0, max_value=MAX_AMOUNT_MINOR, required=False, help_text="Minor units."
    )
    upfront_fee_basis = serializers.ChoiceField(
        choices=PricingTerms.FeeBasis.choices, required=False
    )
    advance_recoupable = serializers.BooleanField(required=False)
    rate_tokens_trained_minor = _rate()
    rate_training_examples_minor = _rate()
    rate_retrievals_minor = _rate()
    rate_outputs_attributed_minor = _rate()
    revenue_share_bp = serializers.IntegerField(
        min_value=0, max_value=10_000, required=False, allow_null=True
    )
    minimum_guarantee_minor = serializers.IntegerField(
        min_value=0, max_value=MAX_AMOUNT_MINOR, required=False
    )
    attribution_required = serializers.BooleanField(required=False)
    settlement_frequency = serializers.ChoiceField(
        choices=Agreement.SettlementFrequency.choices, required=False
    )


class TermsOutSerializer(TermsSerializer):
    """The full terms of a version or an agreement."""

    def to_representation(self, instance: Any) -> dict[str, Any]:
        terms = instance if isinstance(instance, dict) else terms_of(instance)
        return super().to_representation({name: terms[name] for name in TERM_FIELDS})


class TermChangeSerializer(serializers.Serializer[Any]):
    term = serializers.CharField(source="field")
    title = serializers.CharField(source="label")
    before = serializers.CharField()
    after = serializers.CharField()


def _ids(help_text: str) -> serializers.ListField:
    return serializers.ListField(
        child=serializers.IntegerField(min_value=1),
        max_length=MAX_IDS,
        required=False,
        help_text=help_text,
    )


class OfferRequestSerializer(serializers.Serializer[Any]):
    licensee = serializers.IntegerField(
        required=False,
        help_text="Your AI developer organisation (needed only if you act for several).",
    )
    catalogues = _ids("Whole catalogues (their works licensable for the uses now).")
    works = _ids("Individual works (all of one catalogue owner, with the catalogues).")
    uses = serializers.ListField(
        child=serializers.ChoiceField(choices=AiUse.choices), min_length=1, max_length=5
    )
    terms = TermsSerializer(required=False, help_text="Left out: the listed terms.")
    message = serializers.CharField(
        required=False, allow_blank=True, max_length=MAX_MESSAGE_LENGTH, default=""
    )
    respond_by = serializers.DateTimeField(required=False, allow_null=True, default=None)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if not attrs.get("catalogues") and not attrs.get("works"):
            raise serializers.ValidationError("Name at least one catalogue or work.")
        return attrs


class OfferCounterSerializer(serializers.Serializer[Any]):
    version = serializers.IntegerField(min_value=1, help_text="The version you are answering.")
    terms = TermsSerializer(required=False, help_text="Only the terms you change.")
    works = _ids("Replace the selection with these works.")
    remove_works = _ids("Drop these works from the selection.")
    message = serializers.CharField(
        required=False, allow_blank=True, max_length=MAX_MESSAGE_LENGTH, default=""
    )
    respond_by = serializers.DateTimeField(required=False, allow_null=True, default=None)


class OfferAcceptSerializer(serializers.Serializer[Any]):
    version = serializers.IntegerField(min_value=1, help_text="The version you accept.")


class OfferRejectSerializer(OfferAcceptSerializer):
    version = serializers.IntegerField(min_value=1, help_text="The version you reject.")
    message = serializers.CharField(
        required=False, allow_blank=True, max_length=MAX_MESSAGE_LENGTH, default=""
    )


class OfferWithdrawSerializer(serializers.Serializer[Any]):
    version = serializers.IntegerField(
        min_value=1,
        required=False,
        allow_null=True,
        default=None,
        help_text="Your proposal you withdraw (optional; checked when given).",
    )
    message = serializers.CharField(
        required=False, allow_blank=True, max_length=MAX_MESSAGE_LENGTH, default=""
    )


class OfferVersionSerializer(serializers.ModelSerializer[OfferVersion]):
    terms = serializers.SerializerMethodField()
    proposed_by_user = serializers.EmailField(
        source="proposed_by_user.email", read_only=True, allow_null=True, default=None
    )
    work_count = serializers.IntegerField(read_only=True)

    class Meta:
        model = OfferVersion
        fields = [
            "number",
            "proposed_by",
            "proposed_by_user",
            "message",
            "respond_by",
            "created_at",
            "work_count",
            "terms",
        ]
        read_only_fields = fields

    @extend_schema_field(TermsOutSerializer)
    def get_terms(self, version: OfferVersion) -> dict[str, Any]:
        return TermsOutSerializer(version).data


class ThreadStepSerializer(serializers.Serializer[Any]):
    version = OfferVersionSerializer()
    changes = TermChangeSerializer(many=True)
    works_added = serializers.IntegerField()
    works_removed = serializers.IntegerField()


class OfferSerializer(serializers.ModelSerializer[Offer]):
    licensee = serializers.SerializerMethodField()
    licensor = serializers.SerializerMethodField()
    party_to_answer = serializers.CharField(read_only=True, allow_null=True)
    catalogues = serializers.SerializerMethodField()
    agreement = serializers.SerializerMethodField()

    class Meta:
        model = Offer
        fields = [
            "id",
            "licensee",
            "licensor",
            "status",
            "party_to_answer",
            "latest_version",
            "expires_at",
            "catalogues",
            "agreement",
            "created_at",
            "updated_at",
            "closed_at",
        ]
        read_only_fields = fields

    @extend_schema_field(PartySerializer)
    def get_licensee(self, offer: Offer) -> dict[str, Any]:
        return _party(offer.licensee)

    @extend_schema_field(PartySerializer)
    def get_licensor(self, offer: Offer) -> dict[str, Any]:
        return _party(offer.licensor)

    @extend_schema_field(serializers.ListField(child=serializers.IntegerField()))
    def get_catalogues(self, offer: Offer) -> list[int]:
        return [catalogue.pk for catalogue in offer.catalogues.all()]

    @extend_schema_field(serializers.IntegerField(allow_null=True))
    def get_agreement(self, offer: Offer) -> int | None:
        agreement = getattr(offer, "agreement", None)
        return agreement.pk if agreement is not None else None


class OfferDetailSerializer(OfferSerializer):
    thread = serializers.SerializerMethodField()

    class Meta(OfferSerializer.Meta):
        fields = [*OfferSerializer.Meta.fields, "thread"]
        read_only_fields = fields

    @extend_schema_field(ThreadStepSerializer(many=True))
    def get_thread(self, offer: Offer) -> Any:
        return ThreadStepSerializer(selectors.offer_thread(offer=offer), many=True).data


class SelectedWorkSerializer(serializers.Serializer[Any]):
    id = serializers.IntegerField()
    title = serializers.CharField()
    catalogue = serializers.IntegerField(source="catalogue_id")
    content_sha256 = serializers.CharField()


class AgreementSerializer(serializers.ModelSerializer[Agreement]):
    licensee = serializers.SerializerMethodField()
    licensor = serializers.SerializerMethodField()
    accepted_version = serializers.IntegerField(
        source="accepted_version.number", read_only=True, allow_null=True, default=None
    )
    terms = serializers.SerializerMethodField()
    upfront_fee_total_minor = serializers.SerializerMethodField()
    work_count = serializers.SerializerMethodField()
    has_certificate = serializers.SerializerMethodField()

    class Meta:
        model = Agreement
        fields = [
            "id",
            "offer",
            "accepted_version",
            "licensee",
            "licensor",
            "status",
            "starts_on",
            "ends_on",
            "terms",
            "commission_bp",
            "upfront_fee_total_minor",
            "work_count",
            "accepted_at",
            "activated_at",
            "ended_at",
            "termination_reason",
            "has_certificate",
        ]
        read_only_fields = fields

    @extend_schema_field(PartySerializer)
    def get_licensee(self, agreement: Agreement) -> dict[str, Any]:
        return _party(agreement.licensee)

    @extend_schema_field(PartySerializer)
    def get_licensor(self, agreement: Agreement) -> dict[str, Any]:
        return _party(agreement.licensor)

    @extend_schema_field(TermsOutSerializer)
    def get_terms(self, agreement: Agreement) -> dict[str, Any]:
        return TermsOutSerializer(agreement).data

    @extend_schema_field(
        serializers.IntegerField(help_text="What the licensee pays upfront, minor units.")
    )
    def get_upfront_fee_total_minor(self, agreement: Agreement) -> int:
        return selectors.agreement_fee_total_minor(agreement=agreement)

    @extend_schema_field(serializers.IntegerField())
    def get_work_count(self, agreement: Agreement) -> int:
        return selectors.agreement_work_count(agreement=agreement)

    @extend_schema_field(serializers.BooleanField())
    def get_has_certificate(self, agreement: Agreement) -> bool:
        return hasattr(agreement, "certificate")


class AgreementWorkSerializer(serializers.ModelSerializer[AgreementWork]):
    class Meta:
        model = AgreementWork
        fields = ["work", "title", "content_sha256", "identifiers"]
        read_only_fields = fields


class CheckoutStartSerializer(serializers.Serializer[Any]):
    save_payment_method = serializers.BooleanField(
        default=False, help_text="Keep the card for later usage charges (off-session)."
    )
    success_url = serializers.URLField(
        required=False,
        max_length=1500,
        help_text="Where Stripe sends the payer after paying; may contain {CHECKOUT_SESSION_ID}.",
    )
    cancel_url = serializers.URLField(required=False, max_length=1500)


class CheckoutAttemptSerializer(serializers.ModelSerializer[CheckoutAttempt]):
    class Meta:
        model = CheckoutAttempt
        fields = [
            "id",
            "agreement",
            "status",
            "amount_minor",
            "currency",
            "save_payment_method",
            "stripe_session_id",
            "checkout_url",
            "payment_intent_id",
            "charge_id",
            "failure_message",
            "created_at",
            "completed_at",
        ]
        read_only_fields = fields


class CertificateVerifySerializer(serializers.Serializer[Any]):
    certificate = serializers.JSONField(
        required=False,
        help_text="The certificate: its JSON object, or the document as a string.",
    )
    certificate_file = serializers.FileField(
        required=False, help_text="The certificate document (multipart upload)."
    )
    sha256 = serializers.RegexField(
        r"^[0-9a-fA-F]{64}$",
        required=False,
        allow_blank=True,
        help_text="SHA-256 of content to check against the licensed works.",
    )
    file = serializers.FileField(
        required=False, help_text="Content to check (hashed here, not stored)."
    )

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if ("certificate" in attrs) == ("certificate_file" in attrs):
            raise serializers.ValidationError(
                {"certificate": "Give the certificate, as JSON or as a file (one of the two)."}
            )
        if attrs.get("sha256") and attrs.get("file"):
            raise serializers.ValidationError({"sha256": "Give a SHA-256 or a file, not both."})
        return attrs


class CoveredWorkSerializer(serializers.Serializer[Any]):
    id = serializers.IntegerField()
    title = serializers.CharField()


class VerificationSerializer(serializers.Serializer[Any]):
    status = serializers.ChoiceField(choices=[(s, s) for s in Status.ALL])
    valid = serializers.BooleanField()
    reason = serializers.CharField()
    key_id = serializers.CharField()
    agreement_id = serializers.IntegerField(allow_null=True)
    licensee = serializers.CharField()
    licensor = serializers.CharField()
    uses = serializers.ListField(child=serializers.CharField())
    territories = serializers.ListField(child=serializers.CharField())
    starts_on = serializers.CharField()
    ends_on = serializers.CharField()
    work_count = serializers.IntegerField()
    sha256 = serializers.CharField()
    covered = serializers.BooleanField(allow_null=True)
    covered_works = CoveredWorkSerializer(many=True)


class PublishedKeySerializer(serializers.Serializer[Any]):
    key_id = serializers.CharField()
    kid = serializers.CharField()
    kty = serializers.CharField()
    crv = serializers.CharField()
    alg = serializers.CharField()
    x = serializers.CharField(help_text="Raw Ed25519 public key, base64url.")
    status = serializers.ChoiceField(choices=[("active", "active"), ("retired", "retired")])
    created_at = serializers.CharField()
    retired_at = serializers.CharField(allow_null=True)


class PublishedKeysSerializer(serializers.Serializer[Any]):
    issuer = serializers.CharField()
    algorithm = serializers.CharField()
    certificate_type = serializers.CharField()
    keys = PublishedKeySerializer(many=True)


class NotificationSerializer(serializers.ModelSerializer[Notification]):
    class Meta:
        model = Notification
        fields = [
            "id",
            "organisation",
            "kind",
            "title",
            "body",
            "link",
            "offer",
            "agreement",
            "created_at",
            "read_at",
        ]
        read_only_fields = fields


class ReadCountSerializer(serializers.Serializer[Any]):
    marked_read = serializers.IntegerField()
