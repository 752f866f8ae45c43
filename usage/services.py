"""Usage reports: submitting them (services) and reading them (selectors).

Semantics (the user-facing version is docs/usage-reports.md):

- A report is (agreement, ``report_id``): the licensee's id, for one calendar month.
- Sending content a report already has (any of its versions, byte for byte after gunzip) is a
  duplicate: nothing is stored and that version is answered (HTTP 200, not 201).
- Sending new content under an existing ``report_id`` is a correction: it is stored as the next
  version, supersedes the current one, and becomes current. Its month must be the report's.
  Settlement rates current versions; a correction of a month already settled is settled as an
  adjustment in the next run (``settlement.services``).
- Several reports of one agreement and month add up (one per training run, say).
- A submission with bad lines is rejected whole and stores nothing, unless the licensee asks for
  partial acceptance: then the good lines are stored and the bad ones reported (a partial
  acceptance still needs at least one good line: it supersedes the current version, and must
  never replace it with nothing by accident).
- The report's month must overlap the agreement's term and must have begun; the agreement must
  be in force or past (usage cannot be reported before the upfront fee is paid).
- A version with no lines at all (an empty body, blank lines only, a CSV header only) is refused
  (``empty_report``) unless the licensee says ``replace_with_empty``; a correction whose total
  (the sum of its lines' quantities) is less than half the current version's is refused
  (``large_reduction``) unless the licensee says ``confirm_reduction``. Either way nothing is
  stored: a truncated upload can never silently replace a month's usage.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import IO, Any

from django.db import connection, transaction
from django.db.models import Sum
from django.db.models.fields.json import KT

from accounts.models import ApiKey, User
from catalog.identifiers import MATCHING_SCHEMES
from core import clock
from core.errors import DomainError
from marketplace.models import Agreement, AgreementWork
from usage.ingest import (
    KEPT_ERRORS,
    ContentFormat,
    ContentRefused,
    ErrorLog,
    ReportScope,
    ingest_report_lines,
    line_error,
)
from usage.models import UsageLine, UsageReport
from usage.selectors import agreement_priced_metrics

# First key of the advisory lock serialising submissions per (agreement, report id): "US".
_SUBMIT_LOCK_NAMESPACE = 0x5553
_PERIOD = re.compile(r"^(\d{4})-(\d{2})$")


class UsageReportRejected(Exception):
    """Nothing was stored; ``errors`` has every bad line (or the report-level reason)."""

    def __init__(self, errors: ErrorLog, detail: str) -> None:
        super().__init__(detail)
        self.errors = errors
        self.detail = detail


class UsageReportConflict(Exception):
    """The report id is already used for another month; ``current`` is its current version."""

    def __init__(self, current: UsageReport) -> None:
        super().__init__(
            f"report {current.report_id!r} is the report of {current.period_label}; "
            "a correction must be for the same month (use a new report id for another month)"
        )
        self.current = current


class UsageReportNeedsConfirmation(DomainError):
    """The new version would replace the report with nothing (``empty_report``), or lower its
    total by more than half (``large_reduction``); nothing was stored. ``current_total`` and
    ``new_total`` are the sums of the two versions' quantities (0 when there is no current
    version)."""

    code = "usage_report_needs_confirmation"

    def __init__(self, message: str, *, code: str, current_total: int, new_total: int) -> None:
        super().__init__(message, code=code)
        self.current_total = current_total
        self.new_total = new_total


@dataclass
class UsageSubmission:
    report: UsageReport
    created: bool
    """False when the content was a duplicate of a stored version (``report`` is that one)."""
    left_out: ErrorLog
    """Bad lines left out by a partial acceptance (empty otherwise)."""


# --- periods -----------------------------------------------------------------------------


def period_parse(text: str) -> dt.date:
    """``YYYY-MM`` → the month's first day; ValueError if it is not a month."""
    match = _PERIOD.match(text.strip())
    if not match or not 1 <= int(match[2]) <= 12:
        raise ValueError(f"{text!r} is not a month: expected YYYY-MM, e.g. 2026-10")
    return dt.date(int(match[1]), int(match[2]), 1)


def month_after(first_day: dt.date) -> dt.date:
    return (first_day.replace(day=28) + dt.timedelta(days=4)).replace(day=1)


def agreement_term_end(agreement: Agreement) -> dt.date:
    """The last day usage may fall on: the end of term, or the day it was terminated."""
    if agreement.status == Agreement.Status.TERMINATED and agreement.ended_at is not None:
        return min(agreement.ends_on, agreement.ended_at.date())
    return agreement.ends_on


# --- the scope a report is checked against ---------------------------------------------------


