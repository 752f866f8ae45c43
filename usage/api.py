"""The usage report API: a licensee posts a report's lines as JSON Lines (gzip accepted) or
CSV; both parties list and read reports; the stored lines download as JSON Lines.

The upload view never touches ``request.data``: the body is streamed from the request into
the ingestion (``usage.ingest``), whatever its size."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from typing import IO, Any

from django.conf import settings
from django.db.models import QuerySet
from django.http import StreamingHttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import exceptions, generics, mixins, serializers, status
from rest_framework.decorators import action
from rest_framework.parsers import BaseParser
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.api.base import TenantScopedGenericViewSet, TenantScopedMixin
from accounts.api.problems import (
    PROBLEM_CONTENT_TYPE,
    Conflict,
    PayloadTooLarge,
    Unprocessable,
    problem_body,
)
from accounts.models import ApiKey, User
from accounts.tenancy import Principal
from marketplace.models import Agreement
from usage import selectors as usage_selectors
from usage import services as usage
from usage.ingest import KEPT_ERRORS, ContentFormat, ErrorLog
from usage.models import UsageReport

JSON_LINES_TYPES = ("application/x-ndjson", "application/jsonl")
CSV_TYPE = "text/csv"
_ENCODINGS = ("", "identity", "gzip")
_LINE_FIELDS = ("line", "work_id", "metric", "quantity", "use")


class UsageLineErrorSerializer(serializers.Serializer[None]):
    line = serializers.IntegerField(allow_null=True, help_text="1-based line of the file.")
    field = serializers.CharField(allow_null=True)
    code = serializers.CharField()
    reason = serializers.CharField()


class UsageReportSerializer(serializers.ModelSerializer[UsageReport]):
    period = serializers.CharField(source="period_label", help_text="YYYY-MM")
    rejected_lines = UsageLineErrorSerializer(
        source="errors",
        many=True,
        help_text="The first 1,000 bad lines a partial acceptance left out.",
    )

    class Meta:
        model = UsageReport
        fields = [
            "id",
            "agreement",
            "report_id",
            "period",
            "period_start",
            "period_end",
            "version",
            "is_current",
            "supersedes",
            "status",
            "currency",
            "line_count",
            "rejected_line_count",
            "rejected_lines",
            "content_sha256",
            "source",
            "submitted_at",
        ]
        read_only_fields = fields
        extra_kwargs = {"period_end": {"help_text": "First day after the month (exclusive)."}}


class UsageReportUploadParameters(serializers.Serializer[None]):
    report_id = serializers.RegexField(
        r"^\S(.{0,98}\S)?$",
        max_length=100,
        help_text="Your id for the report. New content under the same id is a correction.",
    )
    period = serializers.CharField(help_text="The month reported, YYYY-MM (UTC).")
    partial = serializers.BooleanField(  # type: ignore[assignment]  # the query parameter
        default=False, help_text="Store the good lines and report the bad ones."
    )
    replace_with_empty = serializers.BooleanField(
        default=False,
        help_text="Accept a version with no lines (an empty body, blank lines only, a CSV "
        "header only). Without it such a version is refused with 422 `empty_report`.",
    )
    confirm_reduction = serializers.BooleanField(
        default=False,
        help_text="Accept a correction whose total (the sum of its quantities) is less than "
        "half the current version's. Without it: 422 `large_reduction`, with `current_total` "
        "and `new_total`.",
    )

    def validate_period(self, value: str) -> Any:
        try:
            return usage.period_parse(value)
        except ValueError as error:
            raise serializers.ValidationError(str(error)) from None


class _StreamedBodyParser(BaseParser):
    """Declares the accepted body types; the view streams the body itself."""

    def parse(self, stream: Any, media_type: Any = None, parser_context: Any = None) -> Any:
        raise exceptions.UnsupportedMediaType(media_type)


class JsonLinesParser(_StreamedBodyParser):
    media_type = "application/x-ndjson"


class JsonlParser(_StreamedBodyParser):
    media_type = "application/jsonl"


class CsvParser(_StreamedBodyParser):
    media_type = CSV_TYPE


class JsonLinesRenderer(BaseRenderer):
    media_type = "application/x-ndjson"
    format = "jsonl"
    charset = None

    def render(
        self, data: Any, accepted_media_type: Any = None, renderer_context: Any = None
    ) -> bytes:
        return json.dumps(data).encode()


_UPLOAD_SCHEMA = {media_type: OpenApiTypes.BINARY for media_type in (*JSON_LINES_TYPES, CSV_TYPE)}


class AgreementUsageReportsView(TenantScopedMixin, mixins.ListModelMixin, generics.GenericAPIView):
    """An agreement's usage reports: its licensee posts them; both parties list them."""

    serializer_class = UsageReportSerializer
    parser_classes = [JsonLinesParser, JsonlParser, CsvParser]
    filterset_fields = ["report_id", "period_start", "is_current", "status"]

    def scoped_queryset(self, principal: Principal) -> QuerySet[UsageReport]:
        if getattr(self, "swagger_fake_view", False):  # schema generation: no URL kwargs
            return UsageReport.objects.none()
        return usage_selectors.usage_report_list(principal=principal).filter(
            agreement_id=self.kwargs["agreement_id"]
        )

    def _agreement(self) -> Agreement:
        agreement = usage_selectors.agreement_for_usage(
            principal=self.principal, agreement_id=self.kwargs["agreement_id"]
        )
        if agreement is None:
            raise exceptions.NotFound("No such agreement.")
        return agreement

    @extend_schema(summary="List an agreement's usage report versions")
    def get(self, request: Request, agreement_id: int) -> Response:
        self._agreement()
        return self.list(request)

    @extend_schema(
        summary="Report usage (JSON Lines, gzip accepted, or CSV)",
        description=(
            "One line per (work, metric, quantity); the format is in docs/usage-reports.md. "
            "Stream the body; `Content-Encoding: gzip` (or a gzipped body) is accepted. "
            "201: stored as a new version; 200: the content is a duplicate of a stored "
            "version, which is answered; 422: rejected, nothing stored, `errors` lists every "
            "bad line with its line number, field and reason (`usage_report_rejected`); "
            "or, nothing stored either, `empty_report` (the version has no lines: send "
            "`replace_with_empty=true` if that is meant) or `large_reduction` (the version's "
            "total is less than half the current version's: send `confirm_reduction=true` if "
            "that is meant), both with `current_total` and `new_total`. Versions are never "
            "edited or deleted."
        ),
        parameters=[UsageReportUploadParameters],
        request=_UPLOAD_SCHEMA,
        responses={
            201: UsageReportSerializer,
            200: OpenApiResponse(UsageReportSerializer, description="A duplicate: stored once."),
            415: OpenApiResponse(
                description="Not JSON Lines or CSV, or a Content-Encoding other than gzip."
            ),
        },
    )
    def post(self, request: Request, agreement_id: int) -> Response | StreamingHttpResponse:
        agreement = self._agreement()
        if not usage_selectors.is_licensee(principal=self.principal, agreement=agreement):
            raise exceptions.PermissionDenied("Only the agreement's licensee reports usage.")
        parameters = UsageReportUploadParameters(data=request.query_params)
        parameters.is_valid(raise_exception=True)
        content_format = _content_format(request)
        try:
            submission = usage.usage_report_submit(
                agreement=agreement,
                report_id=parameters.validated_data["report_id"],
                period_start=parameters.validated_data["period"],
                content=_bounded_body(request),
                content_format=content_format,
                partial=parameters.validated_data["partial"],
                replace_with_empty=parameters.validated_data["replace_with_empty"],
                confirm_reduction=parameters.validated_data["confirm_reduction"],
                source=UsageReport.Source.API,
                submitted_by=request.user if isinstance(request.user, User) else None,
                api_key=request.auth if isinstance(request.auth, ApiKey) else None,
            )
        except usage.UsageReportRejected as rejected:
            return rejected_response(request.path, rejected)
        except usage.UsageReportConflict as conflict:
            current = UsageReportSerializer(conflict.current).data
            raise Conflict(str(conflict), current=current) from None
        except usage.UsageReportNeedsConfirmation as refused:
            raise Unprocessable(
                refused.message,
                code=refused.code,
                extra={"current_total": refused.current_total, "new_total": refused.new_total},
            ) from None
        submission.left_out.close()
        return Response(
            UsageReportSerializer(submission.report).data,
            status=status.HTTP_201_CREATED if submission.created else status.HTTP_200_OK,
        )


