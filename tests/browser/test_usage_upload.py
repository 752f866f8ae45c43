"""A licensee uploads a month's usage as CSV: a file with bad lines shows them by line number
and stores nothing; the corrected file is stored and its report page opens."""

from __future__ import annotations

import re

from playwright.sync_api import expect

from accounts.models import Organisation
from tests.conftest import make_tenant
from tests.money.factories import usage_world
from usage.models import UsageReport

PASSWORD = "correct-horse-battery-staple"  # tests.factories.UserFactory's


def test_a_licensee_uploads_a_csv_sees_its_bad_lines_then_stores_the_fixed_file(
    page, transactional_db
):
    licensee = make_tenant(Organisation.Kind.AI_DEVELOPER, "Northwind AI")
    world = usage_world(licensee=licensee.organisation)
    w1, w2 = world.works[0].pk, world.works[1].pk

    page.goto("/login/")
    page.get_by_label("Email").fill(licensee.owner.email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("link", name="Usage reports").click()
    page.get_by_role("link", name="Report usage").click()
    expect(page).to_have_url(re.compile(rf"/usage/agreements/{world.agreement.pk}/$"))

    def upload(text: str) -> None:
        page.get_by_label("Report id").fill("october-2026")
        page.get_by_label("Month").fill("2026-10")
        page.get_by_label("CSV file").set_input_files(
            {"name": "usage.csv", "mimeType": "text/csv", "buffer": text.encode()}
        )
        page.get_by_role("button", name="Upload report").click()

    upload(
        "work_id,metric,quantity,currency\n"
        f"{w1},tokens_trained,12000000,\n"
        f"{w2},tokens_trained,-40,\n"
        f"{w2},revenue,9900,EUR\n"
    )
    errors = page.get_by_test_id("usage-errors").locator("tbody tr")
    expect(errors).to_have_count(2)
    expect(errors.nth(0)).to_contain_text("3")
    expect(errors.nth(0)).to_contain_text("quantity must not be negative: -40")
    expect(errors.nth(1)).to_contain_text("4")
    expect(errors.nth(1)).to_contain_text("currency must be USD")
    assert not UsageReport.objects.exists()

    upload(
        "work_id,metric,quantity,currency\n"
        f"{w1},tokens_trained,12000000,\n"
        f"{w2},tokens_trained,40,\n"
        f"{w2},revenue,9900,USD\n"
    )
    expect(page.get_by_role("status")).to_contain_text(
        "Version 1 of report october-2026 stored: 3 lines."
    )
    expect(page.get_by_test_id("usage-report-summary")).to_contain_text("2026-10")
    expect(page.get_by_test_id("usage-totals")).to_contain_text("12000040")
    assert UsageReport.objects.get().line_count == 3
