"""Finance reports, read from the ledger (the source of truth) and the payout records.

Every report is a ``Report``: a title, typed columns and rows produced lazily (exports stream
them), optionally a chart. Money columns are integers in minor units of the row's currency,
in their natural direction (what a liability owes, what an asset holds, revenue earned).

Filters: ``period`` (an ``AccountingPeriod``) means "as at the period's last day" for balances
and "within the period" for flows; ``currency`` keeps one currency. Without a period, balances
are current and flows are all-time.
"""

from __future__ import annotations

import calendar
import datetime as dt
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.db import connection
from django.db.models import Count, F, Sum

from accounts.models import Organisation
from core import clock
from core.money.rounding import exact_arithmetic, to_minor_units
from ledger.models import AccountCode, AccountingPeriod, EntryKind, JournalLeg
from ledger.selectors import trial_balance
from payouts.models import Payout
from settlement.models import StatementLine

BILLING_KINDS = (EntryKind.UPFRONT_FEE, EntryKind.ADVANCE, EntryKind.USAGE_SETTLEMENT)
"""Entries that bill a licensee: licence revenue (gross, before commission)."""

BASIS_POINTS = Decimal(10_000)


@dataclass(frozen=True)
class Column:
    key: str
    label: str
    money: bool = False


@dataclass
class Report:
    name: str
    title: str
    columns: list[Column]
    rows: Callable[[], Iterator[tuple[Any, ...]]]
    """Called once per use: a fresh lazy iterator of row tuples in column order."""
    chart: dict[str, Any] | None = None
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class ReportFilters:
    period: AccountingPeriod | None = None
    currency: str | None = None

    @property
    def first_day(self) -> dt.date | None:
        return dt.date(self.period.year, self.period.month, 1) if self.period else None

    @property
    def last_day(self) -> dt.date | None:
        if self.period is None:
            return None
        last = calendar.monthrange(self.period.year, self.period.month)[1]
        return dt.date(self.period.year, self.period.month, last)

    @property
    def label(self) -> str:
        parts = [self.period.label if self.period else "all periods", self.currency or "all"]
        return "_".join(parts)


def _names(ids: set[int]) -> dict[int, str]:
    return dict(Organisation.objects.filter(id__in=ids).values_list("id", "name"))


def _legs(filters: ReportFilters, *, through_end: bool) -> Any:
    legs = JournalLeg.objects.all()
    if filters.currency:
        legs = legs.filter(currency=filters.currency)
    if filters.period is not None:
        legs = legs.filter(entry__effective_date__lte=filters.last_day)
        if not through_end:
            legs = legs.filter(entry__effective_date__gte=filters.first_day)
    return legs


# --- Balances ----------------------------------------------------------------------------------


def trial_balance_report(filters: ReportFilters) -> Report:
    def rows() -> Iterator[tuple[Any, ...]]:
        balance = trial_balance(currency=filters.currency, period=filters.period)
        names = _names({row.organisation_id for row in balance.rows if row.organisation_id})
        for row in balance.rows:
            yield (
                row.currency,
                row.code,
                row.kind,
                names.get(row.organisation_id, "") if row.organisation_id else "platform",
                row.subledger_key,
                max(row.balance_minor, 0),
                max(-row.balance_minor, 0),
                row.balance_minor,
            )

    return Report(
        name="trial_balance",
        title="Trial balance",
        columns=[
            Column("currency", "Currency"),
            Column("code", "Account"),
            Column("kind", "Kind"),
            Column("party", "Party"),
            Column("subledger", "Sub-ledger"),
            Column("debit_minor", "Debit", money=True),
            Column("credit_minor", "Credit", money=True),
            Column("balance_minor", "Balance (debit +)", money=True),
        ],
        rows=rows,
        notes=["Each currency's balances sum to zero."],
    )


def _balances_by_party(filters: ReportFilters, codes: Sequence[str]) -> dict[tuple[int, str], dict]:
    rows = (
        _legs(filters, through_end=True)
        .filter(account__code__in=list(codes))
        .values("account__organisation_id", "currency", "account__code")
        .annotate(total=Sum("amount_minor"))
        .order_by()
    )
    result: dict[tuple[int, str], dict[str, int]] = {}
    for row in rows:
        key = (row["account__organisation_id"], row["currency"])
        result.setdefault(key, {})[row["account__code"]] = int(row["total"])
    return result


