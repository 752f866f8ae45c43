"""Reading statements and settlement runs: selectors, the statement's CSV and PDF, and the
creator's earnings for charts.

A rights holder sees its own statements; the platform's finance staff (finance members of the
platform organisation, or the platform organisation's API keys) see every statement and run.
"""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal

from django.db.models import QuerySet, Sum
from django.db.models.functions import TruncMonth
from fpdf import FPDF
from fpdf.enums import XPos, YPos

from accounts.selectors import platform_finance_check
from accounts.tenancy import Principal
from core.money import money_format
from core.spreadsheet import spreadsheet_row
from settlement.models import (
    RatedLine,
    SettlementAgreement,
    SettlementRun,
    Statement,
    StatementLine,
)
from settlement.rules import LineKind

KIND_LABELS = dict(LineKind.CHOICES)


def settlement_run_list(*, principal: Principal) -> QuerySet[SettlementRun]:
    if not platform_finance_check(principal=principal, api_keys=True):
        return SettlementRun.objects.none()
    return SettlementRun.objects.order_by("-period_start")


def statement_list(*, principal: Principal) -> QuerySet[Statement]:
    """Statements the caller may read: its own organisations', or all for platform finance."""
    statements = (
        Statement.objects.all()
        if platform_finance_check(principal=principal, api_keys=True)
        else Statement.objects.visible_to(principal)
    )
    return statements.select_related("holder", "run").order_by(
        "-period_start", "holder__name", "currency"
    )


@dataclass(frozen=True)
class UsageDetail:
    """One rated usage row behind a statement line."""

    kind: str
    metric: str
    quantity: int
    settled_quantity: int
    rate_minor: Decimal | None
    revenue_share_bp: int | None
    exact_minor: Decimal
    usage_period_start: object
    usage_period_end: object


@dataclass(frozen=True)
class StatementRow:
    """A statement line with what it traces back to."""

    line: StatementLine
    licensee: str
    work_title: str
    uses: str
    usage: list[UsageDetail]

    @property
    def kind_label(self) -> str:
        return KIND_LABELS.get(self.line.kind, self.line.kind)

    @property
    def metrics(self) -> str:
        return " + ".join(detail.metric for detail in self.usage)

    @property
    def quantities(self) -> str:
        return " + ".join(str(detail.quantity) for detail in self.usage)

    @property
    def rates(self) -> str:
        return " + ".join(
            f"{detail.revenue_share_bp} bp"
            if detail.rate_minor is None
            else _plain(detail.rate_minor)
            for detail in self.usage
        )


def _plain(amount: Decimal | int) -> str:
    """An amount as a plain decimal: no exponent, no trailing zeros (0.3000000000 → 0.3,
    1200.000000000000000000 → 1200, and zero, which PostgreSQL hands back as 0E-18, → 0)."""
    if isinstance(amount, int):
        return str(amount)
    text = format(amount.normalize(), "f")
    return "0" if text in ("-0", "0") else text


def statement_lines(*, statement: Statement) -> list[StatementRow]:
    lines = list(
        StatementLine.objects.filter(
            run=statement.run, holder=statement.holder, currency=statement.currency
        )
        .select_related("agreement__licensee", "work")
        .order_by("agreement_id", "work_id", "kind", "usage_period_start")
    )
    usage: dict[tuple[int, int], list[UsageDetail]] = defaultdict(list)
    pairs = {(line.agreement_id, line.work_id) for line in lines}
    rated = RatedLine.objects.filter(
        run=statement.run,
        agreement_id__in={agreement for agreement, _ in pairs},
        work_id__in={work for _, work in pairs},
    ).order_by("usage_period_start", "metric")
    for row in rated:
        usage[row.agreement_id, row.work_id].append(
            UsageDetail(
                kind=row.kind,
                metric=row.metric,
                quantity=row.quantity,
                settled_quantity=row.settled_quantity,
                rate_minor=row.rate_minor,
                revenue_share_bp=row.revenue_share_bp,
                exact_minor=row.exact_minor,
                usage_period_start=row.usage_period_start,
                usage_period_end=row.usage_period_end,
            )
        )
    return [
        StatementRow(
            line=line,
            licensee=line.agreement.licensee.name,
            work_title=line.work.title,
            uses=", ".join(line.agreement.permitted_uses),
            usage=usage.get((line.agreement_id, line.work_id), [])
            if line.kind not in (LineKind.UPFRONT_FEE, LineKind.ADVANCE)
            else [],
        )
        for line in lines
    ]


CSV_HEADER = [
    "statement_period",
    "holder",
    "currency",
    "line_kind",
    "agreement_id",
    "licensee",
    "work_id",
    "work",
    "uses",
    "metric",
    "quantity",
    "rate_minor",
    "usage_period_start",
    "usage_period_end",
    "gross_exact_minor",
    "commission_exact_minor",
    "share_bp",
    "amount_minor",
    "cumulative_entitled_exact_minor",
    "cumulative_allocated_minor",
    "collected_on",
]


