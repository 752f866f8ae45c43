"""API shapes of the catalogue. Output serializers read models; input serializers only check
types and hand plain values to catalog.services, which owns every rule."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from catalog import selectors
from catalog.models import (
    BASIS_POINTS_TOTAL,
    AiUse,
    Catalogue,
    Consent,
    LicenceTerms,
    PricingTerms,
    RightsShare,
    Work,
    WorkImport,
    WorkImportProblem,
)
from catalog.terms import MAX_AMOUNT_MINOR, MAX_TERM_MONTHS, PRICING_FIELDS

USES = AiUse.values


def _consent_map_field(*, nullable: bool, help_text: str) -> serializers.Field:
    return serializers.DictField(
        child=serializers.BooleanField(allow_null=nullable), help_text=help_text
    )


class CatalogueSerializer(serializers.ModelSerializer[Catalogue]):
    owner_name = serializers.CharField(source="owner.name", read_only=True)
    default_consent = serializers.SerializerMethodField()
    rsl_url = serializers.SerializerMethodField()

    class Meta:
        model = Catalogue
        fields = [
            "id",
            "owner",
            "owner_name",
            "name",
            "description",
            "default_consent",
            "rsl_url",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields

    @extend_schema_field(
        serializers.DictField(child=serializers.BooleanField(), help_text="AI use → granted?")
    )
    def get_default_consent(self, catalogue: Catalogue) -> dict[str, bool]:
        return selectors.catalogue_default_consent(catalogue=catalogue)

    @extend_schema_field(OpenApiTypes.URI)
    def get_rsl_url(self, catalogue: Catalogue) -> str:
        path = reverse("frontend:catalogue-rsl", args=[catalogue.pk])
        request = self.context.get("request")
        return request.build_absolute_uri(path) if request is not None else path


class CatalogueWriteSerializer(serializers.Serializer[None]):
    owner = serializers.IntegerField(
        required=False, help_text="Organisation that lists it (default: the caller's)."
    )
    name = serializers.CharField(max_length=200)
    description = serializers.CharField(required=False, allow_blank=True, max_length=10_000)


class CatalogueUpdateSerializer(serializers.Serializer[None]):
    name = serializers.CharField(max_length=200, required=False)
    description = serializers.CharField(required=False, allow_blank=True, max_length=10_000)


class ShareSerializer(serializers.ModelSerializer[RightsShare]):
    holder_name = serializers.CharField(source="holder.name", read_only=True)
    confirmed = serializers.SerializerMethodField()

    class Meta:
        model = RightsShare
        fields = ["id", "holder", "holder_name", "role", "share_bp", "confirmed", "confirmed_at"]
        read_only_fields = fields

    @extend_schema_field(OpenApiTypes.BOOL)
    def get_confirmed(self, share: RightsShare) -> bool:
        return share.confirmed_at is not None


class ShareInputSerializer(serializers.Serializer[None]):
    holder = serializers.IntegerField(help_text="Organisation id of the rights holder (payee).")
    role = serializers.ChoiceField(choices=RightsShare.Role.choices)
    share_bp = serializers.IntegerField(
        min_value=1, max_value=BASIS_POINTS_TOTAL, help_text="Basis points; 10,000 = 100 %."
    )


class WorkStatusSerializer(serializers.Serializer[Any]):
    state = serializers.CharField(help_text="Licensable, Pending confirmation or No consent.")
    licensable = serializers.BooleanField()
    permitted_uses = serializers.ListField(child=serializers.ChoiceField(choices=AiUse.choices))
    awaiting_confirmation_from = serializers.ListField(child=serializers.CharField())


class WorkSerializer(serializers.ModelSerializer[Work]):
    """A work as its owner and co-holders see it."""

    catalogue_name = serializers.CharField(source="catalogue.name", read_only=True)
    shares = serializers.SerializerMethodField()
    consent = serializers.SerializerMethodField()
    effective_consent = serializers.SerializerMethodField()
    status = serializers.SerializerMethodField()
    sheet_fingerprint = serializers.SerializerMethodField()
    has_content_file = serializers.SerializerMethodField()

    class Meta:
        model = Work
        fields = [
            "id",
            "catalogue",
            "catalogue_name",
            "title",
            "kind",
            "language",
            "isbn13",
            "isrc",
            "iswc",
            "doi",
            "url",
            "content_sha256",
            "size_bytes",
            "has_content_file",
            "metadata",
            "shares",
            "consent",
            "effective_consent",
            "status",
            "sheet_fingerprint",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields

    @extend_schema_field(ShareSerializer(many=True))
    def get_shares(self, work: Work) -> Any:
        return ShareSerializer(selectors.split_sheet(work=work), many=True).data

    @extend_schema_field(
        serializers.DictField(
            child=serializers.BooleanField(allow_null=True),
            help_text="The work's own consent per use; null follows the catalogue default.",
        )
    )
    def get_consent(self, work: Work) -> dict[str, bool | None]:
        return selectors.work_consent_overrides(work=work)

    @extend_schema_field(serializers.DictField(child=serializers.BooleanField()))
    def get_effective_consent(self, work: Work) -> dict[str, bool]:
        return selectors.work_effective_consent(work=work)

    @extend_schema_field(WorkStatusSerializer)
    def get_status(self, work: Work) -> dict[str, Any]:
        status = selectors.work_status_for(works=[work])[work.pk]
        return {
            "state": status.label,
            "licensable": status.licensable,
            "permitted_uses": status.permitted_uses,
            "awaiting_confirmation_from": status.awaiting,
        }

    @extend_schema_field(OpenApiTypes.STR)
    def get_sheet_fingerprint(self, work: Work) -> str:
        from catalog.services import split_sheet_fingerprint

        return split_sheet_fingerprint(work=work)

    @extend_schema_field(OpenApiTypes.BOOL)
    def get_has_content_file(self, work: Work) -> bool:
        return bool(work.content_file)


class WorkWriteSerializer(serializers.Serializer[None]):
    catalogue = serializers.IntegerField(required=True)
    title = serializers.CharField(max_length=500)
    kind = serializers.ChoiceField(choices=Work.Kind.choices)
    language = serializers.CharField(max_length=35, required=False, allow_blank=True)
    isbn13 = serializers.CharField(max_length=40, required=False, allow_blank=True)
    isrc = serializers.CharField(max_length=40, required=False, allow_blank=True)
    iswc = serializers.CharField(max_length=40, required=False, allow_blank=True)
    doi = serializers.CharField(max_length=300, required=False, allow_blank=True)
    url = serializers.CharField(max_length=1000, required=False, allow_blank=True)
    content_sha256 = serializers.CharField(max_length=64, required=False, allow_blank=True)
    # Bounds checked by the shared work validator (catalog.work_fields), one message everywhere.
    size_bytes = serializers.IntegerField(
        required=False, allow_null=True, help_text="Bytes, 0 to 2**63 - 1."
    )
    metadata = serializers.DictField(required=False)
    shares = ShareInputSerializer(many=True)
    consent = _consent_map_field(
        nullable=True, help_text="AI use → true/false, or null to follow the catalogue."
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["consent"].required = False

    def validate_consent(self, value: dict[str, Any]) -> dict[str, Any]:
        unknown = [use for use in value if use not in USES]
        if unknown:
            raise serializers.ValidationError(f"Unknown AI use(s): {', '.join(unknown)}.")
        return value


class WorkUpdateSerializer(WorkWriteSerializer):
    """PATCH/PUT: the catalogue is fixed; shares, when given, replace the sheet."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        del self.fields["catalogue"]
        del self.fields["consent"]


