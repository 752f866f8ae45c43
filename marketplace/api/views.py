"""The marketplace API: everything a licensee's procurement tooling or a creator's systems do
on the web pages, negotiation included, plus public certificate verification."""

from __future__ import annotations

import json
from typing import Any, NoReturn

from django.conf import settings
from django.db.models import QuerySet
from django.http import HttpResponse
from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import exceptions, mixins, status
from rest_framework.decorators import action
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.throttling import SimpleRateThrottle
from rest_framework.views import APIView

from accounts.api.base import TenantScopedGenericViewSet
from accounts.api.problems import Conflict, Unprocessable
from accounts.models import Organisation
from accounts.tenancy import Principal
from marketplace import errors, selectors
from marketplace.api import serializers as s
from marketplace.certificates import (
    certificate_document,
    certificate_verify,
    published_keys,
    sha256_of,
)
from marketplace.checkout import checkout_attempt_start
from marketplace.models import Agreement, Notification, Offer
from marketplace.negotiation import (
    offer_accept,
    offer_counter,
    offer_reject,
    offer_request,
    offer_withdraw,
)
from marketplace.notifications import notification_mark_read


class ServiceUnavailable(exceptions.APIException):
    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    default_detail = "Try again in a moment."
    default_code = "service_unavailable"


_STATUS_FOR = {
    errors.StaleVersion: Conflict,
    errors.OfferClosed: Conflict,
    errors.ExclusivityConflict: Conflict,
    errors.CheckoutNotNeeded: Conflict,
    errors.WorksNotLicensable: Unprocessable,
    errors.InvalidSelection: Unprocessable,
    errors.NotYourTurn: exceptions.PermissionDenied,
    errors.NotAParty: exceptions.PermissionDenied,
    errors.CheckoutUnavailable: ServiceUnavailable,
}


def raise_problem(error: errors.MarketplaceError) -> NoReturn:
    """A refused marketplace step as RFC 9457 problem details: its code, the works concerned
    (`errors`) and, for offers, where the negotiation now stands (`current`)."""
    exception_class = _STATUS_FOR.get(type(error), Conflict)
    problem = exception_class(exceptions.ErrorDetail(error.message, code=error.code))
    problem.errors = error.errors
    problem.current = error.current
    raise problem from error


def _single_licensee(principal: Principal, requested: int | None) -> Organisation:
    developers = Organisation.objects.filter(
        id__in=principal.organisation_ids, kind=Organisation.Kind.AI_DEVELOPER
    )
    if requested is not None:
        developers = developers.filter(pk=requested)
    found = list(developers[:2])
    if len(found) != 1:
        raise exceptions.PermissionDenied(
            "Name the AI developer organisation you act for (licensee)."
            if found
            else "Only an AI developer organisation you act for can ask for a licence."
        )
    return found[0]


_CONFLICT_RESPONSES = {
    403: OpenApiResponse(description="Not your turn, or not a party."),
    409: OpenApiResponse(description="Stale version or closed offer; `current` says why."),
    422: OpenApiResponse(description="Works not licensable; `errors` lists them."),
}


