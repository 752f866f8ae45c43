"""Reports read the ledger; exports stream them as CSV and XLSX; the journal export balances
per currency and agrees with the trial balance; statements export in bulk as a zip."""

from __future__ import annotations

import csv
import datetime as dt
import io
import zipfile
from collections import defaultdict
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from openpyxl import load_workbook

from accounts.models import Organisation
from core.money import major_text
from finance.exports import (
    JOURNAL_COLUMNS,
    account_code_label,
    export_open,
    finance_export_build,
    journal_csv_lines,
    report_csv_lines,
    report_xlsx,
    temporary_file,
)
from finance.models import FinanceExport
from finance.reports import REPORTS, ReportFilters, report_build
from ledger.models import AccountCode, EntryKind
from ledger.selectors import trial_balance as ledger_trial_balance
from ledger.services import LegSpec, accounting_period_for, journal_post, ledger_account_for
from settlement.services import settlement_run_create, settlement_run_execute, settlement_run_start
from tests.money.settlement_world import report_usage, worked_example

pytestmark = [pytest.mark.django_db, pytest.mark.dates]

DAY = dt.date(2026, 3, 10)


def _account(code, currency="USD", organisation=None):
    return ledger_account_for(code=code, currency=currency, organisation=organisation)


def _post(kind, legs, key, currency="USD", day=DAY):
    return journal_post(
        kind=kind,
        currency=currency,
        effective_date=day,
        legs=[LegSpec(account=account, amount_minor=amount) for account, amount in legs],
        memo=f"memo {key}",
        reference=key,
        idempotency_key=key,
    )


@pytest.fixture
def books(tenant_factory):
    licensee = tenant_factory(Organisation.Kind.AI_DEVELOPER, "Northwind AI").organisation
    ana = tenant_factory(Organisation.Kind.CREATOR, "Ana Rivera").organisation
    ben = tenant_factory(Organisation.Kind.CREATOR, "Ben Okafor").organisation
    receivable = _account(AccountCode.LICENSEE_RECEIVABLE, organisation=licensee)
    _post(
        EntryKind.UPFRONT_FEE,
        [
            (receivable, 120_000),
            (_account(AccountCode.PLATFORM_COMMISSION), -12_000),
            (_account(AccountCode.HOLDER_PENDING, organisation=ana), -70_000),
            (_account(AccountCode.HOLDER_PENDING, organisation=ben), -38_000),
        ],
        "fee:1",
        day=dt.date(2025, 12, 1),
    )
    _post(
        EntryKind.UPFRONT_FEE,
        [
            (receivable, 50_000),
            (_account(AccountCode.PLATFORM_COMMISSION), -5_000),
            (_account(AccountCode.HOLDER_PENDING, organisation=ana), -45_000),
        ],
        "fee:2",
    )
    _post(
        EntryKind.COLLECTION,
        [
            (_account(AccountCode.PLATFORM_CASH), 96_000),
            (_account(AccountCode.STRIPE_FEES), 4_000),
            (receivable, -100_000),
            (_account(AccountCode.HOLDER_PENDING, organisation=ana), 70_000),
            (_account(AccountCode.HOLDER_PAYABLE, organisation=ana), -70_000),
        ],
        "collection:1",
    )
    _post(
        EntryKind.PAYOUT,
        [
            (_account(AccountCode.HOLDER_PAYABLE, organisation=ana), 20_000),
            (_account(AccountCode.PLATFORM_CASH), -20_000),
        ],
        "payout:1",
    )
    eur_licensee = tenant_factory(Organisation.Kind.AI_DEVELOPER, "Eurobot").organisation
    _post(
        EntryKind.UPFRONT_FEE,
        [
            (_account(AccountCode.LICENSEE_RECEIVABLE, "EUR", eur_licensee), 9_999),
            (_account(AccountCode.PLATFORM_COMMISSION, "EUR"), -999),
            (_account(AccountCode.HOLDER_PENDING, "EUR", ben), -9_000),
        ],
        "fee:eur",
        currency="EUR",
    )
    return {"licensee": licensee, "ana": ana, "ben": ben}


def _rows(report):
    return [dict(zip([c.key for c in report.columns], row, strict=True)) for row in report.rows()]


def test_balance_reports_read_the_ledger_as_at_the_period_end(books):
    march = accounting_period_for(day=DAY)
    filters = ReportFilters(period=march, currency="USD")
    payables = _rows(report_build(name="payables", filters=filters))
    assert payables == [
        {
            "holder": "Ana Rivera",
            "currency": "USD",
            "payable_minor": 50_000,
            "recoverable_minor": 0,
            "net_owed_minor": 50_000,
        }
    ]
    pending = {
        row["holder"]: row["pending_minor"]
        for row in _rows(report_build(name="pending_earnings", filters=filters))
    }
    assert pending == {"Ana Rivera": 45_000, "Ben Okafor": 38_000}

    (receivable,) = _rows(report_build(name="receivables", filters=filters))
    # 170,000 billed, 100,000 collected against the oldest (December's 120,000) first.
    assert receivable["total_minor"] == 70_000
    assert receivable["current_minor"] == 50_000  # March's fee, 21 days old at the 31st
    assert receivable["over_90_minor"] == 20_000  # what is left of December's

    december = accounting_period_for(day=dt.date(2025, 12, 1))
    at_december = _rows(report_build(name="receivables", filters=ReportFilters(period=december)))
    assert [row["total_minor"] for row in at_december] == [120_000]


