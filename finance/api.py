"""The finance API: reconciliation runs and the exceptions queue, accounting periods (checks,
close, reopen), reports and exports. Only the platform organisation's finance staff (people
with a finance or owner membership) see any of it; to everyone else these are not their data
and every route answers 404."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.http import FileResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_field
from rest_framework import mixins, serializers, status
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.api.base import TenantScopedGenericViewSet
from accounts.api.problems import Conflict, Unprocessable
from accounts.models import User
from accounts.selectors import platform_finance_check
from accounts.tenancy import Principal, principal_for_request
from finance import exports, period_close, reconciliation
from finance import selectors as finance_selectors
from finance.models import (
    FinanceExport,
    ReconciliationComment,
    ReconciliationException,
    ReconciliationRun,
)
from finance.reports import REPORTS, ReportFilters, report_build
from ledger.models import AccountingPeriod

PERIOD_REGEX = r"^\d{4}-(0[1-9]|1[0-2])$"


def _finance_or_404(principal: Principal) -> None:
    if not platform_finance_check(principal=principal):
        raise NotFound()


class FinanceViewSetMixin:
    """Everything here is the platform's own books: finance staff only, others get 404."""

    request: Any

    @property
    def actor(self) -> User:
        user = self.request.user
        assert isinstance(user, User)
        return user


# --- Reconciliation --------------------------------------------------------------------------


class ReconciliationRunSerializer(serializers.ModelSerializer):
    totals = serializers.DictField(
        child=serializers.DictField(child=serializers.IntegerField()),
        help_text="Per currency, minor units: stripe_net, ledger_net, matched_net, matched_count.",
    )

    class Meta:
        model = ReconciliationRun
        fields = [
            "id",
            "window_start",
            "window_end",
            "status",
            "imported_count",
            "matched_count",
            "exception_count",
            "totals",
            "error",
            "created_at",
            "completed_at",
        ]
        read_only_fields = fields


class ReconciliationRunCreateSerializer(serializers.Serializer):
    period = serializers.RegexField(PERIOD_REGEX, help_text="The month to reconcile, YYYY-MM.")


class ReconciliationRunViewSet(
    FinanceViewSetMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    TenantScopedGenericViewSet,
):
    """Reconciliation runs: start one for a month (it runs in the background), read totals."""

    serializer_class = ReconciliationRunSerializer
    filterset_fields = ["status"]

    def scoped_queryset(self, principal: Principal) -> QuerySet[ReconciliationRun]:
        if not platform_finance_check(principal=principal):
            return ReconciliationRun.objects.none()
        return finance_selectors.reconciliation_run_list()

    @extend_schema(
        request=ReconciliationRunCreateSerializer, responses={202: ReconciliationRunSerializer}
    )
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        _finance_or_404(self.principal)
        payload = ReconciliationRunCreateSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        period = period_close.period_for_label(label=payload.validated_data["period"])
        run = reconciliation.reconciliation_run_queue(period=period, actor=self.actor)
        return Response(ReconciliationRunSerializer(run).data, status=status.HTTP_202_ACCEPTED)


class ReconciliationCommentSerializer(serializers.ModelSerializer):
    author_email = serializers.EmailField(source="author.email", read_only=True)

    class Meta:
        model = ReconciliationComment
        fields = ["id", "author_email", "body", "created_at"]
        read_only_fields = fields


class ReconciliationExceptionSerializer(serializers.ModelSerializer):
    assignee_email = serializers.EmailField(source="assignee.email", read_only=True, default=None)
    resolved_by_email = serializers.EmailField(
        source="resolved_by.email", read_only=True, default=None
    )
    comments = ReconciliationCommentSerializer(many=True, read_only=True)

    class Meta:
        model = ReconciliationException
        fields = [
            "id",
            "run",
            "last_seen_run",
            "kind",
            "status",
            "stripe_object_id",
            "stripe_event",
            "entry",
            "occurred_on",
            "currency",
            "expected_minor",
            "actual_minor",
            "detail",
            "assignee_email",
            "resolution_reason",
            "resolved_by_email",
            "resolved_at",
            "adjusting_entry",
            "comments",
        ]
        read_only_fields = fields


class AssignSerializer(serializers.Serializer):
    assignee_id = serializers.IntegerField(help_text="A finance user's id.")


class CommentSerializer(serializers.Serializer):
    body = serializers.CharField(max_length=5000)


class ResolveSerializer(serializers.Serializer):
    resolution = serializers.ChoiceField(choices=reconciliation.Resolution.CHOICES)
    reason = serializers.CharField(max_length=2000)
    counter_account_code = serializers.ChoiceField(
        choices=[str(code) for code in reconciliation.COUNTER_ACCOUNT_CODES],
        default="write_offs",
        help_text="Balances an adjustment when cash and fee alone don't.",
    )


