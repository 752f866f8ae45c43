"""A creator whose licensee has paid sets a payout threshold (a bad value first, shown by the
field), sees its balance carried forward below it, then asks to be paid now; a real Celery
worker sends the transfer through the emulator and the history shows it paid."""

from __future__ import annotations

import re

from playwright.sync_api import expect

from accounts.models import Organisation
from payouts.models import Payout
from tests.factories import MembershipFactory, OrganisationFactory
from tests.gateway.helpers import wait_for
from tests.money.payouts_world import onboarded
from tests.payouts.test_payouts_api import collect

PASSWORD = "correct-horse-battery-staple"  # UserFactory's


def test_a_creator_sets_a_threshold_and_is_paid_now(
    page, live_server, emulated_stripe, celery_worker_real
):
    organisation = OrganisationFactory(name="Harbour Press", kind=Organisation.Kind.CREATOR)
    owner = MembershipFactory(organisation=organisation).user
    onboarded(emulated_stripe, organisation)
    collect(emulated_stripe, [organisation], [4_000], 400)
    # Collecting scheduled the automatic payout (no threshold yet): the worker pays it.
    wait_for(
        lambda: Payout.objects.filter(holder=organisation, status="paid").count() == 1,
        timeout=30,
        what="the automatic payout",
    )

    page.goto("/login/")
    page.get_by_label("Email").fill(owner.email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("link", name="Payouts").first.click()
    expect(page).to_have_url(re.compile(r"/royalties/payouts/"))
    expect(page.get_by_test_id("payout-history")).to_contain_text("Paid")

    form = page.get_by_test_id("threshold-form")
    form.get_by_label("Pay me automatically once I have at least").fill("1.005")
    page.get_by_test_id("threshold-save").click()
    expect(page.locator("#id_threshold-error")).to_contain_text("no smaller unit")

    form.get_by_label("Pay me automatically once I have at least").fill("100")
    page.get_by_test_id("threshold-save").click()
    expect(page.get_by_role("status").first).to_contain_text("Payout threshold set to USD 100.00")

    # The next month's USD 25.00 is collected: below the threshold, it is not paid out.
    collect(emulated_stripe, [organisation], [2_500], 250)
    page.reload()
    reason = page.get_by_test_id("balance-USD").get_by_test_id("balance-reason")
    expect(reason).to_contain_text("carried forward")
    expect(page.get_by_test_id("balance-USD").get_by_test_id("payable")).to_contain_text(
        "USD 25.00"
    )
    assert Payout.objects.filter(holder=organisation).count() == 1

    # Days later the licensee's payment is available at Stripe (a pay-now payout names no
    # charge, so it is paid from the available balance; before that it waits for it).
    emulated_stripe.control.make_available()
    page.get_by_test_id("pay-now-USD").click()
    expect(page.get_by_role("status").first).to_contain_text("Payout of USD 25.00 requested")
    wait_for(
        lambda: Payout.objects.filter(holder=organisation, status="paid").count() == 2,
        timeout=30,
        what="the pay-now payout sent by the worker",
    )
    page.reload()
    on_demand = Payout.objects.get(holder=organisation, requested_by=owner)
    expect(page.get_by_test_id(f"payout-{on_demand.pk}")).to_contain_text("Paid")
    expect(page.get_by_test_id("balance-USD").get_by_test_id("payable")).to_contain_text("USD 0.00")
