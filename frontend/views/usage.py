"""Usage report pages: a licensee uploads a CSV report per agreement and sees every bad line by
number; both parties browse reports, their versions and their lines (mounted by frontend.urls).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from typing import Any

from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.urls import path
from django.views.decorators.http import require_http_methods

from accounts.models import User
from accounts.tenancy import principal_for_request
from core.spreadsheet import spreadsheet_row
from usage import selectors as usage_selectors
from usage import services as usage
from usage.ingest import ContentFormat
from usage.models import UsageReport

PAGE_SIZE = 25


class UsageUploadForm(forms.Form):
    report_id = forms.RegexField(
        regex=r"^\S(.{0,98}\S)?$",
        max_length=100,
        label="Report id",
        help_text="Your own id for this report. Upload new content under the same id to "
        "correct it.",
    )
    period = forms.CharField(
        label="Month",
        widget=forms.DateInput(attrs={"type": "month"}),
        help_text="The calendar month (UTC) the usage happened in.",
    )
    file = forms.FileField(
        label="CSV file",
        help_text="Header row, then one line per work and metric; gzip (.csv.gz) accepted.",
        widget=forms.ClearableFileInput(attrs={"accept": ".csv,.gz,text/csv"}),
    )

    def clean_file(self) -> Any:
        upload = self.cleaned_data["file"]
        limit = settings.USAGE_REPORT_MAX_BYTES
        if upload is not None and upload.size > limit:
            raise forms.ValidationError(
                f"The file is {upload.size:,} bytes; a report may be at most {limit:,} bytes. "
                "Gzip it, or split the month into several reports."
            )
        return upload

    partial = forms.BooleanField(
        required=False,
        label="Store the good lines even if some are bad",
        help_text="Otherwise a file with any bad line is rejected whole.",
    )
    replace_with_empty = forms.BooleanField(
        required=False,
        label="Replace the report with an empty one",
        help_text="Only to withdraw a report: a file without lines is otherwise refused.",
    )
    confirm_reduction = forms.BooleanField(
        required=False,
        label="Lower the report's total by more than half",
        help_text="Only for a correction that much smaller than the current version.",
    )

    def clean_period(self) -> Any:
        try:
            return usage.period_parse(self.cleaned_data["period"])
        except ValueError as error:
            raise forms.ValidationError(str(error)) from None


@login_required
def usage_home(request: HttpRequest) -> HttpResponse:
    principal = principal_for_request(request)
    reports = usage_selectors.usage_report_list(principal=principal).order_by(
        "-submitted_at", "-id"
    )
    return render(
        request,
        "frontend/usage/home.html",
        {
            "agreements": usage_selectors.agreements_reporting_usage(principal=principal)[:50],
            "page": Paginator(reports, PAGE_SIZE).get_page(request.GET.get("page")),
        },
    )


@login_required
@require_http_methods(["GET", "POST"])
def agreement_usage(request: HttpRequest, pk: int) -> HttpResponse:
    principal = principal_for_request(request)
    agreement = usage_selectors.agreement_for_usage(principal=principal, agreement_id=pk)
    if agreement is None:
        raise Http404
    can_report = usage_selectors.is_licensee(principal=principal, agreement=agreement)
    form = UsageUploadForm(request.POST or None, request.FILES or None) if can_report else None
    rejected = None
    if request.method == "POST":
        if form is None:
            return render(request, "frontend/403.html", status=403)
        if form.is_valid():
            try:
                submission = usage.usage_report_submit(
                    agreement=agreement,
                    report_id=form.cleaned_data["report_id"],
                    period_start=form.cleaned_data["period"],
                    content=form.cleaned_data["file"],
                    content_format=ContentFormat.CSV,
                    partial=form.cleaned_data["partial"],
                    replace_with_empty=form.cleaned_data["replace_with_empty"],
                    confirm_reduction=form.cleaned_data["confirm_reduction"],
                    source=UsageReport.Source.WEB,
                    submitted_by=request.user if isinstance(request.user, User) else None,
                )
            except usage.UsageReportRejected as error:
                rejected = error
            except usage.UsageReportConflict as conflict:
                form.add_error("report_id", str(conflict))
            except usage.UsageReportNeedsConfirmation as refused:
                form.add_error(*_confirmation_needed(refused))
            else:
                submission.left_out.close()
                messages.success(request, _outcome_message(submission))
                return redirect("frontend:usage-report", pk=submission.report.pk)
    reports = usage_selectors.usage_report_list(principal=principal).filter(agreement=agreement)
    context = {
        "agreement": agreement,
        "form": form,
        "rejected": rejected,
        "rejected_errors": rejected.errors.first if rejected else [],
        "page": Paginator(reports, PAGE_SIZE).get_page(request.GET.get("page")),
    }
    failed = rejected is not None or (form is not None and form.is_bound and bool(form.errors))
    response = render(
        request, "frontend/usage/agreement.html", context, status=422 if failed else 200
    )
    if rejected is not None:
        rejected.errors.close()
    return response


def _confirmation_needed(refused: usage.UsageReportNeedsConfirmation) -> tuple[str, str]:
    """The form field to tick, and why, for a version the service wants confirmed."""
    if refused.code == "empty_report":
        return "replace_with_empty", (
            f"The file has no lines (the current version's total is {refused.current_total:,}). "
            "Nothing was stored. Tick this box to replace the report with an empty one."
        )
    return "confirm_reduction", (
        f"This version would lower the report's total from {refused.current_total:,} to "
        f"{refused.new_total:,}, by more than half. Nothing was stored. Tick this box if that "
        "is right."
    )


def _outcome_message(submission: usage.UsageSubmission) -> str:
    report = submission.report
    if not submission.created:
        return (
            f"This file is identical to version {report.version} of report "
            f"{report.report_id}: it was stored once, nothing changed."
        )
    stored = f"Version {report.version} of report {report.report_id} stored: "
    stored += f"{report.line_count:,} line{'s' if report.line_count != 1 else ''}"
    if report.rejected_line_count:
        stored += f"; {report.rejected_line_count:,} bad lines left out"
    return stored + "."


@login_required
def usage_report_detail(request: HttpRequest, pk: int) -> HttpResponse:
    report = _visible_report(request, pk)
    return render(
        request,
        "frontend/usage/report.html",
        {
            "report": report,
            "totals": usage_selectors.usage_report_totals(report=report),
            "versions": usage_selectors.usage_report_versions(report=report),
        },
    )


@login_required
def usage_report_lines_csv(request: HttpRequest, pk: int) -> StreamingHttpResponse:
    report = _visible_report(request, pk)
    response = StreamingHttpResponse(
        _csv_rows(
            ("line", "work_id", "metric", "quantity", "use"),
            usage_selectors.usage_report_lines(report=report),
        ),
        content_type="text/csv",
    )
    filename = f"usage-{report.report_id}-v{report.version}.csv".replace('"', "")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


@login_required
def usage_template_csv(request: HttpRequest, pk: int) -> StreamingHttpResponse:
    agreement = usage_selectors.agreement_for_usage(
        principal=principal_for_request(request), agreement_id=pk
    )
    if agreement is None:
        raise Http404
    header = ("work_id", "metric", "quantity", "currency")
    response = StreamingHttpResponse(
        _csv_rows(header, usage_selectors.usage_template_rows(agreement=agreement)),
        content_type="text/csv",
    )
    response["Content-Disposition"] = f'attachment; filename="usage-agreement-{agreement.pk}.csv"'
    return response


def _visible_report(request: HttpRequest, pk: int) -> UsageReport:
    report = (
        usage_selectors.usage_report_list(principal=principal_for_request(request))
        .filter(pk=pk)
        .first()
    )
    if report is None:
        raise Http404
    return report


def _csv_rows(header: tuple[str, ...], rows: Iterator[tuple[Any, ...]]) -> Iterator[str]:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(spreadsheet_row(header))
    for count, row in enumerate(rows, start=1):
        writer.writerow(spreadsheet_row(row))
        if count % 10_000 == 0:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()


urlpatterns = [
    path("usage/", usage_home, name="usage-home"),
    path("usage/agreements/<int:pk>/", agreement_usage, name="usage-agreement"),
    path("usage/reports/<int:pk>/", usage_report_detail, name="usage-report"),
    path("usage/reports/<int:pk>/lines.csv", usage_report_lines_csv, name="usage-report-lines"),
    path("usage/agreements/<int:pk>/template.csv", usage_template_csv, name="usage-template"),
]
