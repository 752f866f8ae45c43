"""Payouts and collections: a rights holder's balances (pending, payable, paid and why a payable
balance is not being paid), its payout threshold, "pay me now" and its payout history; a
licensee's amounts due and how to pay them; and for the platform's finance staff every payout
and collection, with retry and hold (each audited: who and when, in the payout's history).

Another organisation's payout or collection answers 404; a finance action asked for by
anyone but the platform's finance staff answers 403 (on one's own payout) or 404."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_field
from rest_framework import mixins, serializers, status
from rest_framework.decorators import action
from rest_framework.exceptions import APIException, NotFound, PermissionDenied
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.api.base import TenantScopedGenericViewSet
from accounts.api.problems import Conflict, Unprocessable
from accounts.models import Organisation, User
from accounts.selectors import platform_finance_check
from accounts.tenancy import Principal, principal_for_request
from payments import gateway
from payments.connect import PayoutSetup, payout_setup_for
from payouts import collections
from payouts import selectors as payouts_selectors
from payouts import services as payouts
from payouts.models import Collection, DuplicatePayment, Payout

MAX_MINOR = 10**15
"""The largest amount in minor units the API accepts (far beyond any real payout)."""


class StripeUnavailable(APIException):
    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    default_detail = "Stripe could not be reached just now; nothing was changed. Try again."
    default_code = "stripe_unavailable"


def _sees_everything(principal: Principal) -> bool:
    """Platform finance staff, or one of the platform's API keys, read every row."""
    return platform_finance_check(principal=principal) or platform_finance_check(
        principal=principal, api_keys=True
    )


def _actor(request: Request) -> User | None:
    return request.user if isinstance(request.user, User) else None


def _organisation_id(raw: Any) -> int | None:
    if raw in (None, ""):
        return None
    field = serializers.IntegerField(min_value=1, max_value=2**31 - 1)
    try:
        return int(field.run_validation(raw))
    except serializers.ValidationError as error:
        raise serializers.ValidationError({"organisation": error.detail}) from error


def _payee(request: Request, organisation_id: int | None, *, manage: bool = False) -> PayoutSetup:
    """The caller's payee organisation (the one named, or its first), 404 when it has none;
    ``manage``: only who may change payout settings (``accounts.roles``) may act."""
    principal = principal_for_request(request)
    try:
        setup = payout_setup_for(principal=principal, organisation_id=organisation_id)
    except Organisation.DoesNotExist as error:
        raise NotFound("No rights holder organisation of yours here.") from error
    if manage and not setup.can_manage:
        raise PermissionDenied(
            "Only an owner, an admin or a finance member of the organisation (or an admin "
            "API key) may change its payout settings."
        )
    return setup


_ORGANISATION_PARAMETER = OpenApiParameter(
    "organisation",
    int,
    description="Which of your rights holder organisations (default: your first by name).",
)


# --- Payouts -----------------------------------------------------------------------------------


class PayoutAuditEntrySerializer(serializers.Serializer):
    action = serializers.CharField()
    action_label = serializers.CharField(source="label")
    actor_email = serializers.CharField(help_text="Empty when the system acted.")
    at = serializers.DateTimeField()


class PayoutSerializer(serializers.ModelSerializer):
    holder_name = serializers.CharField(source="holder.name", read_only=True)
    requested_by_email = serializers.EmailField(
        source="requested_by.email", read_only=True, default=None
    )
    audit = serializers.SerializerMethodField(
        help_text="Who held, released, retried or asked for it, and when."
    )

    class Meta:
        model = Payout
        fields = [
            "id",
            "holder",
            "holder_name",
            "run",
            "currency",
            "amount_minor",
            "reversed_minor",
            "status",
            "on_hold",
            "attempts",
            "next_attempt_at",
            "failure_reason",
            "transfer_id",
            "requested_by_email",
            "created_at",
            "sent_at",
            "paid_at",
            "audit",
        ]
        read_only_fields = fields

    @extend_schema_field(PayoutAuditEntrySerializer(many=True))
    def get_audit(self, payout: Payout) -> list[dict[str, Any]]:
        trails: dict[int, list[payouts_selectors.PayoutAuditEntry]] = (
            self.context.get("audit_trails") or {}
        )
        if payout.pk not in trails:
            trails = payouts_selectors.payout_audit_trails(payout_ids=[payout.pk])
        return list(PayoutAuditEntrySerializer(trails.get(payout.pk, []), many=True).data)


class PayNowSerializer(serializers.Serializer):
    currency = serializers.RegexField(r"^[A-Za-z]{3}$", help_text="ISO 4217, e.g. USD.")
    organisation = serializers.IntegerField(
        min_value=1, max_value=2**31 - 1, required=False, help_text="Default: your first."
    )


class HoldSerializer(serializers.Serializer):
    on_hold = serializers.BooleanField(help_text="true holds the payout, false releases it.")


class PayoutViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, TenantScopedGenericViewSet):
    """Payouts: a rights holder's own (history with status and failure reasons), or every one
    for the platform's finance staff, who may retry a failed one or hold a scheduled one."""

    serializer_class = PayoutSerializer
    filterset_fields = ["status", "currency", "holder", "on_hold"]

    def scoped_queryset(self, principal: Principal) -> QuerySet[Payout]:
        if _sees_everything(principal):
            rows = payouts_selectors.payouts_for_finance()
        else:
            rows = payouts_selectors.payouts_visible_to(principal=principal)
        return rows.select_related("requested_by").order_by("-created_at", "-id")

    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        queryset = self.filter_queryset(self.get_queryset())
        page = self.paginate_queryset(queryset)
        rows = list(page if page is not None else queryset)
        trails = payouts_selectors.payout_audit_trails(payout_ids=[row.pk for row in rows])
        data = PayoutSerializer(rows, many=True, context={"audit_trails": trails}).data
        return self.get_paginated_response(data) if page is not None else Response(data)

    def _finance_actor(self) -> User:
        user = _actor(self.request)
        if user is None or not platform_finance_check(principal=self.principal):
            raise PermissionDenied("Only the platform's finance staff may do this.")
        return user

    def _done(self, payout: Payout) -> Response:
        return Response(PayoutSerializer(self.get_queryset().get(pk=payout.pk)).data)

    @extend_schema(request=PayNowSerializer, responses={201: PayoutSerializer})
    @action(detail=False, methods=["post"], url_path="pay-now")
    def pay_now(self, request: Request) -> Response:
        """Pay the whole payable balance in a currency now (at or above Stripe's minimum;
        the threshold does not apply). 422 below the minimum or with nothing payable, 409
        when onboarding is unfinished or a payout is already on its way."""
        payload = PayNowSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        setup = _payee(request, payload.validated_data.get("organisation"), manage=True)
        currency = payload.validated_data["currency"].upper()
        try:
            payout = payouts.payout_schedule(
                holder=setup.organisation,
                currency=currency,
                on_demand=True,
                requested_by=_actor(request),
            )
        except payouts.PayoutError as error:
            message = " ".join(error.messages)
            if error.code == "below_minimum":
                raise Unprocessable(
                    message, errors={"currency": [message]}, code="below_minimum"
                ) from error
            raise Conflict(message) from error
        assert payout is not None  # on demand: a refusal raises
        return Response(
            PayoutSerializer(Payout.objects.get(pk=payout.pk)).data,
            status=status.HTTP_201_CREATED,
        )

    @extend_schema(request=None, responses={200: PayoutSerializer})
    @action(detail=True, methods=["post"])
    def retry(self, request: Request, pk: str | None = None) -> Response:
        """Finance: send a failed payout again (same Stripe key: never a second transfer)."""
        payout = self.get_object()
        actor = self._finance_actor()
        try:
            payout = payouts.payout_retry(payout=payout, actor=actor)
        except payouts.PayoutError as error:
            raise Conflict(" ".join(error.messages), current=self._done(payout).data) from error
        return self._done(payout)

    @extend_schema(request=HoldSerializer, responses={200: PayoutSerializer})
    @action(detail=True, methods=["post"])
    def hold(self, request: Request, pk: str | None = None) -> Response:
        """Finance: hold a scheduled payout (it is not sent) or release it."""
        payout = self.get_object()
        actor = self._finance_actor()
        payload = HoldSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        try:
            payout = payouts.payout_hold(
                payout=payout, on_hold=payload.validated_data["on_hold"], actor=actor
            )
        except payouts.PayoutError as error:
            raise Conflict(" ".join(error.messages), current=self._done(payout).data) from error
        return self._done(payout)


# --- Balances and thresholds -------------------------------------------------------------------


class PayoutPositionSerializer(serializers.Serializer):
    currency = serializers.CharField()
    pending_minor = serializers.IntegerField(help_text="Earned, not yet collected.")
    payable_minor = serializers.IntegerField(
        help_text="Collected, less what is owed back and what a payout on its way reserves."
    )
    reserved_minor = serializers.IntegerField(help_text="In a payout on its way.")
    recoverable_minor = serializers.IntegerField(help_text="Owed back after a clawback.")
    paid_minor = serializers.IntegerField(help_text="Paid out, net of reversals.")
    threshold_minor = serializers.IntegerField(help_text="Your threshold (0: pay everything).")
    minimum_minor = serializers.IntegerField(help_text="Stripe's minimum payout.")
    can_pay_now = serializers.BooleanField()
    blocked_reason = serializers.CharField(
        help_text="Why the payable balance is not being paid (empty when it is)."
    )


class BalancesSerializer(serializers.Serializer):
    organisation = serializers.IntegerField()
    organisation_name = serializers.CharField()
    can_receive_transfers = serializers.BooleanField()
    currencies = PayoutPositionSerializer(many=True)


class BalancesView(APIView):
    """Your organisation's payout position per currency, in minor units."""

    @extend_schema(parameters=[_ORGANISATION_PARAMETER], responses={200: BalancesSerializer})
    def get(self, request: Request) -> Response:
        setup = _payee(request, _organisation_id(request.query_params.get("organisation")))
        positions = payouts_selectors.payout_positions_for(holder=setup.organisation)
        return Response(
            BalancesSerializer(
                {
                    "organisation": setup.organisation.pk,
                    "organisation_name": setup.organisation.name,
                    "can_receive_transfers": bool(
                        setup.account and setup.account.can_receive_transfers
                    ),
                    "currencies": positions,
                }
            ).data
        )