def payables_report(filters: ReportFilters) -> Report:
    codes = [AccountCode.HOLDER_PAYABLE, AccountCode.HOLDER_RECOVERABLE]
    balances = _balances_by_party(filters, codes)
    names = _names({org for org, _ in balances})
    ordered = sorted(balances.items(), key=lambda item: (item[0][1], names.get(item[0][0], "")))

    def rows() -> Iterator[tuple[Any, ...]]:
        for (org, currency), by_code in ordered:
            payable = -by_code.get(AccountCode.HOLDER_PAYABLE, 0)
            recoverable = by_code.get(AccountCode.HOLDER_RECOVERABLE, 0)
            if payable or recoverable:
                yield (
                    names.get(org, str(org)),
                    currency,
                    payable,
                    recoverable,
                    payable - recoverable,
                )

    payable_rows = list(rows())
    return Report(
        name="payables",
        title="Payables by rights holder",
        columns=[
            Column("holder", "Rights holder"),
            Column("currency", "Currency"),
            Column("payable_minor", "Payable", money=True),
            Column("recoverable_minor", "Recoverable", money=True),
            Column("net_owed_minor", "Net owed", money=True),
        ],
        rows=lambda: iter(payable_rows),
        chart=_bar_chart(payable_rows, label_index=0, value_index=4, title="Net owed"),
    )


def pending_earnings_report(filters: ReportFilters) -> Report:
    balances = _balances_by_party(filters, [AccountCode.HOLDER_PENDING])
    names = _names({org for org, _ in balances})
    pending_rows = sorted(
        (
            (names.get(org, str(org)), currency, -by_code.get(AccountCode.HOLDER_PENDING, 0))
            for (org, currency), by_code in balances.items()
            if by_code.get(AccountCode.HOLDER_PENDING, 0)
        ),
        key=lambda row: (row[1], -row[2], row[0]),
    )
    return Report(
        name="pending_earnings",
        title="Pending earnings (earned, not yet collected from licensees)",
        columns=[
            Column("holder", "Rights holder"),
            Column("currency", "Currency"),
            Column("pending_minor", "Pending", money=True),
        ],
        rows=lambda: iter(pending_rows),
        chart=_bar_chart(pending_rows, label_index=0, value_index=2, title="Pending"),
    )


_AGEING_SQL = """
WITH legs AS (
    SELECT a.organisation_id, l.currency, e.effective_date, e.id AS entry_id, l.amount_minor
      FROM royalties_journalleg l
      JOIN royalties_ledgeraccount a ON a.id = l.account_id
      JOIN royalties_journalentry e ON e.id = l.entry_id
     WHERE a.code = 'licensee_receivable'
       AND (%(as_of)s::date IS NULL OR e.effective_date <= %(as_of)s::date)
       AND (%(currency)s::text IS NULL OR l.currency = %(currency)s::text)
), credits AS (
    SELECT organisation_id, currency, -sum(amount_minor) AS paid
      FROM legs WHERE amount_minor < 0 GROUP BY organisation_id, currency
), debits AS (
    SELECT organisation_id, currency, effective_date, amount_minor,
           sum(amount_minor) OVER (PARTITION BY organisation_id, currency
                                   ORDER BY effective_date, entry_id) AS running
      FROM legs WHERE amount_minor > 0
), open_debits AS (
    -- Collections settle the oldest billings first (FIFO): what is left of each billing.
    SELECT d.organisation_id, d.currency, d.effective_date,
           LEAST(d.amount_minor, GREATEST(d.running - COALESCE(c.paid, 0), 0)) AS open_minor
      FROM debits d LEFT JOIN credits c USING (organisation_id, currency)
)
SELECT organisation_id, currency,
       sum(open_minor) FILTER (WHERE %(as_of_day)s::date - effective_date <= 30),
       sum(open_minor) FILTER (WHERE %(as_of_day)s::date - effective_date BETWEEN 31 AND 60),
       sum(open_minor) FILTER (WHERE %(as_of_day)s::date - effective_date BETWEEN 61 AND 90),
       sum(open_minor) FILTER (WHERE %(as_of_day)s::date - effective_date > 90),
       sum(open_minor)
  FROM open_debits
 GROUP BY organisation_id, currency
HAVING sum(open_minor) <> 0
 ORDER BY currency, sum(open_minor) DESC, organisation_id
"""