def _too_large(limit: int) -> PayloadTooLarge:
    return PayloadTooLarge(
        f"A usage report body may be at most {limit:,} bytes as sent; split the month into "
        "several reports (one per agreement and report id) or gzip it."
    )


def _bounded_body(request: Request) -> IO[bytes]:
    """The body, refused (413, nothing stored) when its declared length is over the limit.
    Django reads exactly Content-Length bytes of a request body (none without one), so the
    declared length is the size."""
    limit = settings.USAGE_REPORT_MAX_BYTES
    declared = request.META.get("CONTENT_LENGTH") or ""
    if declared.isdigit() and int(declared) > limit:
        raise _too_large(limit)
    return request.stream or io.BytesIO()


def _content_format(request: Request) -> ContentFormat:
    media_type = (request.content_type or "").split(";")[0].strip().lower()
    encoding = request.META.get("HTTP_CONTENT_ENCODING", "").strip().lower()
    if encoding not in _ENCODINGS:
        raise exceptions.UnsupportedMediaType(
            media_type, detail=f"Content-Encoding {encoding!r} is not supported: use gzip."
        )
    if media_type in JSON_LINES_TYPES:
        return ContentFormat.JSON_LINES
    if media_type == CSV_TYPE:
        return ContentFormat.CSV
    raise exceptions.UnsupportedMediaType(
        media_type,
        detail="Send application/x-ndjson (JSON Lines) or text/csv; gzip is accepted.",
    )


