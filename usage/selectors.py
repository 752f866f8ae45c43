"""Reads of usage (no writes): the reports and lines a caller may see, a report's totals, the
reporting template."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from django.db.models import Count, QuerySet, Sum

from accounts.tenancy import Principal
from marketplace.models import Agreement, AgreementWork
from usage.metrics import PRICING_UNIT_BY_METRIC, REVENUE_METRIC
from usage.models import UsageLine, UsageReport

LINES_BATCH = 10_000


def agreement_for_usage(*, principal: Principal, agreement_id: int) -> Agreement | None:
    """The agreement if the caller is its licensee or licensor, else None (answer 404)."""
    return Agreement.objects.visible_to(principal).filter(pk=agreement_id).first()


def is_licensee(*, principal: Principal, agreement: Agreement) -> bool:
    return agreement.licensee_id in principal.organisation_ids


def agreements_reporting_usage(*, principal: Principal) -> QuerySet[Agreement]:
    """Agreements the caller's organisations hold as licensee, newest first."""
    return (
        Agreement.objects.visible_to(principal)
        .filter(licensee_id__in=principal.organisation_ids)
        .select_related("licensor")
    )


def usage_report_list(*, principal: Principal) -> QuerySet[UsageReport]:
    """Every report version the caller may see: as licensee or as licensor."""
    return UsageReport.objects.visible_to(principal).select_related(
        "agreement__licensee", "agreement__licensor"
    )


def usage_report_versions(*, report: UsageReport) -> QuerySet[UsageReport]:
    return UsageReport.objects.filter(
        agreement_id=report.agreement_id, report_id=report.report_id
    ).order_by("-version")


def usage_report_totals(*, report: UsageReport) -> list[Any]:
    """Per metric: lines and total quantity stored."""
    return list(
        UsageLine.objects.filter(report=report)
        .values("metric")
        .annotate(lines=Count("line_no"), quantity=Sum("quantity"))
        .order_by("metric")
    )


def usage_report_lines(*, report: UsageReport) -> Iterator[tuple[int, int, str, int, str]]:
    """(line_no, work_id, metric, quantity, use) in line order, 10,000 rows per query: keyset
    pagination on the primary key streams any report without a long transaction."""
    after = -1
    while True:
        batch = list(
            UsageLine.objects.filter(report=report, line_no__gt=after)
            .order_by("line_no")
            .values_list("line_no", "work_id", "metric", "quantity", "use")[:LINES_BATCH]
        )
        yield from batch
        if len(batch) < LINES_BATCH:
            return
        after = batch[-1][0]


def usage_template_rows(*, agreement: Agreement) -> Iterator[tuple[int, str, int, str]]:
    """A report with every licensed work and priced metric at quantity 0, as rows of
    (work_id, metric, quantity, currency): a starting point for a licensee's first report."""
    priced = [
        metric
        for metric in (*PRICING_UNIT_BY_METRIC, REVENUE_METRIC)
        if metric in agreement_priced_metrics(agreement)
    ]
    currency = agreement.currency.upper()
    work_ids = AgreementWork.objects.filter(agreement=agreement).order_by("work_id")
    for work_id in work_ids.values_list("work_id", flat=True).iterator():
        for metric in priced:
            yield work_id, metric, 0, currency if metric == REVENUE_METRIC else ""


def agreement_priced_metrics(agreement: Agreement) -> frozenset[str]:
    priced = {metric for metric in PRICING_UNIT_BY_METRIC if agreement.rate_for(metric) is not None}
    if agreement.revenue_share_bp is not None:
        priced.add(REVENUE_METRIC)
    return frozenset(priced)