def _reject(field: str, code: str, reason: str) -> UsageReportRejected:
    return UsageReportRejected(ErrorLog.of([line_error(None, field, code, reason)]), reason)


def _identifier_map(
    agreement: Agreement,
) -> tuple[frozenset[int], dict[tuple[str, str], int | None]]:
    """The agreement's work ids, and (scheme, normal form) → work for their identifiers: the
    snapshot taken at acceptance, plus any the catalogue has given the work since. An
    identifier shared by two of the agreement's works maps to None."""
    work_ids: set[int] = set()
    identifiers: dict[tuple[str, str], int | None] = {}
    rows = AgreementWork.objects.filter(agreement=agreement).values_list(
        "work_id",
        *(KT(f"identifiers__{scheme}") for scheme in MATCHING_SCHEMES),
        *(f"work__{scheme}" for scheme in MATCHING_SCHEMES),
    )
    for work_id, *values in rows.iterator(chunk_size=10_000):
        work_ids.add(work_id)
        for scheme, value in zip(MATCHING_SCHEMES * 2, values, strict=True):
            if value:
                key = (scheme, value)
                identifiers[key] = work_id if identifiers.get(key, work_id) == work_id else None
    return frozenset(work_ids), identifiers


def report_scope(*, agreement: Agreement, period_start: dt.date) -> ReportScope:
    """What a report of this agreement and month is checked against; raises
    ``UsageReportRejected`` when no report of that month can be accepted at all."""
    if agreement.status == Agreement.Status.AWAITING_PAYMENT:
        raise _reject(
            "agreement",
            "agreement_not_active",
            "the agreement is not in force yet: report usage once its upfront fee is paid",
        )
    period_end = month_after(period_start)
    term_end = agreement_term_end(agreement)
    if period_start > clock.today():
        raise _reject("period", "period_in_future", f"{period_start:%Y-%m} has not begun yet")
    if period_end <= agreement.starts_on or period_start > term_end:
        raise _reject(
            "period",
            "period_outside_term",
            f"{period_start:%Y-%m} is outside the agreement's term "
            f"({agreement.starts_on} to {term_end})",
        )
    work_ids, identifiers = _identifier_map(agreement)
    return ReportScope(
        agreement_id=agreement.pk,
        currency=agreement.currency.upper(),
        period_start=period_start,
        period_end=period_end,
        term_start=agreement.starts_on,
        term_end=term_end,
        work_ids=work_ids,
        identifiers=identifiers,
        priced_metrics=agreement_priced_metrics(agreement),
        permitted_uses=frozenset(agreement.permitted_uses),
    )


# --- services ----------------------------------------------------------------------------


class _Duplicate(Exception):
    def __init__(self, report: UsageReport) -> None:
        self.report = report


def usage_report_submit(
    *,
    agreement: Agreement,
    report_id: str,
    period_start: dt.date,
    content: IO[bytes],
    content_format: ContentFormat,
    partial: bool,
    source: str = UsageReport.Source.API,
    submitted_by: User | None = None,
    api_key: ApiKey | None = None,
    replace_with_empty: bool = False,
    confirm_reduction: bool = False,
) -> UsageSubmission:
    """Store a report's content as a new version (or recognise a duplicate).

    The caller has checked the principal is the agreement's licensee. Streams ``content``
    (gzip or not) straight into the lines table in one transaction; raises
    ``UsageReportRejected`` (nothing stored), ``UsageReportConflict``, or
    ``UsageReportNeedsConfirmation`` (nothing stored: a version without lines needs
    ``replace_with_empty``, one lowering the current total by more than half
    ``confirm_reduction``)."""
    report_id = report_id.strip()
    scope = report_scope(agreement=agreement, period_start=period_start)
    try:
        with transaction.atomic():
            report, outcome = _store_version(
                agreement=agreement,
                report_id=report_id,
                scope=scope,
                content=content,
                content_format=content_format,
                partial=partial,
                confirmed=_Confirmed(empty=replace_with_empty, reduction=confirm_reduction),
                submitter={
                    "source": source,
                    "submitted_by": submitted_by,
                    "submitted_with_key": api_key,
                },
            )
    except _Duplicate as duplicate:
        # Read inside the rolled-back transaction, which had already turned the current
        # version's is_current off: answer the version as it is stored.
        duplicate.report.refresh_from_db()
        return UsageSubmission(
            report=duplicate.report, created=False, left_out=ErrorLog.of(duplicate.report.errors)
        )
    return UsageSubmission(report=report, created=True, left_out=outcome.errors)


@dataclass(frozen=True)
class _Confirmed:
    empty: bool
    reduction: bool


