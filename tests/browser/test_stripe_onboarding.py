"""A creator sets up payouts in the browser: our "Get paid" page, the Stripe emulator's hosted
onboarding page, back to us, and the page updates once Stripe's account.updated webhook has
reached our endpoint and a real Celery worker."""

from __future__ import annotations

import re

from playwright.sync_api import expect

from accounts.models import Organisation
from payments.models import StripeConnectedAccount
from tests.factories import MembershipFactory, OrganisationFactory

PASSWORD = "correct-horse-battery-staple"  # UserFactory's


def test_a_creator_onboards_with_stripe_and_sees_it_confirmed(
    page, live_server, emulated_stripe, celery_worker_real
):
    emulated_stripe.deliver_webhooks_to(live_server.url)
    organisation = OrganisationFactory(name="Harbour Press", kind=Organisation.Kind.CREATOR)
    owner = MembershipFactory(organisation=organisation).user

    page.goto("/login/")
    page.get_by_label("Email").fill(owner.email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_test_id("payouts-panel")).to_contain_text("Not set up yet")
    page.get_by_role("link", name="Get paid").first.click()
    expect(page.get_by_test_id("payout-state")).to_have_text("Not set up yet")

    page.get_by_test_id("payouts-onboard").click()
    expect(page.get_by_role("heading", name="Set up payouts")).to_be_visible()
    first_link = page.url
    assert first_link.startswith(f"{emulated_stripe.url}/_emulator/onboarding/")

    # Account links are single use: coming back to one goes through our refresh URL,
    # which mints a new link.
    page.reload()
    expect(page.get_by_role("heading", name="Set up payouts")).to_be_visible()
    assert page.url != first_link and "/_emulator/onboarding/" in page.url

    # Leaving half-way: back on our page, Stripe still lists what it needs.
    page.get_by_role("button", name="Leave incomplete").click()
    expect(page).to_have_url(re.compile(r"/account/payouts/return/"))
    expect(page.get_by_test_id("payout-missing")).to_contain_text("A bank account for payouts")
    expect(page.get_by_test_id("payout-waiting")).to_be_visible()

    # Finishing: the return redirect is not trusted; the page waits for account.updated.
    page.goto("/account/payouts/")
    emulated_stripe.control.pause_webhooks()
    page.get_by_test_id("payouts-onboard").click()
    page.get_by_role("button", name="Complete onboarding").click()
    expect(page).to_have_url(re.compile(r"/account/payouts/return/"))
    expect(page.get_by_test_id("payout-waiting")).to_contain_text("Waiting for Stripe to confirm")
    assert not StripeConnectedAccount.objects.get().can_receive_transfers

    emulated_stripe.control.resume_webhooks()
    expect(page.get_by_test_id("payout-state")).to_have_text("Ready to receive payouts")
    expect(page.get_by_test_id("payout-waiting")).to_have_count(0)
    account = StripeConnectedAccount.objects.get()
    assert account.can_receive_transfers and account.organisation == organisation