class ContentUploadSerializer(serializers.Serializer[None]):
    file = serializers.FileField(help_text="The work's content; hashed (SHA-256) as it streams.")


class HistoryEntrySerializer(serializers.Serializer[Any]):
    at = serializers.DateTimeField()
    actor = serializers.CharField()
    subject = serializers.CharField()
    before = serializers.CharField()
    after = serializers.CharField()


class ConsentSerializer(serializers.ModelSerializer[Consent]):
    class Meta:
        model = Consent
        fields = ["id", "catalogue", "work", "use", "granted", "updated_at", "updated_by"]
        read_only_fields = fields


class ConsentWriteSerializer(serializers.Serializer[None]):
    catalogue = serializers.IntegerField(
        required=False, allow_null=True, help_text="Set for a catalogue default (or work)."
    )
    work = serializers.IntegerField(required=False, allow_null=True)
    use = serializers.ChoiceField(choices=AiUse.choices)
    granted = serializers.BooleanField()

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if (attrs.get("catalogue") is None) == (attrs.get("work") is None):
            raise serializers.ValidationError(
                {"work": "Give either a work or a catalogue (for its default), not both."}
            )
        return attrs


class ConsentUpdateSerializer(serializers.Serializer[None]):
    granted = serializers.BooleanField()


_RATE: dict[str, Any] = {"max_digits": 24, "decimal_places": 10, "min_value": Decimal(0)}