@extend_schema(tags=["offers"])
class OfferViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, TenantScopedGenericViewSet):
    """Negotiations you are a party to. Whoever did not make the latest version answers it
    (counter, accept, reject), naming its number; whoever made it may withdraw it."""

    serializer_class = s.OfferSerializer
    filterset_fields = ["status", "licensee", "licensor"]
    ordering_fields = ["updated_at", "created_at", "expires_at"]

    def scoped_queryset(self, principal: Principal) -> QuerySet[Offer]:
        return selectors.offer_list(principal=principal)

    def get_serializer_class(self) -> Any:
        return s.OfferDetailSerializer if self.action == "retrieve" else s.OfferSerializer

    def _detail(self, offer: Offer, code: int = status.HTTP_200_OK) -> Response:
        fresh = selectors.offer_list(principal=self.principal).get(pk=offer.pk)
        return Response(s.OfferDetailSerializer(fresh).data, status=code)

    @extend_schema(
        request=s.OfferRequestSerializer,
        responses={201: s.OfferDetailSerializer, **_CONFLICT_RESPONSES},
    )
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        """Ask for a licence over whole catalogues and/or works of one catalogue owner."""
        payload = s.OfferRequestSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        data = payload.validated_data
        licensee = _single_licensee(self.principal, data.get("licensee"))
        try:
            offer = offer_request(
                principal=self.principal,
                licensee=licensee,
                uses=data["uses"],
                catalogue_ids=data.get("catalogues", []),
                work_ids=data.get("works", []),
                terms=data.get("terms"),
                message=data["message"],
                respond_by=data["respond_by"],
            )
        except errors.MarketplaceError as error:
            raise_problem(error)
        return self._detail(offer, status.HTTP_201_CREATED)

    @extend_schema(
        request=s.OfferCounterSerializer,
        responses={201: s.OfferDetailSerializer, **_CONFLICT_RESPONSES},
    )
    @action(detail=True, methods=["post"])
    def counter(self, request: Request, pk: str | None = None) -> Response:
        """Answer the latest version with a counter-proposal (only the terms you change)."""
        offer = self.get_object()
        payload = s.OfferCounterSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        data = payload.validated_data
        try:
            offer_counter(
                principal=self.principal,
                offer=offer,
                version=data["version"],
                terms=data.get("terms"),
                work_ids=data.get("works"),
                remove_work_ids=data.get("remove_works", []),
                message=data["message"],
                respond_by=data["respond_by"],
            )
        except errors.MarketplaceError as error:
            raise_problem(error)
        return self._detail(offer, status.HTTP_201_CREATED)

    @extend_schema(
        request=s.OfferAcceptSerializer,
        responses={201: s.AgreementSerializer, **_CONFLICT_RESPONSES},
    )
    @action(detail=True, methods=["post"])
    def accept(self, request: Request, pk: str | None = None) -> Response:
        """Accept the latest version, by number: the agreement is created."""
        offer = self.get_object()
        payload = s.OfferAcceptSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        try:
            agreement = offer_accept(
                principal=self.principal, offer=offer, version=payload.validated_data["version"]
            )
        except errors.MarketplaceError as error:
            raise_problem(error)
        return Response(s.AgreementSerializer(agreement).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        request=s.OfferRejectSerializer,
        responses={200: s.OfferDetailSerializer, **_CONFLICT_RESPONSES},
    )
    @action(detail=True, methods=["post"])
    def reject(self, request: Request, pk: str | None = None) -> Response:
        """Turn down the latest version; the negotiation ends."""
        offer = self.get_object()
        payload = s.OfferRejectSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        try:
            offer_reject(
                principal=self.principal,
                offer=offer,
                version=payload.validated_data["version"],
                message=payload.validated_data["message"],
            )
        except errors.MarketplaceError as error:
            raise_problem(error)
        return self._detail(offer)

    @extend_schema(
        request=s.OfferWithdrawSerializer,
        responses={200: s.OfferDetailSerializer, **_CONFLICT_RESPONSES},
    )
    @action(detail=True, methods=["post"])
    def withdraw(self, request: Request, pk: str | None = None) -> Response:
        """Take back your own latest proposal; the negotiation ends."""
        offer = self.get_object()
        payload = s.OfferWithdrawSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        try:
            offer_withdraw(
                principal=self.principal,
                offer=offer,
                version=payload.validated_data["version"],
                message=payload.validated_data["message"],
            )
        except errors.MarketplaceError as error:
            raise_problem(error)
        return self._detail(offer)

    @extend_schema(responses=s.ThreadStepSerializer(many=True))
    @action(detail=True, methods=["get"])
    def versions(self, request: Request, pk: str | None = None) -> Response:
        """Every version, oldest first, with the terms that changed from the one before."""
        steps = selectors.offer_thread(offer=self.get_object())
        page = self.paginate_queryset(steps)
        return self.get_paginated_response(s.ThreadStepSerializer(page, many=True).data)

    @extend_schema(
        parameters=[
            OpenApiParameter("version", int, description="Version number (default: the latest).")
        ],
        responses=s.SelectedWorkSerializer(many=True),
    )
    @action(detail=True, methods=["get"])
    def works(self, request: Request, pk: str | None = None) -> Response:
        """The works a version covers."""
        offer = self.get_object()
        raw = request.query_params.get("version", "")
        number = int(raw) if raw.isdigit() else offer.latest_version
        version = offer.versions.filter(number=number).first()
        if version is None:
            raise exceptions.NotFound(f"Offer {offer.pk} has no version {raw}.")
        works = selectors.offer_version_works(version=version).order_by("id")
        page = self.paginate_queryset(works)
        return self.get_paginated_response(s.SelectedWorkSerializer(page, many=True).data)