class PayoutThresholdSerializer(serializers.Serializer):
    organisation = serializers.IntegerField(read_only=True)
    currency = serializers.CharField(read_only=True)
    minimum_minor = serializers.IntegerField(
        min_value=0,
        max_value=MAX_MINOR,
        help_text="Pay out automatically only at or above this (minor units); 0: everything.",
    )


class PayoutThresholdView(APIView):
    """Your payout threshold in one currency: automatic payouts wait until the payable
    balance reaches it (below it, the balance carries forward). "Pay now" ignores it."""

    @extend_schema(parameters=[_ORGANISATION_PARAMETER], responses={200: PayoutThresholdSerializer})
    def get(self, request: Request, currency: str) -> Response:
        setup = _payee(request, _organisation_id(request.query_params.get("organisation")))
        minimum = payouts_selectors.payout_threshold_for(
            holder=setup.organisation, currency=currency.upper()
        )
        return Response(
            {
                "organisation": setup.organisation.pk,
                "currency": currency.upper(),
                "minimum_minor": minimum,
            }
        )

    @extend_schema(
        parameters=[_ORGANISATION_PARAMETER],
        request=PayoutThresholdSerializer,
        responses={200: PayoutThresholdSerializer},
    )
    def put(self, request: Request, currency: str) -> Response:
        payload = PayoutThresholdSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        setup = _payee(
            request, _organisation_id(request.query_params.get("organisation")), manage=True
        )
        try:
            row = payouts.payout_threshold_set(
                holder=setup.organisation,
                currency=currency.upper(),
                minimum_minor=payload.validated_data["minimum_minor"],
                actor=_actor(request),
            )
        except payouts.PayoutError as error:
            message = " ".join(error.messages)
            raise Unprocessable(message, errors={"minimum_minor": [message]}) from error
        return Response(
            {
                "organisation": row.holder_id,
                "currency": row.currency,
                "minimum_minor": row.minimum_minor,
            }
        )


# --- Collections -------------------------------------------------------------------------------


class DuplicatePaymentSerializer(serializers.ModelSerializer):
    """A payment that reached the invoice after it was paid, refunded automatically."""

    class Meta:
        model = DuplicatePayment
        fields = [
            "charge_id",
            "currency",
            "amount_minor",
            "fee_minor",
            "status",
            "refund_id",
            "created_at",
            "refunded_at",
        ]
        read_only_fields = fields


class CollectionSerializer(serializers.ModelSerializer):
    licensee_name = serializers.CharField(source="licensee.name", read_only=True)
    period = serializers.SerializerMethodField()
    duplicate_payments = DuplicatePaymentSerializer(many=True, read_only=True)

    class Meta:
        model = Collection
        fields = [
            "id",
            "licensee",
            "licensee_name",
            "run",
            "period",
            "currency",
            "amount_due_minor",
            "status",
            "attempts",
            "next_attempt_at",
            "failure_reason",
            "checkout_url",
            "collected_at",
            "created_at",
            "duplicate_payments",
        ]
        read_only_fields = fields

    @extend_schema_field(OpenApiTypes.STR)
    def get_period(self, collection: Collection) -> str:
        return f"{collection.run.period_start:%Y-%m}"


class CheckoutSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    checkout_url = serializers.URLField()


class CollectionViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, TenantScopedGenericViewSet
):
    """Collections (invoices): what a licensee owes per settled month and currency, with its
    status (due, failed, overdue, paid); every one for the platform's finance staff."""

    serializer_class = CollectionSerializer
    filterset_fields = ["status", "currency", "licensee", "run"]

    def scoped_queryset(self, principal: Principal) -> QuerySet[Collection]:
        if _sees_everything(principal):
            return payouts_selectors.collections_for_finance().order_by("-created_at", "-id")
        return payouts_selectors.collections_visible_to(principal=principal).order_by(
            "-created_at", "-id"
        )

    @extend_schema(request=None, responses={200: CheckoutSerializer})
    @action(detail=True, methods=["post"])
    def pay(self, request: Request, pk: str | None = None) -> Response:
        """The licensee's Stripe Checkout page for an unpaid invoice (opened once, then the
        same one). 409 when it is already paid."""
        collection = self.get_object()
        if collection.licensee_id not in self.principal.organisation_ids:
            raise PermissionDenied("Only the licensee pays its invoices.")
        try:
            collection = collections.collection_checkout_for(
                collection=collection, base_url=request.build_absolute_uri("/")
            )
        except collections.CollectionError as error:
            raise Conflict(str(error), current=CollectionSerializer(collection).data) from error
        except gateway.GatewayError as error:
            raise StripeUnavailable() from error
        if not collection.checkout_url:
            raise Conflict("Stripe gave no payment page; try again.")
        return Response({"id": collection.pk, "checkout_url": collection.checkout_url})