def receivables_report(filters: ReportFilters, *, today: dt.date | None = None) -> Report:
    as_of_day = filters.last_day or today or clock.today()
    with connection.cursor() as cursor:
        cursor.execute(
            _AGEING_SQL,
            {"as_of": filters.last_day, "as_of_day": as_of_day, "currency": filters.currency},
        )
        fetched = cursor.fetchall()
    names = _names({row[0] for row in fetched})
    receivable_rows = [
        (names.get(row[0], str(row[0])), row[1], *(int(value or 0) for value in row[2:]))
        for row in fetched
    ]
    return Report(
        name="receivables",
        title=f"Receivables by licensee, aged at {as_of_day}",
        columns=[
            Column("licensee", "Licensee"),
            Column("currency", "Currency"),
            Column("current_minor", "0–30 days", money=True),
            Column("days_31_60_minor", "31–60 days", money=True),
            Column("days_61_90_minor", "61–90 days", money=True),
            Column("over_90_minor", "Over 90 days", money=True),
            Column("total_minor", "Total", money=True),
        ],
        rows=lambda: iter(receivable_rows),
        chart=_stacked_chart(
            receivable_rows,
            labels=["0–30 days", "31–60 days", "61–90 days", "Over 90 days"],
            first_value_index=2,
        ),
        notes=["Collections are applied to the oldest billings first."],
    )


# --- Flows -------------------------------------------------------------------------------------


def payouts_report(filters: ReportFilters) -> Report:
    payouts = Payout.objects.all()
    if filters.currency:
        payouts = payouts.filter(currency=filters.currency)
    if filters.period is not None:
        payouts = payouts.filter(
            created_at__date__gte=filters.first_day, created_at__date__lte=filters.last_day
        )
    grouped = (
        payouts.values("status", "currency")
        .annotate(count=Count("id"), amount=Sum("amount_minor"), reversed=Sum("reversed_minor"))
        .order_by("currency", "status")
    )
    payout_rows = [
        (
            row["status"],
            row["currency"],
            row["count"],
            int(row["amount"] or 0),
            int(row["reversed"] or 0),
        )
        for row in grouped
    ]
    return Report(
        name="payouts",
        title="Payouts by status",
        columns=[
            Column("status", "Status"),
            Column("currency", "Currency"),
            Column("count", "Payouts"),
            Column("amount_minor", "Amount", money=True),
            Column("reversed_minor", "Reversed", money=True),
        ],
        rows=lambda: iter(payout_rows),
        chart=_bar_chart(payout_rows, label_index=0, value_index=3, title="Amount"),
    )


def commission_report(filters: ReportFilters) -> Report:
    grouped = (
        _legs(filters, through_end=False)
        .filter(account__code=AccountCode.PLATFORM_COMMISSION)
        .values("entry__effective_date__year", "entry__effective_date__month", "currency")
        .annotate(total=Sum("amount_minor"))
        .order_by("currency", "entry__effective_date__year", "entry__effective_date__month")
    )
    commission_rows = [
        (
            f"{row['entry__effective_date__year']:04d}-{row['entry__effective_date__month']:02d}",
            row["currency"],
            -int(row["total"]),
        )
        for row in grouped
    ]
    return Report(
        name="commission",
        title="Platform commission revenue by month",
        columns=[
            Column("month", "Month"),
            Column("currency", "Currency"),
            Column("commission_minor", "Commission", money=True),
        ],
        rows=lambda: iter(commission_rows),
        chart=_bar_chart(commission_rows, label_index=0, value_index=2, title="Commission"),
        notes=["Net of commission given back on refunds and lost disputes."],
    )