@extend_schema(tags=["agreements"])
class AgreementViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, TenantScopedGenericViewSet
):
    """Licence agreements you are a party to: status, terms, works, checkout, certificate."""

    serializer_class = s.AgreementSerializer
    filterset_fields = ["status", "licensee", "licensor", "offer"]
    ordering_fields = ["accepted_at", "ends_on"]

    def scoped_queryset(self, principal: Principal) -> QuerySet[Agreement]:
        return selectors.agreement_list(principal=principal).select_related(
            "accepted_version", "certificate"
        )

    @extend_schema(responses=s.AgreementWorkSerializer(many=True))
    @action(detail=True, methods=["get"])
    def works(self, request: Request, pk: str | None = None) -> Response:
        """The licensed works as frozen at acceptance, with their SHA-256 fingerprints."""
        page = self.paginate_queryset(selectors.agreement_works(agreement=self.get_object()))
        return self.get_paginated_response(s.AgreementWorkSerializer(page, many=True).data)

    @extend_schema(
        methods=["GET"],
        responses=s.CheckoutAttemptSerializer(many=True),
        description="Checkout attempts, newest first.",
    )
    @extend_schema(
        methods=["POST"],
        request=s.CheckoutStartSerializer,
        responses={
            201: s.CheckoutAttemptSerializer,
            403: OpenApiResponse(description="Only the licensee pays."),
            409: OpenApiResponse(description="Nothing to pay (not awaiting payment)."),
            503: OpenApiResponse(description="Stripe is unreachable; try again."),
        },
        description="Open a Stripe Checkout Session for the upfront fee; send the payer to "
        "`checkout_url`. The agreement becomes active when Stripe confirms the payment.",
    )
    @action(detail=True, methods=["get", "post"], url_path="checkout")
    def checkout(self, request: Request, pk: str | None = None) -> Response:
        agreement = self.get_object()
        if request.method == "GET":
            attempts = selectors.agreement_checkout_attempts(agreement=agreement)
            page = self.paginate_queryset(attempts)
            return self.get_paginated_response(s.CheckoutAttemptSerializer(page, many=True).data)
        payload = s.CheckoutStartSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        data = payload.validated_data
        page_url = settings.SITE_URL.rstrip("/") + reverse(
            "frontend:marketplace-agreement", args=[agreement.pk]
        )
        try:
            attempt = checkout_attempt_start(
                principal=self.principal,
                agreement=agreement,
                save_payment_method=data["save_payment_method"],
                success_url=data.get("success_url")
                or settings.SITE_URL.rstrip("/")
                + reverse("frontend:marketplace-checkout-return", args=[agreement.pk])
                + "?session_id={CHECKOUT_SESSION_ID}",
                cancel_url=data.get("cancel_url") or page_url,
            )
        except errors.MarketplaceError as error:
            raise_problem(error)
        return Response(s.CheckoutAttemptSerializer(attempt).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        responses={
            (200, "application/json"): OpenApiResponse(
                OpenApiTypes.OBJECT,
                description="The signed certificate document (canonical JSON).",
            )
        }
    )
    @action(detail=True, methods=["get"])
    def certificate(self, request: Request, pk: str | None = None) -> HttpResponse:
        """The signed licence certificate (once the agreement is active)."""
        agreement = self.get_object()
        certificate = getattr(agreement, "certificate", None)
        if certificate is None:
            raise exceptions.NotFound(
                f"Agreement {agreement.pk} has no certificate: it is not active yet."
            )
        return certificate_response(certificate_document(certificate=certificate), agreement)


