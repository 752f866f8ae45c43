"""Sign-up → sign-in → dashboard, as each of the three personas would do it."""

from __future__ import annotations

import re

from playwright.sync_api import expect

from accounts.models import Membership, Organisation, User
from accounts.services import invitation_create

PASSWORD = "opt-in-not-opt-out-2026"


def _sign_out_and_in(page, email):
    page.get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(re.compile(r"/login/"))
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()


def test_creator_signs_up_signs_in_and_sees_the_creator_dashboard(page, transactional_db):
    page.goto("/")
    page.get_by_role("button", name="Get started").click()
    page.get_by_label("Your name").fill("Ana Rivera")
    page.get_by_label("Email").fill("ana@example.test")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_label("Organisation").fill("Ana Rivera")
    page.get_by_label("I create or hold rights to works").check()
    page.get_by_label("Kind of rights holder").select_option("author")
    page.get_by_role("button", name="Create account").click()
    expect(page.get_by_test_id("dashboard-title")).to_have_text("Creator dashboard")
    _sign_out_and_in(page, "ana@example.test")
    expect(page.get_by_test_id("dashboard-title")).to_have_text("Creator dashboard")
    assert User.objects.get(email="ana@example.test").memberships.get().role == "owner"


def test_ai_developer_signs_up_signs_in_and_sees_the_developer_dashboard(page, transactional_db):
    page.goto("/signup/")
    page.get_by_label("Your name").fill("Nia Okafor")
    page.get_by_label("Email").fill("nia@northwind.test")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_label("Organisation").fill("Northwind AI")
    page.get_by_label("I license works to train AI").check()
    page.get_by_role("button", name="Create account").click()
    expect(page.get_by_test_id("dashboard-title")).to_have_text("AI developer dashboard")
    _sign_out_and_in(page, "nia@northwind.test")
    expect(page.get_by_test_id("dashboard-title")).to_have_text("AI developer dashboard")


def test_finance_user_signs_up_by_invitation_and_sees_the_finance_console(page, transactional_db):
    owner = User.objects.create_user(email="owner@trainright.test", password=PASSWORD)
    platform = Organisation.objects.create(name="TrainRight", slug="trainright", kind="platform")
    Membership.objects.create(user=owner, organisation=platform, role="owner")
    issued = invitation_create(
        organisation=platform, email="fran@trainright.test", role="finance", invited_by=owner
    )
    page.goto(f"/signup/?invite={issued.token}")
    expect(page.get_by_test_id("invitation")).to_contain_text("TrainRight")
    page.get_by_label("Your name").fill("Fran Ledger")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Create account").click()
    expect(page.get_by_test_id("dashboard-title")).to_have_text("Finance console")
    _sign_out_and_in(page, "fran@trainright.test")
    expect(page.get_by_test_id("dashboard-title")).to_have_text("Finance console")


def test_a_bad_sign_up_shows_the_message_by_the_field(page, transactional_db):
    page.goto("/signup/")
    page.get_by_label("Email").fill("not-an-email")
    page.get_by_role("button", name="Create account").click()
    expect(page.locator("#id_email-error")).to_be_visible()
    assert not User.objects.exists()