class LicenceTermsSerializer(serializers.ModelSerializer[LicenceTerms]):
    class Meta:
        model = LicenceTerms
        fields = [
            "id",
            "catalogue",
            "work",
            *PRICING_FIELDS,
            "updated_at",
        ]
        read_only_fields = fields


class LicenceTermsWriteSerializer(serializers.Serializer[None]):
    catalogue = serializers.IntegerField(required=False)
    work = serializers.IntegerField(
        required=False, allow_null=True, help_text="Set to override the terms for one work."
    )
    currency = serializers.CharField(min_length=3, max_length=3, required=False)
    upfront_fee_minor = serializers.IntegerField(
        min_value=0, max_value=MAX_AMOUNT_MINOR, required=False
    )
    upfront_fee_basis = serializers.ChoiceField(
        choices=PricingTerms.FeeBasis.choices, required=False
    )
    advance_recoupable = serializers.BooleanField(required=False)
    rate_tokens_trained_minor = serializers.DecimalField(**_RATE, required=False, allow_null=True)
    rate_training_examples_minor = serializers.DecimalField(
        **_RATE, required=False, allow_null=True
    )
    rate_retrievals_minor = serializers.DecimalField(**_RATE, required=False, allow_null=True)
    rate_outputs_attributed_minor = serializers.DecimalField(
        **_RATE, required=False, allow_null=True
    )
    revenue_share_bp = serializers.IntegerField(
        min_value=0, max_value=BASIS_POINTS_TOTAL, required=False, allow_null=True
    )
    minimum_guarantee_minor = serializers.IntegerField(
        min_value=0, max_value=MAX_AMOUNT_MINOR, required=False
    )
    term_months = serializers.IntegerField(min_value=1, max_value=MAX_TERM_MONTHS, required=False)
    territories = serializers.ListField(
        child=serializers.CharField(max_length=5), required=False, max_length=300
    )
    exclusive = serializers.BooleanField(required=False)
    attribution_required = serializers.BooleanField(required=False)
    permitted_uses = serializers.ListField(
        child=serializers.ChoiceField(choices=AiUse.choices), required=False, max_length=10
    )


class WorkImportSerializer(serializers.ModelSerializer[WorkImport]):
    progress = serializers.IntegerField(source="progress_percent", read_only=True)

    class Meta:
        model = WorkImport
        fields = [
            "id",
            "catalogue",
            "original_name",
            "format",
            "import_valid_rows",
            "status",
            "progress",
            "rows_total",
            "rows_invalid",
            "works_created",
            "works_updated",
            "failure_reason",
            "created_at",
            "started_at",
            "finished_at",
        ]
        read_only_fields = fields


class WorkImportCreateSerializer(serializers.Serializer[None]):
    catalogue = serializers.IntegerField()
    file = serializers.FileField(help_text="CSV or JSON Lines (see docs/catalogue-import.md).")
    format = serializers.ChoiceField(
        choices=WorkImport.Format.choices,
        required=False,
        help_text="Default: from the file name (.csv, .jsonl).",
    )
    import_valid_rows = serializers.BooleanField(
        required=False,
        default=False,
        help_text="Import the good rows even if some are bad (default: all or nothing).",
    )