def _store_version(
    *,
    agreement: Agreement,
    report_id: str,
    scope: ReportScope,
    content: IO[bytes],
    content_format: ContentFormat,
    partial: bool,
    confirmed: _Confirmed,
    submitter: dict[str, Any],
) -> tuple[UsageReport, Any]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_advisory_xact_lock(%s, hashtext(%s))",
            [_SUBMIT_LOCK_NAMESPACE, f"{agreement.pk}:{report_id}"],
        )
    previous = (
        UsageReport.objects.select_for_update()
        .filter(agreement=agreement, report_id=report_id, is_current=True)
        .first()
    )
    if previous is not None and previous.period_start != scope.period_start:
        raise UsageReportConflict(previous)
    if previous is not None:
        UsageReport.objects.filter(pk=previous.pk).update(is_current=False)
    report = UsageReport.objects.create(
        agreement=agreement,
        report_id=report_id,
        period_start=scope.period_start,
        period_end=scope.period_end,
        version=previous.version + 1 if previous else 1,
        supersedes=previous,
        is_current=True,
        status=UsageReport.Status.RECEIVING,
        currency=scope.currency,
        **submitter,
    )
    try:
        outcome = ingest_report_lines(
            report_pk=report.pk, scope=scope, content=content, content_format=content_format
        )
    except ContentRefused as refused:
        raise UsageReportRejected(
            ErrorLog.of([line_error(refused.line, None, refused.code, refused.reason)]),
            refused.reason,
        ) from None
    duplicate = (
        UsageReport.objects.filter(
            agreement=agreement, report_id=report_id, content_sha256=outcome.content_sha256
        )
        .exclude(pk=report.pk)
        .first()
    )
    if duplicate is not None:
        outcome.errors.close()
        raise _Duplicate(duplicate)
    bad = outcome.errors.count
    if bad and (not partial or not outcome.stored_lines):
        raise UsageReportRejected(outcome.errors, _rejection_detail(bad, partial=partial))
    try:
        _check_replacement(previous, report, outcome.stored_lines, confirmed)
    except UsageReportNeedsConfirmation:
        outcome.errors.close()
        raise
    report.status = UsageReport.Status.PARTIALLY_ACCEPTED if bad else UsageReport.Status.ACCEPTED
    report.line_count = outcome.stored_lines
    report.rejected_line_count = bad
    report.errors = outcome.errors.first[:KEPT_ERRORS]
    report.content_sha256 = outcome.content_sha256
    report.save(
        update_fields=["status", "line_count", "rejected_line_count", "errors", "content_sha256"]
    )
    return report, outcome


def _quantity_totals(*reports: UsageReport | None) -> list[int]:
    """Each report's total: the sum of its lines' quantities (0 for None), in one query."""
    pks = [report.pk for report in reports if report is not None]
    sums = dict(
        UsageLine.objects.filter(report_id__in=pks)
        .values("report_id")
        .annotate(total=Sum("quantity"))
        .values_list("report_id", "total")
    )
    return [int(sums.get(report.pk) or 0) if report is not None else 0 for report in reports]


def _check_replacement(
    previous: UsageReport | None, report: UsageReport, stored_lines: int, confirmed: _Confirmed
) -> None:
    """Refuse a version with no lines, or one lowering the current total by more than half,
    unless the licensee confirmed it."""
    if not stored_lines and not confirmed.empty:
        (current_total,) = _quantity_totals(previous)
        replaced = (
            f"it would replace version {previous.version} of report {report.report_id!r} "
            f"(total {current_total:,}) with nothing"
            if previous is not None
            else "a report must have at least one line"
        )
        raise UsageReportNeedsConfirmation(
            f"The report has no lines: {replaced}. Nothing was stored. If that is right, send "
            "it again with replace_with_empty=true.",
            code="empty_report",
            current_total=current_total,
            new_total=0,
        )
    if previous is None or not stored_lines or confirmed.reduction:
        return
    current_total, new_total = _quantity_totals(previous, report)
    if 2 * new_total < current_total:
        raise UsageReportNeedsConfirmation(
            f"Version {report.version} would lower the total of report {report.report_id!r} "
            f"from {current_total:,} to {new_total:,}, by more than half. Nothing was stored. "
            "If that is right, send it again with confirm_reduction=true.",
            code="large_reduction",
            current_total=current_total,
            new_total=new_total,
        )


def _rejection_detail(bad: int, *, partial: bool) -> str:
    lines = f"{bad:,} bad line{'s' if bad != 1 else ''}"
    if partial:
        return f"{lines} and no good one: nothing was stored."
    return (
        f"{lines}: nothing was stored. Correct them, or send the report again with "
        "partial=true to store the good lines only."
    )
