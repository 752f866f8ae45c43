"""Settlement runs (platform finance only) and statements (holders see their own)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db.models import QuerySet
from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_field
from rest_framework import mixins, serializers, status
from rest_framework.decorators import action
from rest_framework.exceptions import PermissionDenied
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.api.base import TenantScopedGenericViewSet, TenantScopedReadOnlyViewSet
from accounts.api.problems import Conflict, Unprocessable
from accounts.models import User
from accounts.selectors import platform_finance_check
from accounts.tenancy import Principal
from settlement.models import SettlementRun, Statement
from settlement.selectors import (
    settlement_run_list,
    statement_csv,
    statement_list,
    statement_pdf,
)
from settlement.services import (
    RunProgress,
    SettlementError,
    settlement_run_create,
    settlement_run_progress,
    settlement_run_start,
)


class SettlementRunSerializer(serializers.ModelSerializer):
    period = serializers.SerializerMethodField()
    chunks_done = serializers.SerializerMethodField()
    lines_rated = serializers.SerializerMethodField()
    percent_done = serializers.SerializerMethodField()

    class Meta:
        model = SettlementRun
        fields = [
            "id",
            "period",
            "period_start",
            "period_end",
            "posting_date",
            "status",
            "agreements_total",
            "chunks_total",
            "chunks_done",
            "lines_total",
            "lines_rated",
            "percent_done",
            "statements_total",
            "error",
            "created_at",
            "started_at",
            "completed_at",
        ]
        read_only_fields = fields

    def _progress(self, run: SettlementRun) -> RunProgress:
        cache: dict[int, RunProgress] = self.__dict__.setdefault("_progress_by_run", {})
        if run.pk not in cache:
            cache[run.pk] = settlement_run_progress(run=run)
        return cache[run.pk]

    @extend_schema_field(OpenApiTypes.STR)
    def get_period(self, run: SettlementRun) -> str:
        return f"{run.period_start:%Y-%m}"

    @extend_schema_field(OpenApiTypes.INT)
    def get_chunks_done(self, run: SettlementRun) -> int:
        return self._progress(run).chunks_done

    @extend_schema_field(OpenApiTypes.INT)
    def get_lines_rated(self, run: SettlementRun) -> int:
        return self._progress(run).lines_rated

    @extend_schema_field(OpenApiTypes.INT)
    def get_percent_done(self, run: SettlementRun) -> int:
        return self._progress(run).percent


class SettlementRunCreateSerializer(serializers.Serializer):
    period = serializers.RegexField(
        r"^\d{4}-(0[1-9]|1[0-2])$", help_text="The month to settle, YYYY-MM (UTC)."
    )
    start = serializers.BooleanField(default=False, help_text="Start the run at once.")


class SettlementRunViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, TenantScopedGenericViewSet
):
    """Settlement runs, one per month: create, start (or resume) and watch progress."""

    serializer_class = SettlementRunSerializer
    filterset_fields = ["status", "period_start"]

    def scoped_queryset(self, principal: Principal) -> QuerySet[SettlementRun]:
        return settlement_run_list(principal=principal)

    def _actor(self) -> User | None:
        return self.request.user if isinstance(self.request.user, User) else None

    @extend_schema(request=SettlementRunCreateSerializer, responses={201: SettlementRunSerializer})
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        if not platform_finance_check(principal=self.principal, api_keys=True):
            raise PermissionDenied("Only the platform's finance team runs settlement.")
        payload = SettlementRunCreateSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        year, month = map(int, payload.validated_data["period"].split("-"))
        try:
            run = settlement_run_create(period_start=dt.date(year, month, 1), actor=self._actor())
            if payload.validated_data["start"]:
                run = settlement_run_start(run=run, actor=self._actor())
        except SettlementError as error:
            raise Unprocessable(str(error), errors={"period": [str(error)]}) from error
        return Response(SettlementRunSerializer(run).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=None, responses={200: SettlementRunSerializer})
    @action(detail=True, methods=["post"])
    def start(self, request: Request, pk: str | None = None) -> Response:
        """Start the run, or resume a running one (its unfinished chunks are queued again)."""
        run = self.get_object()
        try:
            run = settlement_run_start(run=run, actor=self._actor())
        except SettlementError as error:
            raise Conflict(str(error), current=SettlementRunSerializer(run).data) from error
        return Response(SettlementRunSerializer(run).data)


class StatementSerializer(serializers.ModelSerializer):
    holder_name = serializers.CharField(source="holder.name", read_only=True)
    period = serializers.SerializerMethodField()
    carry_forward_exact = serializers.DecimalField(max_digits=40, decimal_places=18, read_only=True)

    class Meta:
        model = Statement
        fields = [
            "id",
            "run",
            "holder",
            "holder_name",
            "currency",
            "period",
            "period_start",
            "period_end",
            "opening_balance_minor",
            "earned_minor",
            "closing_balance_minor",
            "carry_forward_exact",
            "line_count",
            "sha256",
            "created_at",
        ]
        read_only_fields = fields

    @extend_schema_field(OpenApiTypes.STR)
    def get_period(self, statement: Statement) -> str:
        return f"{statement.period_start:%Y-%m}"


class StatementViewSet(TenantScopedReadOnlyViewSet):
    """Royalty statements: a rights holder's own, or every one for platform finance."""

    serializer_class = StatementSerializer
    filterset_fields = ["holder", "currency", "period_start", "run"]

    def scoped_queryset(self, principal: Principal) -> QuerySet[Statement]:
        return statement_list(principal=principal)

    @extend_schema(
        responses={(200, "text/csv"): OpenApiResponse(OpenApiTypes.STR, description="CSV")}
    )
    @action(detail=True, methods=["get"])
    def csv(self, request: Request, pk: str | None = None) -> HttpResponse:
        statement = self.get_object()
        response = HttpResponse(statement_csv(statement=statement), content_type="text/csv")
        response["Content-Disposition"] = f'attachment; filename="{_filename(statement)}.csv"'
        return response

    @extend_schema(
        responses={
            (200, "application/pdf"): OpenApiResponse(OpenApiTypes.BINARY, description="PDF")
        }
    )
    @action(detail=True, methods=["get"])
    def pdf(self, request: Request, pk: str | None = None) -> HttpResponse:
        statement = self.get_object()
        response = HttpResponse(statement_pdf(statement=statement), content_type="application/pdf")
        response["Content-Disposition"] = f'attachment; filename="{_filename(statement)}.pdf"'
        return response


def _filename(statement: Statement) -> str:
    return f"statement-{statement.period_start:%Y-%m}-{statement.holder_id}-{statement.currency}"