class ReconciliationExceptionViewSet(
    FinanceViewSetMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    TenantScopedGenericViewSet,
):
    """The exceptions queue: assign, comment, resolve with a reason (audited)."""

    serializer_class = ReconciliationExceptionSerializer
    filterset_fields = ["status", "kind", "currency", "run"]

    def scoped_queryset(self, principal: Principal) -> QuerySet[ReconciliationException]:
        if not platform_finance_check(principal=principal):
            return ReconciliationException.objects.none()
        return finance_selectors.reconciliation_exception_list().prefetch_related(
            "comments__author"
        )

    def _done(self, exception: ReconciliationException) -> Response:
        return Response(self.get_serializer(self.get_queryset().get(pk=exception.pk)).data)

    @extend_schema(request=AssignSerializer, responses={200: ReconciliationExceptionSerializer})
    @action(detail=True, methods=["post"])
    def assign(self, request: Request, pk: str | None = None) -> Response:
        exception = self.get_object()
        payload = AssignSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        assignee = User.objects.filter(pk=payload.validated_data["assignee_id"]).first()
        if assignee is None:
            raise Unprocessable("No such user.", errors={"assignee_id": ["No such user."]})
        reconciliation.reconciliation_exception_assign(
            exception=exception, assignee=assignee, actor=self.actor
        )
        return self._done(exception)

    @extend_schema(request=CommentSerializer, responses={200: ReconciliationExceptionSerializer})
    @action(detail=True, methods=["post"])
    def comment(self, request: Request, pk: str | None = None) -> Response:
        exception = self.get_object()
        payload = CommentSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        reconciliation.reconciliation_exception_comment(
            exception=exception, body=payload.validated_data["body"], actor=self.actor
        )
        return self._done(exception)

    @extend_schema(request=ResolveSerializer, responses={200: ReconciliationExceptionSerializer})
    @action(detail=True, methods=["post"])
    def resolve(self, request: Request, pk: str | None = None) -> Response:
        exception = self.get_object()
        payload = ResolveSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        try:
            reconciliation.reconciliation_exception_resolve(
                exception=exception,
                resolution=payload.validated_data["resolution"],
                reason=payload.validated_data["reason"],
                counter_account_code=payload.validated_data["counter_account_code"],
                actor=self.actor,
            )
        except ValidationError as error:
            message = " ".join(error.messages)
            raise Unprocessable(message, errors={"resolution": [message]}) from error
        return self._done(exception)

    @extend_schema(request=None, responses={200: ReconciliationExceptionSerializer})
    @action(detail=True, methods=["post"])
    def retry(self, request: Request, pk: str | None = None) -> Response:
        """A failed posting (``posting_failed``): run its Stripe event's handlers again.
        Resolved on success; 409 saying why when it still fails or is no failed posting."""
        exception = self.get_object()
        try:
            reconciliation.reconciliation_exception_retry(exception=exception, actor=self.actor)
        except ValidationError as error:
            raise Conflict(" ".join(error.messages), current=self._done(exception).data) from error
        return self._done(exception)


# --- Periods ---------------------------------------------------------------------------------


class CloseCheckSerializer(serializers.Serializer):
    name = serializers.CharField()
    passed = serializers.BooleanField()
    detail = serializers.CharField()


class AccountingPeriodSerializer(serializers.ModelSerializer):
    period_label = serializers.CharField(source="label", read_only=True)
    checks = serializers.SerializerMethodField()

    class Meta:
        model = AccountingPeriod
        fields = [
            "id",
            "period_label",
            "year",
            "month",
            "status",
            "closed_at",
            "reopened_at",
            "reopen_reason",
            "checks",
        ]
        read_only_fields = fields

    @extend_schema_field(CloseCheckSerializer(many=True))
    def get_checks(self, period: AccountingPeriod) -> list[dict[str, Any]]:
        return [
            {"name": check.name, "passed": check.passed, "detail": check.detail}
            for check in period_close.period_close_checks(period=period)
        ]


class ReopenSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=2000)


class AccountingPeriodViewSet(
    FinanceViewSetMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    TenantScopedGenericViewSet,
):
    """Accounting periods with their close checks; close (finance) and reopen (owners)."""

    serializer_class = AccountingPeriodSerializer
    filterset_fields = ["status", "year"]

    def scoped_queryset(self, principal: Principal) -> QuerySet[AccountingPeriod]:
        if not platform_finance_check(principal=principal):
            return AccountingPeriod.objects.none()
        return finance_selectors.accounting_period_list()

    @extend_schema(request=None, responses={200: AccountingPeriodSerializer})
    @action(detail=True, methods=["post"])
    def close(self, request: Request, pk: str | None = None) -> Response:
        """Close the period if its checks pass; 409 naming the failing checks otherwise."""
        period = self.get_object()
        try:
            period = period_close.period_close_with_checks(period=period, actor=self.actor)
        except ValidationError as error:
            raise Conflict(
                " ".join(error.messages), current=self.get_serializer(period).data
            ) from error
        return Response(self.get_serializer(period).data)

    @extend_schema(request=ReopenSerializer, responses={200: AccountingPeriodSerializer})
    @action(detail=True, methods=["post"])
    def reopen(self, request: Request, pk: str | None = None) -> Response:
        period = self.get_object()
        payload = ReopenSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        period = period_close.period_reopen_for(
            period=period, actor=self.actor, reason=payload.validated_data["reason"]
        )
        return Response(self.get_serializer(period).data)


