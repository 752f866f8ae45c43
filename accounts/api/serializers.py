from __future__ import annotations

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from accounts.models import ApiKey, AuditEvent, Membership, Organisation, User


class OrganisationSerializer(serializers.ModelSerializer[Organisation]):
    class Meta:
        model = Organisation
        fields = [
            "id",
            "name",
            "slug",
            "kind",
            "creator_category",
            "country",
            "default_currency",
            "created_at",
        ]
        read_only_fields = fields


class MembershipSummarySerializer(serializers.Serializer[None]):
    id = serializers.IntegerField()
    name = serializers.CharField()
    role = serializers.CharField()


class MeSerializer(serializers.ModelSerializer[User]):
    organisations = serializers.SerializerMethodField()

    class Meta:
        model = User
        fields = ["id", "email", "full_name", "organisations"]
        read_only_fields = fields

    @extend_schema_field(MembershipSummarySerializer(many=True))
    def get_organisations(self, user: User) -> list[dict[str, object]]:
        return [
            {"id": m.organisation_id, "name": m.organisation.name, "role": m.role}
            for m in user.memberships.select_related("organisation")
        ]


class MembershipSerializer(serializers.ModelSerializer[Membership]):
    email = serializers.EmailField(source="user.email", read_only=True)

    class Meta:
        model = Membership
        fields = ["id", "organisation", "email", "role", "created_at"]
        read_only_fields = fields


class ApiKeySerializer(serializers.ModelSerializer[ApiKey]):
    display = serializers.SerializerMethodField()

    class Meta:
        model = ApiKey
        fields = [
            "id",
            "organisation",
            "name",
            "role",
            "prefix",
            "display",
            "created_at",
            "last_used_at",
            "revoked_at",
        ]
        read_only_fields = fields

    @extend_schema_field(serializers.CharField())
    def get_display(self, api_key: ApiKey) -> str:
        return f"trk_{api_key.prefix}_…"


class ApiKeyCreateSerializer(serializers.Serializer[None]):
    organisation = serializers.IntegerField(help_text="Organisation the key acts for.")
    name = serializers.CharField(max_length=100)
    role = serializers.ChoiceField(
        choices=ApiKey.Role.choices,
        default=ApiKey.Role.MEMBER,
        help_text="What the key may do (the README's role table): admin keys may also accept "
        "offers and change consent, prices and payout settings; viewer keys only read.",
    )


class ApiKeyIssuedSerializer(ApiKeySerializer):
    secret = serializers.CharField(
        read_only=True,
        allow_null=True,
        help_text=(
            "Shown once; store it now. Never stored: a replay of the request (same "
            "Idempotency-Key) answers null here and `secret_shown_once: true`."
        ),
    )
    secret_shown_once = serializers.BooleanField(
        read_only=True,
        required=False,
        help_text="Present on a replay: the secret went to the first response only.",
    )
    detail = serializers.CharField(
        read_only=True, required=False, help_text="On a replay: what to do if the secret was lost."
    )

    class Meta(ApiKeySerializer.Meta):
        fields = [*ApiKeySerializer.Meta.fields, "secret", "secret_shown_once", "detail"]
        read_only_fields = fields


class AuditEventSerializer(serializers.ModelSerializer[AuditEvent]):
    action_label = serializers.CharField(source="get_action_display", read_only=True)
    actor = serializers.SerializerMethodField()

    class Meta:
        model = AuditEvent
        fields = ["id", "organisation", "action", "action_label", "actor", "detail", "created_at"]
        read_only_fields = fields

    @extend_schema_field(serializers.CharField())
    def get_actor(self, event: AuditEvent) -> str:
        """Who acted: a person's email, an API key, or "the system"."""
        if event.actor_user is not None:
            return event.actor_user.email
        if event.actor_api_key is not None:
            return f"API key trk_{event.actor_api_key.prefix}_…"
        return "the system"
