"""Finance starts October's settlement and watches its progress bar reach 100 % (a real Celery
worker settles it); Harbour Press then reads its statement, downloads it as CSV and PDF, and
sees its earnings charted on the dashboard."""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

from playwright.sync_api import expect

from accounts.models import Membership, Organisation
from tests.factories import MembershipFactory, OrganisationFactory
from tests.money.settlement_world import OCTOBER, report_usage, worked_example

PASSWORD = "correct-horse-battery-staple"  # UserFactory's


def _sign_in(page, email: str) -> None:
    page.goto("/login/")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()


def test_finance_settles_october_and_harbour_reads_its_statement(
    page, live_server, transactional_db, celery_worker_real
):
    platform = OrganisationFactory(name="TrainRight", kind=Organisation.Kind.PLATFORM)
    finance = MembershipFactory(organisation=platform, role=Membership.Role.FINANCE).user
    world = worked_example()
    harbour_owner = MembershipFactory(organisation=world.harbour).user
    report_usage(
        world.agreement,
        OCTOBER,
        [(world.w1, "tokens_trained", 12_000_000), (world.w2, "tokens_trained", 4_000_000)],
    )

    _sign_in(page, finance.email)
    page.get_by_role("link", name="Settlement runs").first.click()
    page.get_by_label("Month to settle").fill("2026-10")
    page.get_by_role("button", name="Start settlement run").click()
    expect(page.get_by_test_id("run-title")).to_have_text("Settlement · October 2026")
    progress = page.get_by_test_id("run-progress")
    expect(progress).to_have_attribute("data-status", "completed", timeout=30_000)
    expect(page.get_by_test_id("run-percent")).to_have_text("100 %")
    expect(page.get_by_test_id("run-statements")).to_contain_text("Harbour Press")

    page.get_by_role("button", name="Sign out").click()
    _sign_in(page, harbour_owner.email)
    expect(page.get_by_test_id("creator-royalties-panel")).to_be_visible()
    expect(page.get_by_test_id("earnings-by-month")).to_be_attached()
    expect(page.get_by_test_id("earnings-by-licensee")).to_be_attached()
    page.get_by_role("link", name="Statements", exact=True).click()
    page.get_by_test_id("statements").get_by_role("link", name="Open").click()
    expect(page.get_by_test_id("statement-title")).to_have_text("Statement · October 2026")
    expect(page.get_by_test_id("earned")).to_have_text("USD 12.42")
    amounts = page.get_by_test_id("line-amount").all_inner_texts()
    assert sorted(amounts) == ["270", "972"]
    expect(page.get_by_test_id("statement-lines")).to_contain_text("Northwind AI")

    with page.expect_download() as csv_download:
        page.get_by_test_id("statement-csv").click()
    rows = list(csv.DictReader(io.StringIO(Path(csv_download.value.path()).read_text())))
    assert {row["amount_minor"] for row in rows if row["line_kind"] == "usage"} == {"972", "270"}
    with page.expect_download() as pdf_download:
        page.get_by_test_id("statement-pdf").click()
    assert re.search(r"\.pdf$", pdf_download.value.suggested_filename)
    assert Path(pdf_download.value.path()).read_bytes().startswith(b"%PDF")