# --- Reports and exports ---------------------------------------------------------------------


def filters_from_query(params: Any) -> ReportFilters:
    """Period (YYYY-MM) and currency from query parameters; bad values answer 422."""
    label = (params.get("period") or "").strip()
    currency = (params.get("currency") or "").strip().upper() or None
    errors: dict[str, list[str]] = {}
    period = None
    if label:
        try:
            dt.date(int(label[:4]), int(label[5:7]), 1)
            if len(label) != 7 or label[4] != "-":
                raise ValueError(label)
            period = period_close.period_for_label(label=label)
        except ValueError:
            errors["period"] = ["A period is YYYY-MM."]
    if currency is not None and not (len(currency) == 3 and currency.isalpha()):
        errors["currency"] = ["A currency is a 3-letter ISO 4217 code."]
    if errors:
        raise Unprocessable("Invalid report filters.", errors=errors)
    return ReportFilters(period=period, currency=currency)


_FILTER_PARAMETERS = [
    OpenApiParameter("period", str, description="YYYY-MM"),
    OpenApiParameter("currency", str, description="ISO 4217, e.g. USD"),
]


class ReportResponseSerializer(serializers.Serializer):
    name = serializers.CharField()
    title = serializers.CharField()
    columns = serializers.ListField(child=serializers.DictField())
    rows = serializers.ListField(child=serializers.ListField())
    chart = serializers.DictField(allow_null=True)


class FinanceReportView(APIView):
    """One report as JSON (columns, rows, chart); money in minor units."""

    @extend_schema(parameters=_FILTER_PARAMETERS, responses={200: ReportResponseSerializer})
    def get(self, request: Request, name: str) -> Response:
        _finance_or_404(principal_for_request(request))
        if name not in REPORTS:
            raise NotFound(f"No report named {name!r}.")
        report = report_build(name=name, filters=filters_from_query(request.query_params))
        return Response(
            {
                "name": report.name,
                "title": report.title,
                "columns": [
                    {"key": c.key, "label": c.label, "money": c.money} for c in report.columns
                ],
                "rows": [list(row) for row in report.rows()],
                "chart": report.chart,
            }
        )


class FinanceExportSerializer(serializers.ModelSerializer):
    percent = serializers.IntegerField(read_only=True)

    class Meta:
        model = FinanceExport
        fields = [
            "id",
            "kind",
            "file_format",
            "params",
            "status",
            "progress_done",
            "progress_total",
            "percent",
            "filename",
            "error",
            "created_at",
            "completed_at",
        ]
        read_only_fields = fields


class FinanceExportCreateSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=[*REPORTS, "journal", "statements"])
    file_format = serializers.ChoiceField(choices=["csv", "xlsx", "zip"], default="csv")
    period = serializers.RegexField(PERIOD_REGEX, required=False, allow_blank=True)
    currency = serializers.RegexField(r"^[A-Z]{3}$", required=False, allow_blank=True)


class FinanceExportViewSet(
    FinanceViewSetMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    TenantScopedGenericViewSet,
):
    """Exports built in the background, with progress; download when completed."""

    serializer_class = FinanceExportSerializer
    filterset_fields = ["status", "kind"]

    def scoped_queryset(self, principal: Principal) -> QuerySet[FinanceExport]:
        if not platform_finance_check(principal=principal):
            return FinanceExport.objects.none()
        return FinanceExport.objects.order_by("-created_at", "-id")

    @extend_schema(request=FinanceExportCreateSerializer, responses={202: FinanceExportSerializer})
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        _finance_or_404(self.principal)
        payload = FinanceExportCreateSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        data = payload.validated_data
        filters = filters_from_query(data)
        try:
            export = exports.finance_export_request(
                kind=data["kind"],
                file_format=data["file_format"],
                filters=filters,
                actor=self.actor,
            )
        except ValueError as error:
            raise Unprocessable(str(error), errors={"file_format": [str(error)]}) from error
        return Response(FinanceExportSerializer(export).data, status=status.HTTP_202_ACCEPTED)

    @extend_schema(responses={(200, "application/octet-stream"): OpenApiTypes.BINARY})
    @action(detail=True, methods=["get"])
    def download(self, request: Request, pk: str | None = None) -> FileResponse:
        export = self.get_object()
        if export.status != FinanceExport.Status.COMPLETED:
            raise NotFound("The export is not ready yet.")
        return FileResponse(
            exports.export_open(export), as_attachment=True, filename=export.filename
        )