class WorkImportProblemSerializer(serializers.ModelSerializer[WorkImportProblem]):
    class Meta:
        model = WorkImportProblem
        fields = ["id", "row_number", "column", "reason"]
        read_only_fields = fields


class ConfirmationSerializer(serializers.ModelSerializer[RightsShare]):
    """A split-sheet line held by the caller's organisation."""

    work_title = serializers.CharField(source="work.title", read_only=True)
    catalogue_name = serializers.CharField(source="work.catalogue.name", read_only=True)
    owner_name = serializers.CharField(source="work.catalogue.owner.name", read_only=True)
    holder_name = serializers.CharField(source="holder.name", read_only=True)
    confirmed = serializers.SerializerMethodField()

    class Meta:
        model = RightsShare
        fields = [
            "id",
            "work",
            "work_title",
            "catalogue_name",
            "owner_name",
            "holder",
            "holder_name",
            "role",
            "share_bp",
            "confirmed",
            "confirmed_at",
        ]
        read_only_fields = fields

    @extend_schema_field(OpenApiTypes.BOOL)
    def get_confirmed(self, share: RightsShare) -> bool:
        return share.confirmed_at is not None


class ConfirmSerializer(serializers.Serializer[None]):
    sheet_fingerprint = serializers.CharField(
        required=False,
        allow_blank=True,
        max_length=64,
        help_text="The work's sheet_fingerprint you reviewed; 409 if the sheet changed since.",
    )


class TermsSummarySerializer(serializers.Serializer[Any]):
    currency = serializers.CharField()
    upfront_fee_minor = serializers.IntegerField()
    upfront_fee_basis = serializers.CharField()
    advance_recoupable = serializers.BooleanField()
    rate_tokens_trained_minor = serializers.DecimalField(max_digits=24, decimal_places=10)
    rate_training_examples_minor = serializers.DecimalField(max_digits=24, decimal_places=10)
    rate_retrievals_minor = serializers.DecimalField(max_digits=24, decimal_places=10)
    rate_outputs_attributed_minor = serializers.DecimalField(max_digits=24, decimal_places=10)
    revenue_share_bp = serializers.IntegerField(allow_null=True)
    minimum_guarantee_minor = serializers.IntegerField()
    term_months = serializers.IntegerField()
    territories = serializers.ListField(child=serializers.CharField())
    exclusive = serializers.BooleanField()
    attribution_required = serializers.BooleanField()


class LicensableWorkSerializer(serializers.ModelSerializer[Work]):
    """A work as a licensee sees it: what it is, what is permitted, on what terms."""

    catalogue_name = serializers.CharField(source="catalogue.name", read_only=True)
    owner = serializers.IntegerField(source="catalogue.owner_id", read_only=True)
    owner_name = serializers.CharField(source="catalogue.owner.name", read_only=True)
    permitted_uses = serializers.SerializerMethodField()
    terms = serializers.SerializerMethodField()

    class Meta:
        model = Work
        fields = [
            "id",
            "title",
            "kind",
            "language",
            "isbn13",
            "isrc",
            "iswc",
            "doi",
            "url",
            "content_sha256",
            "size_bytes",
            "metadata",
            "catalogue",
            "catalogue_name",
            "owner",
            "owner_name",
            "permitted_uses",
            "terms",
        ]
        read_only_fields = fields

    @extend_schema_field(
        serializers.ListField(child=serializers.ChoiceField(choices=AiUse.choices))
    )
    def get_permitted_uses(self, work: Work) -> list[str]:
        consents = self.context.get("consents") or selectors.effective_consents_for(works=[work])
        return [use for use, ok in consents.get(work.pk, {}).items() if ok]

    @extend_schema_field(TermsSummarySerializer(allow_null=True))
    def get_terms(self, work: Work) -> dict[str, Any] | None:
        terms_by_work = self.context.get("terms")
        if terms_by_work is not None:
            terms = terms_by_work.get(work.pk)
        else:
            terms = selectors.effective_terms(work=work)
        if terms is None:
            return None
        return TermsSummarySerializer(terms).data
