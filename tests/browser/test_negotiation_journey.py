"""A licence negotiated in the browser, end to end: an AI developer requests a licence for a
publisher's catalogue, the publisher counters, the developer counters, the publisher accepts;
the developer pays on Stripe's hosted Checkout page (the emulator), the signed webhook reaches
our server and a real Celery worker, the agreement turns active on its own, and the developer
downloads the certificate and verifies it on the public page."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from marketplace.models import Agreement, CheckoutAttempt
from tests.marketplace.conftest import world  # noqa: F401 (a fixture this test uses)

pytestmark = pytest.mark.worker

PASSWORD = "correct-horse-battery-staple"  # tests.factories.UserFactory's


def _sign_in(page, email: str) -> None:
    page.goto("/login/")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_test_id("dashboard-title")).to_be_visible()


def _sign_out(page) -> None:
    page.get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(re.compile(r"/login/"))


def _counter(page, fee: str, message: str) -> None:
    page.get_by_text("Make a counter-offer").click()
    form = page.get_by_test_id("counter-form")
    form.get_by_label("Upfront fee", exact=True).fill(fee)
    form.get_by_label("Message").fill(message)
    form.get_by_role("button", name="Send counter-offer").click()
    expect(page.get_by_text("Your counter-offer")).to_be_visible()


def test_a_licence_is_negotiated_paid_for_and_verified_in_the_browser(
    page, live_server, transactional_db, celery_worker_real, emulated_stripe, request, tmp_path
):
    parties = request.getfixturevalue("world")
    emulated_stripe.deliver_webhooks_to(live_server.url)
    developer, creator = parties.northwind.owner.email, parties.harbour.owner.email

    # 1. The developer asks for a licence over the whole catalogue, offering less.
    _sign_in(page, developer)
    page.get_by_role("link", name="Request a licence").first.click()
    catalogues = page.get_by_test_id("licensable-catalogues")
    catalogues.get_by_role("button", name="Request a licence").click()
    form = page.get_by_test_id("request-form")
    expect(form.get_by_label("Pre-training")).to_be_checked()
    form.get_by_label("Upfront fee", exact=True).fill("900.00")
    form.get_by_label("Message").fill("For our 2027 model.")
    form.get_by_role("button", name="Send the request").click()
    expect(page.get_by_test_id("offer-status")).to_contain_text("Awaiting licensor")
    offer_url = page.url
    _sign_out(page)

    # 2. The publisher sees it in its notifications and counters.
    _sign_in(page, creator)
    expect(page.get_by_test_id("notification-badge")).to_have_text("1")
    page.get_by_test_id("notifications-link").click()
    page.get_by_role("link", name=re.compile("Northwind AI asks for a licence")).click()
    expect(page.get_by_test_id("offer-status")).to_contain_text("Your answer is needed")
    _counter(page, "1500.00", "Our floor for the whole catalogue.")
    _sign_out(page)

    # 3. The developer sees what changed and meets in the middle.
    _sign_in(page, developer)
    page.goto(offer_url)
    diff = page.get_by_test_id("diff-2")
    expect(diff).to_contain_text("USD 900.00")
    expect(diff).to_contain_text("USD 1,500.00")
    _counter(page, "1200.00", "Meet in the middle?")
    _sign_out(page)

    # 4. The publisher accepts version 3.
    _sign_in(page, creator)
    page.goto(offer_url)
    expect(page.get_by_test_id("diff-3")).to_contain_text("USD 1,200.00")
    page.get_by_role("button", name="Accept version 3").click()
    expect(page.get_by_test_id("agreement-status").first).to_have_text("Awaiting payment")
    agreement_url = page.url
    _sign_out(page)

    # 5. The developer pays on Stripe's page; the agreement turns active when the webhook lands.
    _sign_in(page, developer)
    page.goto(agreement_url)
    page.get_by_label("Save my card for usage charges").check()
    page.get_by_role("button", name="Pay USD 1,200.00").click()
    expect(page).to_have_url(re.compile(re.escape(emulated_stripe.url)))
    page.get_by_role("button", name="Pay").click()
    expect(page).to_have_url(re.compile(r"/checkout/return/"))
    expect(page.get_by_test_id("agreement-status")).to_have_text("Active", timeout=30_000)
    agreement = Agreement.objects.get()
    assert agreement.upfront_fee_minor == 120_000
    paid = CheckoutAttempt.objects.get(status="paid")
    assert paid.save_payment_method and paid.saved_payment_method_id

    # 6. The certificate downloads and verifies on the public page, naming the licensed work.
    with page.expect_download() as download:
        page.get_by_test_id("certificate-download").click()
    certificate = tmp_path / "licence.json"
    download.value.save_as(certificate)
    training_file = tmp_path / "salt-roads.txt"
    training_file.write_bytes(b"salt roads text")
    _sign_out(page)
    page.goto("/verify/")
    page.get_by_label("Certificate file (.json)").set_input_files(str(certificate))
    page.get_by_label("Content to check (optional)").set_input_files(str(training_file))
    page.get_by_role("button", name="Verify").click()
    expect(page.get_by_test_id("verification-status")).to_have_text("valid")
    expect(page.get_by_test_id("coverage")).to_contain_text("Salt Roads")

    # A file that is not licensed fails, and says why.
    other = tmp_path / "other.txt"
    other.write_bytes(b"someone else's novel")
    page.get_by_label("Certificate file (.json)").set_input_files(str(certificate))
    page.get_by_label("Content to check (optional)").set_input_files(str(other))
    page.get_by_role("button", name="Verify").click()
    expect(page.get_by_test_id("verification-status")).to_have_text("not_covered")
    expect(page.get_by_test_id("verification-reason")).to_contain_text("not covered")
