"""A finance user settles last month (real agreements with usage, settled chunk by chunk by a
real Celery worker) and watches the progress bar reach 100 %, reconciles the month with Stripe
(a payout booked in the ledger never reached Stripe), resolves the exception, closes the month
and downloads the exports: the journal balances per currency and matches the trial balance."""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from collections import defaultdict
from decimal import Decimal
from pathlib import Path

from playwright.sync_api import expect

from accounts.models import Membership, Organisation
from ledger.models import AccountCode, EntryKind, JournalEntry
from ledger.services import LegSpec, journal_post, ledger_account_for
from settlement.models import SettlementRun
from tests.factories import MembershipFactory, OrganisationFactory
from tests.money.settlement_world import report_usage, worked_example

PASSWORD = "books-balance-2026"
AGREEMENTS = 4
LINES_PER_WORK = 30
GHOST_TRANSFER = "tr_neverreachedstripe"

# Installed on every page: records each state of the settlement progress bar as htmx swaps it.
RECORD_PROGRESS = """
window.__progress = [];
const record = () => {
  const bar = document.querySelector('[data-testid=settlement-progress]');
  if (bar) window.__progress.push(Number(bar.dataset.percent));
};
document.addEventListener('DOMContentLoaded', () => {
  record();
  new MutationObserver(record).observe(document.body, {childList: true, subtree: true});
});
"""


def _sign_in(page, email):
    page.goto("/login/")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()


def _reconcile(page, label):
    page.goto("/finance/reconciliation/")
    page.get_by_label("Period (YYYY-MM)").fill(label)
    page.get_by_role("button", name="Reconcile").click()
    expect(page.get_by_test_id("run-status")).to_have_text("completed", timeout=30_000)


def _last_month() -> tuple[dt.date, dt.date]:
    """Last month's first and last day."""
    from django.utils import timezone

    last_day = timezone.now().date().replace(day=1) - dt.timedelta(days=1)
    return last_day.replace(day=1), last_day


def _marketplace(settled: dt.date) -> int:
    """AGREEMENTS worked-example agreements, all licensed by one developer, each with usage in
    the settled month; returns the number of usage lines."""
    northwind = OrganisationFactory(name="Northwind AI", kind=Organisation.Kind.AI_DEVELOPER)
    lines = 0
    for number in range(AGREEMENTS):
        world = worked_example(
            parties={"northwind": northwind},
            starts_on=settled.replace(year=settled.year - 1),
            ends_on=settled.replace(year=settled.year + 1),
        )
        usage = [
            (work, "tokens_trained", 1_000_000 + 1_000 * number + index)
            for work in (world.w1, world.w2)
            for index in range(LINES_PER_WORK)
        ]
        report_usage(world.agreement, settled, usage)
        lines += len(usage)
    return lines


def _ghost_payout(day: dt.date) -> JournalEntry:
    """A payout the ledger booked for a transfer that never reached Stripe."""
    holder = Organisation.objects.filter(name="Ana Rivera").order_by("id").first()
    return journal_post(
        kind=EntryKind.PAYOUT,
        currency="USD",
        effective_date=day,
        legs=[
            LegSpec(
                ledger_account_for(
                    code=AccountCode.HOLDER_PAYABLE, currency="USD", organisation=holder
                ),
                2_000,
            ),
            LegSpec(ledger_account_for(code=AccountCode.PLATFORM_CASH, currency="USD"), -2_000),
        ],
        memo="Payout booked by hand",
        reference="payout:ghost",
        idempotency_key="payout:ghost",
        stripe_object_id=GHOST_TRANSFER,
    )


def _minor(major: str) -> int:
    return int(Decimal(major or "0") * 100)