def test_flow_reports_count_only_the_period(books):
    march = ReportFilters(period=accounting_period_for(day=DAY))
    commission = _rows(report_build(name="commission", filters=march))
    assert {(r["month"], r["currency"], r["commission_minor"]) for r in commission} == {
        ("2026-03", "USD", 5_000),
        ("2026-03", "EUR", 999),
    }
    revenue = _rows(report_build(name="revenue_by_licensee", filters=march))
    assert {(r["licensee"], r["billed_minor"]) for r in revenue} == {
        ("Northwind AI", 50_000),
        ("Eurobot", 9_999),
    }
    all_time = _rows(
        report_build(name="revenue_by_licensee", filters=ReportFilters(currency="USD"))
    )
    assert [(r["licensee"], r["billed_minor"]) for r in all_time] == [("Northwind AI", 170_000)]
    chart = report_build(name="commission", filters=march).chart
    assert chart is not None and chart["datasets"][0]["data"] == [999, 5_000]


def test_the_journal_export_balances_and_matches_the_trial_balance(books):
    march = accounting_period_for(day=DAY)
    december = accounting_period_for(day=dt.date(2025, 12, 1))
    rows = list(
        csv.DictReader(io.StringIO("".join(journal_csv_lines(ReportFilters(period=march)))))
    )
    assert list(rows[0]) == list(JOURNAL_COLUMNS)
    assert {row["date"] for row in rows} == {DAY.isoformat()}

    def minor(text):
        return int(Decimal(text or "0") * 100)

    per_currency = defaultdict(int)
    per_account = defaultdict(int)
    for row in rows:
        assert bool(row["debit"]) != bool(row["credit"])
        amount = minor(row["debit"]) - minor(row["credit"])
        per_currency[row["currency"]] += amount
        per_account[(row["account_code"], row["currency"])] += amount
    assert dict(per_currency) == {"USD": 0, "EUR": 0}

    # The period's movement per account is the trial balance at its end less the one before.
    closing = ledger_trial_balance(period=march)
    opening = {r.account_id: r.balance_minor for r in ledger_trial_balance(period=december).rows}
    expected = {
        (account_code_label(r.code, r.organisation_id, r.subledger_key), r.currency): (
            r.balance_minor - opening.get(r.account_id, 0)
        )
        for r in closing.rows
    }
    assert {k: v for k, v in expected.items() if v} == {k: v for k, v in per_account.items() if v}


def test_every_report_exports_as_csv_and_xlsx(books):
    filters = ReportFilters(period=accounting_period_for(day=DAY))
    for name in REPORTS:
        report = report_build(name=name, filters=filters)
        lines = list(report_csv_lines(report))
        assert lines[0].strip() == ",".join(column.key for column in report.columns)
        path = temporary_file(".xlsx")
        try:
            report_xlsx(report, path)
            sheet = load_workbook(path, read_only=True).active
            values = list(sheet.values)
            assert list(values[0]) == [column.label for column in report.columns]
            assert len(values) == len(lines)
        finally:
            path.unlink()


def test_an_export_job_builds_its_file_with_progress(books):
    export = FinanceExport.objects.create(
        kind="journal", file_format="xlsx", params={"period": "2026-03", "currency": "USD"}
    )
    built = finance_export_build(export_id=export.pk)
    assert built.status == "completed" and built.percent == 100
    assert built.progress_done == built.progress_total == 10
    with export_open(built) as stored:
        sheet = load_workbook(stored, read_only=True).active
        assert len(list(sheet.values)) == 11


@settings(max_examples=60, deadline=None)
@given(st.integers(min_value=-(10**12), max_value=10**12), st.sampled_from(["USD", "JPY", "BHD"]))
def test_journal_amounts_are_exact(amount, currency):
    text = major_text(amount, currency)
    exponent = {"USD": 2, "JPY": 0, "BHD": 3}[currency]
    assert Decimal(text).scaleb(exponent) == amount


def test_a_settled_month_exports_its_statements_and_revenue_by_catalogue():
    world = worked_example()
    march = dt.date(2026, 3, 1)
    report_usage(
        world.agreement,
        march,
        [(world.w1, "tokens_trained", 12_000_000), (world.w2, "tokens_trained", 4_000_000)],
    )
    run = settlement_run_create(period_start=march, today=dt.date(2026, 4, 2))
    settlement_run_execute(run=settlement_run_start(run=run, dispatch=False))

    filters = ReportFilters(period=accounting_period_for(day=march))
    assert _rows(report_build(name="revenue_by_catalogue", filters=filters)) == [
        {
            "catalogue": "Harbour Press list",
            "currency": "USD",
            "gross_minor": 4_800,
            "commission_minor": 480,
            "holders_minor": 4_320,
        }
    ]
    export = FinanceExport.objects.create(
        kind="statements", file_format="zip", params={"period": "2026-03"}
    )
    built = finance_export_build(export_id=export.pk)
    assert built.status == "completed" and built.progress_done == built.progress_total == 4
    with export_open(built) as stored, zipfile.ZipFile(stored) as archive:
        names = sorted(archive.namelist())
        assert len(names) == 8
        assert {name.rsplit(".", 1)[1] for name in names} == {"pdf", "csv"}
        pdf = next(name for name in names if "Ana_Rivera" in name and name.endswith(".pdf"))
        assert archive.read(pdf).startswith(b"%PDF")
