"""A creator lists a work with a co-holder, sets its consent and terms; the co-holder confirms
the split sheet; a licensee then finds the work by search and reads its terms."""

from __future__ import annotations

import re

from playwright.sync_api import expect

from accounts.models import Membership, Organisation, User
from catalog.models import LicenceTerms, Work
from catalog.selectors import licensable_works

PASSWORD = "opt-in-not-opt-out-2026"


def _person(email: str, name: str, organisation: Organisation) -> User:
    user = User.objects.create_user(email=email, password=PASSWORD, full_name=name)
    Membership.objects.create(user=user, organisation=organisation, role="owner")
    return user


def _sign_in(page, email: str) -> None:
    page.goto("/login/")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_test_id("current-user")).to_have_text(email)


def _sign_out(page) -> None:
    page.get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(re.compile(r"/login/"))


def test_a_work_with_two_rights_holders_becomes_findable_once_both_agree(page, transactional_db):
    harbour = Organisation.objects.create(
        name="Harbour Press", slug="harbour-press", kind="creator", creator_category="publisher"
    )
    ben = Organisation.objects.create(
        name="Ben Ode", slug="ben-ode", kind="creator", creator_category="author"
    )
    northwind = Organisation.objects.create(
        name="Northwind AI", slug="northwind-ai", kind="ai_developer"
    )
    _person("hana@harbour.test", "Hana Harbour", harbour)
    _person("ben@ode.test", "Ben Ode", ben)
    _person("nia@northwind.test", "Nia Northwind", northwind)

    # The creator makes a catalogue and adds a work shared with Ben.
    _sign_in(page, "hana@harbour.test")
    page.get_by_role("link", name="Catalogues", exact=True).click()
    page.get_by_label("Catalogue name").fill("Harbour Press Backlist")
    page.get_by_role("button", name="Create catalogue").click()
    expect(page.get_by_test_id("catalogue-name")).to_have_text("Harbour Press Backlist")
    page.get_by_role("button", name="Add a work").click()
    page.get_by_label("Title").fill("The Quiet Key")
    page.get_by_label("Kind").select_option("book")
    page.get_by_label("ISBN-13").fill("978-0-306-40615-7")
    page.get_by_label("Share 1 (%)").fill("50")
    expect(page.get_by_test_id("split-total")).to_contain_text("50 % still to assign")
    page.get_by_label("Holder 2").fill("ben-ode")
    page.get_by_label("Role 2").select_option("author")
    page.get_by_label("Share 2 (%)").fill("50")
    expect(page.get_by_test_id("split-total")).to_contain_text("Shares total 100 %")
    page.get_by_label("Pre-training (ai-train)").select_option("yes")
    page.get_by_role("button", name="Add work").click()
    expect(page.get_by_test_id("work-title")).to_have_text("The Quiet Key")
    expect(page.get_by_test_id("work-status")).to_contain_text("awaiting confirmation from Ben Ode")

    # Consent for search indexing too, toggled in place (htmx), then the work's own terms.
    page.get_by_label("Consent for ai-index").select_option("yes")
    expect(page.get_by_test_id("effective-ai-index")).to_have_text("permitted")
    page.get_by_role("button", name="Give this work its own terms").click()
    page.get_by_label("Upfront fee", exact=True).fill("600.00")
    page.get_by_label("The fee is charged").select_option("per_work")
    page.get_by_label("Rate per 1,000 tokens trained").fill("0.3")
    page.get_by_role("button", name="Save terms").click()
    expect(page.get_by_text("Terms saved.")).to_be_visible()
    work = Work.objects.get(title="The Quiet Key")
    assert LicenceTerms.objects.get(work=work).upfront_fee_minor == 60_000
    assert not licensable_works().filter(pk=work.pk).exists()  # Ben has not confirmed yet
    _sign_out(page)

    # Ben confirms the split sheet from his confirmations page.
    _sign_in(page, "ben@ode.test")
    page.get_by_role("link", name="Confirmations", exact=True).click()
    expect(page.get_by_test_id(f"awaiting-{work.pk}")).to_contain_text("The Quiet Key")
    page.get_by_role("button", name="Confirm for Ben Ode").click()
    expect(page.get_by_text("You confirmed the split sheet of The Quiet Key.")).to_be_visible()
    expect(page.get_by_test_id("nothing-awaiting")).to_be_visible()
    _sign_out(page)

    # The licensee finds it by searching and reads its terms.
    _sign_in(page, "nia@northwind.test")
    page.get_by_role("link", name="Find works", exact=True).click()
    page.get_by_label("Search").fill("quiet")
    results = page.get_by_test_id("search-results")
    expect(results).to_contain_text("The Quiet Key")
    results.get_by_role("link", name="The Quiet Key").click()
    expect(page.get_by_test_id("work-title")).to_have_text("The Quiet Key")
    expect(page.get_by_test_id("work-terms")).to_contain_text("USD 600.00 per work")
    expect(page.get_by_test_id("permitted-uses")).to_contain_text("ai-train")