def certificate_response(document: bytes, agreement: Agreement) -> HttpResponse:
    response = HttpResponse(document, content_type="application/json")
    response["Content-Disposition"] = (
        f'attachment; filename="trainright-licence-{agreement.pk}.json"'
    )
    return response


class VerifyRateThrottle(SimpleRateThrottle):
    """Public verification is throttled per client address."""

    rate = "600/min"

    def get_cache_key(self, request: Any, view: Any) -> str:
        return self.cache_format % {"scope": "certificate-verify", "ident": self.get_ident(request)}


@extend_schema(tags=["certificates"])
class CertificateVerifyView(APIView):
    """Verify a licence certificate. Public: no credentials needed."""

    authentication_classes: list[Any] = []
    permission_classes = [AllowAny]
    throttle_classes = [VerifyRateThrottle]
    parser_classes = [JSONParser, MultiPartParser, FormParser]

    @extend_schema(
        request={
            "application/json": s.CertificateVerifySerializer,
            "multipart/form-data": s.CertificateVerifySerializer,
        },
        responses={200: s.VerificationSerializer},
        auth=[],
        description="Says whether the certificate is `valid`, or `signature_invalid`, "
        "`unknown_key`, `expired`, `terminated`, `malformed`, or `not_covered` (genuine, but "
        "the content given by `sha256` or `file` is not among the licensed works).",
    )
    def post(self, request: Request) -> Response:
        payload = s.CertificateVerifySerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        data = payload.validated_data
        if "certificate_file" in data:
            document: bytes | str = data["certificate_file"].read()
        elif isinstance(data["certificate"], str):
            document = data["certificate"]
        else:
            document = json.dumps(data["certificate"])
        sha256 = sha256_of(data["file"]) if data.get("file") else data.get("sha256", "")
        verification = certificate_verify(document=document, sha256=sha256)
        return Response(s.VerificationSerializer(verification.as_dict()).data)


@extend_schema(tags=["certificates"])
class SigningKeysView(APIView):
    """The platform's certificate signing keys (also at /.well-known/trainright-keys.json)."""

    authentication_classes: list[Any] = []
    permission_classes = [AllowAny]

    @extend_schema(responses=s.PublishedKeysSerializer, auth=[])
    def get(self, request: Request) -> Response:
        return Response(published_keys())


@extend_schema(tags=["notifications"])
class NotificationViewSet(mixins.ListModelMixin, TenantScopedGenericViewSet):
    """What your organisations were told: offers awaiting your answer, agreements that changed."""

    serializer_class = s.NotificationSerializer
    filterset_fields = ["kind", "organisation", "offer", "agreement"]

    def scoped_queryset(self, principal: Principal) -> QuerySet[Notification]:
        unread = self.request.query_params.get("unread", "") in ("1", "true")
        return selectors.notification_list(principal=principal, unread=unread)

    @extend_schema(parameters=[OpenApiParameter("unread", bool, description="Only unread ones.")])
    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().list(request, *args, **kwargs)

    @extend_schema(request=None, responses=s.ReadCountSerializer)
    @action(detail=True, methods=["post"])
    def read(self, request: Request, pk: str | None = None) -> Response:
        notification = self.get_object()
        count = notification_mark_read(principal=self.principal, notification_id=notification.pk)
        return Response({"marked_read": count})

    @extend_schema(request=None, responses=s.ReadCountSerializer)
    @action(detail=False, methods=["post"], url_path="read-all")
    def read_all(self, request: Request) -> Response:
        return Response({"marked_read": notification_mark_read(principal=self.principal)})