def rejected_response(path: str, rejected: usage.UsageReportRejected) -> StreamingHttpResponse:
    """422 with every bad line. Up to KEPT_ERRORS the usual problem document; beyond, the same
    document streamed from the spooled error log, so a million bad lines never sit in memory."""
    log = rejected.errors
    if log.count <= KEPT_ERRORS:
        errors = log.first
        log.close()
        raise Unprocessable(rejected.detail, errors=errors, code="usage_report_rejected")
    head = problem_body(
        status_code=422, detail=rejected.detail, code="usage_report_rejected", instance=path
    )
    return StreamingHttpResponse(
        _streamed_problem(head, log), status=422, content_type=PROBLEM_CONTENT_TYPE
    )


def _streamed_problem(head: dict[str, Any], log: ErrorLog) -> Iterator[bytes]:
    try:
        yield json.dumps(head).encode()[:-1] + b', "errors": ['
        batch: list[bytes] = []
        for index, encoded in enumerate(log.iter_encoded()):
            batch.append(encoded if not index else b"," + encoded)
            if len(batch) == 10_000:
                yield b"".join(batch)
                batch.clear()
        yield b"".join(batch) + b"]}"
    finally:
        log.close()


class UsageReportViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, TenantScopedGenericViewSet
):
    """Usage report versions the caller's organisations sent (licensee) or received (licensor)."""

    serializer_class = UsageReportSerializer
    filterset_fields = ["agreement", "report_id", "period_start", "is_current", "status"]

    def scoped_queryset(self, principal: Principal) -> QuerySet[UsageReport]:
        return usage_selectors.usage_report_list(principal=principal)

    @extend_schema(
        summary="Download a report version's stored lines as JSON Lines",
        responses={
            (200, "application/x-ndjson"): OpenApiResponse(
                OpenApiTypes.STR,
                description='One object per line: {"line", "work_id", "metric", "quantity", '
                '"use"}, in line order.',
            )
        },
    )
    @action(detail=True, methods=["get"], renderer_classes=[JSONRenderer, JsonLinesRenderer])
    def lines(self, request: Request, pk: str | None = None) -> StreamingHttpResponse:
        report = self.get_object()
        return StreamingHttpResponse(
            _json_lines(usage_selectors.usage_report_lines(report=report)),
            content_type="application/x-ndjson",
        )


def _json_lines(rows: Iterator[tuple[Any, ...]]) -> Iterator[bytes]:
    batch: list[str] = []
    for row in rows:
        batch.append(json.dumps(dict(zip(_LINE_FIELDS, row, strict=True))))
        if len(batch) == 10_000:
            yield ("\n".join(batch) + "\n").encode()
            batch.clear()
    if batch:
        yield ("\n".join(batch) + "\n").encode()