def revenue_by_licensee_report(filters: ReportFilters) -> Report:
    grouped = (
        _legs(filters, through_end=False)
        .filter(account__code=AccountCode.LICENSEE_RECEIVABLE, entry__kind__in=BILLING_KINDS)
        .values("account__organisation_id", "currency")
        .annotate(total=Sum("amount_minor"))
        .order_by("currency", "-total")
    )
    names = _names({row["account__organisation_id"] for row in grouped})
    revenue_rows = [
        (names.get(row["account__organisation_id"], ""), row["currency"], int(row["total"]))
        for row in grouped
    ]
    return Report(
        name="revenue_by_licensee",
        title="Licence revenue by licensee (billed, gross)",
        columns=[
            Column("licensee", "Licensee"),
            Column("currency", "Currency"),
            Column("billed_minor", "Billed", money=True),
        ],
        rows=lambda: iter(revenue_rows),
        chart=_bar_chart(revenue_rows, label_index=0, value_index=2, title="Billed"),
    )


def revenue_by_catalogue_report(filters: ReportFilters) -> Report:
    lines = StatementLine.objects.all()
    if filters.currency:
        lines = lines.filter(currency=filters.currency)
    if filters.period is not None:
        lines = lines.filter(accrued_on__gte=filters.first_day, accrued_on__lte=filters.last_day)
    grouped = (
        lines.values("work__catalogue__name", "currency")
        .annotate(
            # Each holder's line repeats its work's gross and commission: weight by the share.
            gross=Sum(F("gross_exact") * F("share_bp")),
            commission=Sum(F("commission_exact") * F("share_bp")),
            holders=Sum("amount_minor"),
        )
        .order_by("currency", "work__catalogue__name")
    )
    catalogue_rows = [
        (
            row["work__catalogue__name"],
            row["currency"],
            _share_weighted_minor(row["gross"]),
            _share_weighted_minor(row["commission"]),
            int(row["holders"] or 0),
        )
        for row in grouped
    ]
    return Report(
        name="revenue_by_catalogue",
        title="Licence revenue by catalogue (allocated, by accrual date)",
        columns=[
            Column("catalogue", "Catalogue"),
            Column("currency", "Currency"),
            Column("gross_minor", "Gross", money=True),
            Column("commission_minor", "Commission", money=True),
            Column("holders_minor", "To rights holders", money=True),
        ],
        rows=lambda: iter(catalogue_rows),
        chart=_bar_chart(catalogue_rows, label_index=0, value_index=2, title="Gross"),
    )


def _share_weighted_minor(total: Decimal | None) -> int:
    with exact_arithmetic():
        return to_minor_units(Decimal(total or 0) / BASIS_POINTS)


# --- Charts ------------------------------------------------------------------------------------


def _bar_chart(
    rows: list[tuple[Any, ...]], *, label_index: int, value_index: int, title: str
) -> dict[str, Any] | None:
    if not rows:
        return None
    return {
        "type": "bar",
        "labels": [f"{row[label_index]} ({row[1]})" for row in rows[:30]],
        "datasets": [{"label": title, "data": [row[value_index] for row in rows[:30]]}],
    }


def _stacked_chart(
    rows: list[tuple[Any, ...]], *, labels: list[str], first_value_index: int
) -> dict[str, Any] | None:
    if not rows:
        return None
    return {
        "type": "bar",
        "stacked": True,
        "labels": [f"{row[0]} ({row[1]})" for row in rows[:30]],
        "datasets": [
            {"label": label, "data": [row[first_value_index + i] for row in rows[:30]]}
            for i, label in enumerate(labels)
        ],
    }


REPORTS: dict[str, Callable[[ReportFilters], Report]] = {
    "trial_balance": trial_balance_report,
    "payables": payables_report,
    "pending_earnings": pending_earnings_report,
    "receivables": receivables_report,
    "payouts": payouts_report,
    "commission": commission_report,
    "revenue_by_licensee": revenue_by_licensee_report,
    "revenue_by_catalogue": revenue_by_catalogue_report,
}

REPORT_TITLES = {
    "trial_balance": "Trial balance",
    "payables": "Payables by rights holder",
    "pending_earnings": "Pending earnings",
    "receivables": "Receivables by licensee (aged)",
    "payouts": "Payouts by status",
    "commission": "Platform commission revenue",
    "revenue_by_licensee": "Licence revenue by licensee",
    "revenue_by_catalogue": "Licence revenue by catalogue",
}


def report_build(*, name: str, filters: ReportFilters) -> Report:
    try:
        builder = REPORTS[name]
    except KeyError as error:
        raise ValueError(f"No report named {name!r}.") from error
    return builder(filters)