def test_finance_user_settles_reconciles_resolves_closes_and_exports(
    page,
    live_server,
    transactional_db,
    celery_worker_real,
    emulated_stripe,
    tenant_factory,
    monkeypatch,
):
    # One agreement per chunk: the run is several chunks, each a task for the worker.
    monkeypatch.setattr("settlement.services.CHUNK_MAX_AGREEMENTS", 1)
    settled, last_day = _last_month()
    label = f"{settled:%Y-%m}"
    platform = tenant_factory(Organisation.Kind.PLATFORM, "TrainRight").organisation
    fran = MembershipFactory(organisation=platform, role=Membership.Role.FINANCE).user
    fran.set_password(PASSWORD)
    fran.save()
    lines_total = _marketplace(settled)
    _ghost_payout(last_day)

    page.add_init_script(RECORD_PROGRESS)
    _sign_in(page, fran.email)

    # Settle last month from the page (the form's default) and watch the bar.
    page.goto("/finance/settlement/")
    expect(page.get_by_label("Period (YYYY-MM)")).to_have_value(label)
    page.get_by_role("button", name="Run settlement").click()
    progress = page.get_by_test_id("settlement-progress").first
    bar = progress.locator("progress")
    expect(bar).to_have_attribute("aria-valuemax", "100")
    expect(progress).to_have_attribute("data-status", "completed", timeout=60_000)
    expect(bar).to_have_attribute("aria-valuenow", "100")
    expect(bar).to_have_attribute("value", "100")
    expect(progress.get_by_test_id("settlement-percent")).to_have_text("100 %")
    expect(progress.get_by_test_id("settlement-lines")).to_have_text(f"{lines_total}/{lines_total}")
    expect(progress).to_contain_text(f"{AGREEMENTS}/{AGREEMENTS} chunks")
    seen = page.evaluate("window.__progress")
    assert seen and seen[-1] == 100, seen
    assert seen == sorted(seen), f"the bar went backwards: {seen}"
    run = SettlementRun.objects.get(period_start=settled)
    assert (run.status, run.chunks_total, run.lines_total) == (
        SettlementRun.Status.COMPLETED,
        AGREEMENTS,
        lines_total,
    )
    settled_entries = JournalEntry.objects.filter(
        kind=EntryKind.USAGE_SETTLEMENT, reference=f"settlement_run:{run.pk}"
    )
    assert settled_entries.count() == AGREEMENTS

    # Reconcile the month: the payout that never reached Stripe is the one exception.
    _reconcile(page, label)
    expect(page.get_by_test_id("exception-count")).to_have_text("1")
    rows = page.get_by_test_id("exception-row")
    expect(rows).to_have_count(1)
    expect(rows.first).to_have_attribute("data-kind", "missing_in_stripe")
    exception_id = rows.first.locator("a").inner_text()[1:]

    page.goto(f"/finance/exceptions/{exception_id}/")
    page.get_by_test_id("comment-form").get_by_label("Comment").fill("No transfer at Stripe.")
    page.get_by_role("button", name="Comment").click()
    expect(page.get_by_text("No transfer at Stripe.")).to_be_visible()
    form = page.get_by_test_id("resolve-form")
    form.get_by_label("Resolution").select_option("reverse_ledger")
    form.get_by_label("Reason").fill("The transfer was never made.")
    form.get_by_role("button", name="Resolve").click()
    expect(page.get_by_test_id("exception-status")).to_have_text("resolved")
    expect(page.get_by_test_id("adjusting-entry")).to_be_visible()

    _reconcile(page, label)
    expect(page.get_by_test_id("exception-count")).to_have_text("0")

    # Close the month.
    page.goto(f"/finance/periods/{label}/")
    expect(page.get_by_test_id("close-check")).to_have_count(8)
    failing = page.locator("[data-testid=close-check][data-passed=false]")
    assert failing.count() == 0, failing.all_inner_texts()
    page.get_by_test_id("close-period").click()
    expect(page.get_by_test_id("period-status")).to_have_text("closed")

    # The journal: every leg in the month, zero per currency, the settlement and the reversal.
    with page.expect_download() as journal:
        page.get_by_test_id("journal-csv").click()
    legs = list(csv.DictReader(io.StringIO(Path(journal.value.path()).read_text("utf-8"))))
    assert legs and {leg["date"][:7] for leg in legs} == {label}
    per_currency: dict[str, int] = defaultdict(int)
    per_account: dict[tuple[str, str], int] = defaultdict(int)
    for leg in legs:
        amount = _minor(leg["debit"]) - _minor(leg["credit"])
        per_currency[leg["currency"]] += amount
        code = leg["account_code"].split(":")[0]
        per_account[(leg["currency"], code)] += amount
    assert per_currency == {"USD": 0}
    references = {leg["reference"] for leg in legs}
    assert {f"settlement_run:{run.pk}", "payout:ghost"} <= references
    assert sum(leg["stripe_object_id"] == GHOST_TRANSFER for leg in legs) == 4  # and reversal

    # The trial balance as at the month's end is the month's journal (the books start in it).
    page.goto(f"/finance/reports/trial_balance/?period={label}")
    with page.expect_download() as trial_csv:
        page.get_by_test_id("download-csv").click()
    balances: dict[tuple[str, str], int] = defaultdict(int)
    for row in csv.DictReader(io.StringIO(Path(trial_csv.value.path()).read_text("utf-8"))):
        balances[(row["currency"], row["code"])] += int(row["balance_minor"])
    assert {k: v for k, v in balances.items() if v} == {k: v for k, v in per_account.items() if v}
    assert balances[("USD", AccountCode.LICENSEE_RECEIVABLE)] > 0
    with page.expect_download() as xlsx:
        page.get_by_test_id("download-xlsx").click()
    assert re.search(r"trial_balance_.*\.xlsx$", xlsx.value.suggested_filename)

    # A journal export built by the worker.
    page.goto("/finance/exports/")
    form = page.get_by_test_id("export-form")
    form.get_by_label("Kind").select_option("journal")
    form.get_by_label("Period (YYYY-MM)").fill(label)
    form.get_by_label("Format").select_option("xlsx")
    form.get_by_role("button", name="Build export").click()
    with page.expect_download(timeout=30_000) as built:
        page.get_by_test_id("export-download").first.click()
    assert built.value.suggested_filename == f"journal_{label}_all.xlsx"
    assert Path(built.value.path()).read_bytes().startswith(b"PK")