def statement_csv_rows(*, statement: Statement) -> Iterator[list[str]]:
    """The statement as CSV rows: a header, one row per line, then the totals; every cell
    formula-safe (``core.spreadsheet``: names and titles are chosen by users)."""
    period = f"{statement.period_start:%Y-%m}"
    yield CSV_HEADER
    for row in statement_lines(statement=statement):
        line = row.line
        yield spreadsheet_row(
            [
                period,
                statement.holder.name,
                statement.currency,
                line.kind,
                str(line.agreement_id),
                row.licensee,
                str(line.work_id),
                row.work_title,
                row.uses,
                row.metrics,
                row.quantities,
                row.rates,
                str(line.usage_period_start or ""),
                str(line.usage_period_end or ""),
                _plain(line.gross_exact),
                _plain(line.commission_exact),
                str(line.share_bp),
                str(line.amount_minor),
                _plain(line.entitled_after),
                str(line.allocated_after),
                str(line.collected_on or ""),
            ]
        )
    for label, value in (
        ("opening_balance_minor", statement.opening_balance_minor),
        ("earned_minor", statement.earned_minor),
        ("carry_forward_exact_minor", statement.carry_forward_exact),
        ("closing_balance_minor", statement.closing_balance_minor),
        ("sha256", statement.sha256),
    ):
        shown = _plain(value) if isinstance(value, Decimal | int) else str(value)
        yield spreadsheet_row([period, statement.holder.name, statement.currency, label, shown])


def statement_csv(*, statement: Statement) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerows(statement_csv_rows(statement=statement))
    return buffer.getvalue()


def statement_pdf(*, statement: Statement) -> bytes:
    """The statement as a PDF document (fpdf2, core fonts)."""
    pdf = FPDF(orientation="L", format="A4")
    pdf.set_auto_page_break(auto=True, margin=12)
    pdf.add_page()
    pdf.set_font("Helvetica", "B", 15)
    pdf.cell(
        0,
        9,
        _latin(f"Royalty statement {statement.period_start:%B %Y}"),
        new_x=XPos.LMARGIN,
        new_y=YPos.NEXT,
    )
    pdf.set_font("Helvetica", size=10)
    for text in (
        f"Rights holder: {statement.holder.name}",
        f"Currency: {statement.currency}",
        f"Opening balance: {money_format(statement.opening_balance_minor, statement.currency)}",
        f"Earned this period: {money_format(statement.earned_minor, statement.currency)}",
        f"Closing balance: {money_format(statement.closing_balance_minor, statement.currency)}",
        f"Carried forward (below one minor unit): {_plain(statement.carry_forward_exact)}",
        f"SHA-256: {statement.sha256}",
    ):
        pdf.cell(0, 6, _latin(text), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.ln(3)
    headings = [
        "Licensee",
        "Work",
        "Kind",
        "Metric",
        "Quantity",
        "Rate",
        "Gross",
        "Commission",
        "Share bp",
        "Amount",
    ]
    widths = [38, 52, 28, 30, 30, 18, 22, 22, 16, 22]
    pdf.set_font("Helvetica", "B", 8)
    for heading, width in zip(headings, widths, strict=True):
        pdf.cell(width, 6, heading, border=1)
    pdf.ln()
    pdf.set_font("Helvetica", size=8)
    for row in statement_lines(statement=statement):
        line = row.line
        cells = [
            row.licensee,
            row.work_title,
            row.kind_label,
            row.metrics,
            row.quantities,
            row.rates,
            _plain(line.gross_exact),
            _plain(line.commission_exact),
            str(line.share_bp),
        ]
        for text, width in zip(cells, widths[:-1], strict=True):
            pdf.cell(width, 6, _latin(text)[: int(width / 1.6)], border=1)
        # An amount is never cut short (the code comes first, so cutting would drop digits).
        pdf.cell(widths[-1], 6, money_format(line.amount_minor, statement.currency), border=1)
        pdf.ln()
    return bytes(pdf.output())


def _latin(text: str) -> str:
    """Core PDF fonts are Latin-1; anything else is replaced rather than failing the download."""
    return text.encode("latin-1", "replace").decode("latin-1")


# --- earnings for the creator's dashboard ------------------------------------------------------


@dataclass(frozen=True)
class EarningsSeries:
    labels: list[str]
    amounts_minor: list[int]


@dataclass(frozen=True)
class Earnings:
    currency: str
    by_month: EarningsSeries
    by_work: EarningsSeries
    by_licensee: EarningsSeries
    total_minor: int


def holder_earnings(*, principal: Principal, limit: int = 10) -> list[Earnings]:
    """What the caller's organisations earned on their statements, per currency: by statement
    month, by work (top ``limit``) and by licensee (top ``limit``)."""
    lines = StatementLine.objects.visible_to(principal).filter(run__isnull=False)
    result = []
    for currency in lines.values_list("currency", flat=True).distinct().order_by("currency"):
        in_currency = lines.filter(currency=currency)
        months = (
            in_currency.annotate(month=TruncMonth("run__period_start"))
            .values("month")
            .annotate(total=Sum("amount_minor"))
            .order_by("month")
        )
        works = (
            in_currency.values("work__title")
            .annotate(total=Sum("amount_minor"))
            .order_by("-total", "work__title")[:limit]
        )
        licensees = (
            in_currency.values("agreement__licensee__name")
            .annotate(total=Sum("amount_minor"))
            .order_by("-total", "agreement__licensee__name")[:limit]
        )
        result.append(
            Earnings(
                currency=currency,
                by_month=EarningsSeries(
                    [f"{row['month']:%Y-%m}" for row in months],
                    [int(row["total"]) for row in months],
                ),
                by_work=EarningsSeries(
                    [row["work__title"] for row in works], [int(row["total"]) for row in works]
                ),
                by_licensee=EarningsSeries(
                    [row["agreement__licensee__name"] for row in licensees],
                    [int(row["total"]) for row in licensees],
                ),
                total_minor=int(in_currency.aggregate(total=Sum("amount_minor"))["total"] or 0),
            )
        )
    return result


def settlement_agreements(*, run: SettlementRun) -> QuerySet[SettlementAgreement]:
    return SettlementAgreement.objects.filter(run=run).select_related(
        "agreement__licensee", "agreement__licensor"
    )
