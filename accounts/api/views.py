from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound
from rest_framework.generics import RetrieveAPIView
from rest_framework.request import Request
from rest_framework.response import Response

from accounts import selectors, services
from accounts.api.base import TenantScopedGenericViewSet, TenantScopedReadOnlyViewSet
from accounts.api.serializers import (
    ApiKeyCreateSerializer,
    ApiKeyIssuedSerializer,
    ApiKeySerializer,
    AuditEventSerializer,
    MembershipSerializer,
    MeSerializer,
    OrganisationSerializer,
)
from accounts.models import ApiKey, AuditEvent, Membership, Organisation, User
from accounts.roles import Act, organisation_act_require
from accounts.tenancy import Principal


class MeView(RetrieveAPIView[User]):
    """The signed-in person and their organisations (session only: an API key is no person)."""

    serializer_class = MeSerializer

    def get_object(self) -> User:
        if not isinstance(self.request.user, User):
            raise NotFound("An API key acts for an organisation, not a person.")
        return self.request.user


class OrganisationViewSet(TenantScopedReadOnlyViewSet):
    serializer_class = OrganisationSerializer
    filterset_fields = ["kind"]

    def scoped_queryset(self, principal: Principal) -> QuerySet[Organisation]:
        return selectors.organisation_list(principal=principal)


class MembershipViewSet(TenantScopedReadOnlyViewSet):
    serializer_class = MembershipSerializer
    filterset_fields = ["organisation", "role"]

    def scoped_queryset(self, principal: Principal) -> QuerySet[Membership]:
        return selectors.membership_list(principal=principal)


class ApiKeyViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, TenantScopedGenericViewSet):
    """Organisation API keys, each acting in the role chosen at creation (admin, member or
    viewer). Only an organisation's owners and admins may create or revoke its keys."""

    serializer_class = ApiKeySerializer
    filterset_fields = ["organisation"]

    def scoped_queryset(self, principal: Principal) -> QuerySet[ApiKey]:
        return selectors.api_key_list(principal=principal)

    def _require_owner(self, organisation_id: int) -> None:
        if organisation_id not in self.principal.organisation_ids:
            raise NotFound("No such organisation.")
        organisation_act_require(
            principal=self.principal, organisation_id=organisation_id, act=Act.MEMBERS_AND_KEYS
        )

    @extend_schema(request=ApiKeyCreateSerializer, responses={201: ApiKeyIssuedSerializer})
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        payload = ApiKeyCreateSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        self._require_owner(payload.validated_data["organisation"])
        issued = services.api_key_create(
            organisation=Organisation.objects.get(pk=payload.validated_data["organisation"]),
            name=payload.validated_data["name"],
            created_by=request.user if isinstance(request.user, User) else None,
            role=payload.validated_data["role"],
        )
        data = ApiKeySerializer(issued.api_key).data | {"secret": issued.plaintext}
        response = Response(data, status=status.HTTP_201_CREATED)
        response.secret_fields = ("secret",)  # type: ignore[attr-defined]  # never stored
        return response

    @extend_schema(request=None, responses={200: ApiKeySerializer})
    @action(detail=True, methods=["post"])
    def revoke(self, request: Request, pk: str | None = None) -> Response:
        api_key = self.get_object()
        self._require_owner(api_key.organisation_id)
        actor = self.request.user if isinstance(self.request.user, User) else None
        revoked = services.api_key_revoke(api_key=api_key, actor=actor)
        return Response(ApiKeySerializer(revoked).data)


class AuditEventViewSet(TenantScopedReadOnlyViewSet):
    """The audit log of security-relevant acts (API keys, invitations, lock-outs, payout
    settings, consent) in the organisations where you are an owner or an admin."""

    serializer_class = AuditEventSerializer
    filterset_fields = ["organisation", "action"]

    def scoped_queryset(self, principal: Principal) -> QuerySet[AuditEvent]:
        return selectors.audit_event_list(principal=principal)
