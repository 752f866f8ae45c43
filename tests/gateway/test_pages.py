"""The creator's "Get paid" pages against the emulator, through Django's test client."""

from __future__ import annotations

import re

import pytest

from accounts.models import Membership, Organisation
from payments.connect import connected_account_sync
from payments.models import StripeConnectedAccount
from tests.gateway.helpers import finish_hosted_onboarding

pytestmark = pytest.mark.django_db


@pytest.fixture
def owner(client, tenant_factory):
    tenant = tenant_factory(Organisation.Kind.CREATOR, "Harbour Press")
    client.force_login(tenant.owner)
    return tenant


def _onboarding_link(response) -> str:
    assert response.status_code == 302
    return response["Location"]


def test_the_page_shows_the_status_and_a_button_to_stripe(client, emulated_stripe, owner):
    page = client.get("/account/payouts/").content.decode()
    assert "Not set up yet" in page and "Set up payouts with Stripe" in page

    link = _onboarding_link(
        client.post(f"/account/payouts/start/?organisation={owner.organisation.pk}")
    )
    assert link.startswith(f"{emulated_stripe.url}/_emulator/onboarding/")
    page = client.get("/account/payouts/").content.decode()
    assert "Details still needed" in page and "Continue setup with Stripe" in page
    assert "A bank account for payouts" in page and "A photo of an identity document" in page


def test_the_refresh_url_mints_a_new_link(client, emulated_stripe, owner):
    first = _onboarding_link(client.post("/account/payouts/start/"))
    second = _onboarding_link(client.get("/account/payouts/refresh/"))
    assert second != first and second.startswith(f"{emulated_stripe.url}/_emulator/onboarding/")
    assert StripeConnectedAccount.objects.count() == 1


def test_the_return_page_waits_for_stripe_to_confirm(client, emulated_stripe, owner):
    link = _onboarding_link(client.post("/account/payouts/start/"))
    back = finish_hosted_onboarding(link)  # the payee says they are done; Stripe has not said so
    assert re.search(r"/account/payouts/return/\?organisation=\d+$", back)
    page = client.get(back).content.decode()
    assert "Waiting for Stripe to confirm" in page and 'hx-trigger="every 2s"' in page

    account = StripeConnectedAccount.objects.get()
    connected_account_sync(stripe_account_id=account.stripe_account_id)  # account.updated came
    status = client.get(f"/account/payouts/status/?organisation={owner.organisation.pk}")
    html = status.content.decode()
    assert "Ready to receive payouts" in html and "hx-trigger" not in html  # polling stops
    assert "Waiting" not in html


def test_members_see_the_status_but_only_owners_and_finance_start_onboarding(
    client, emulated_stripe, owner, tenant_factory
):
    member = tenant_factory(Organisation.Kind.AI_DEVELOPER).owner
    Membership.objects.create(user=member, organisation=owner.organisation, role="member")
    client.force_login(member)
    page = client.get(f"/account/payouts/?organisation={owner.organisation.pk}")
    assert "Ask an owner" in page.content.decode()
    refused = client.post(f"/account/payouts/start/?organisation={owner.organisation.pk}")
    assert refused.status_code == 403
    assert emulated_stripe.control.requests() == []


def test_someone_without_a_payee_organisation_gets_404(client, tenant_factory):
    client.force_login(tenant_factory(Organisation.Kind.AI_DEVELOPER).owner)
    assert client.get("/account/payouts/").status_code == 404
    assert client.get("/account/payouts/panel/").content == b""


def test_when_stripe_is_unreachable_the_page_says_so(client, owner):
    response = client.post("/account/payouts/start/")  # STRIPE_API_BASE points at nothing
    assert response.status_code == 503
    assert "Stripe could not be reached" in response.content.decode()


def test_the_dashboard_panel_and_nav_lead_to_the_page(client, emulated_stripe, owner):
    dashboard = client.get("/creator/").content.decode()
    assert 'hx-get="/account/payouts/panel/"' in dashboard
    assert 'href="/account/payouts/"' in dashboard  # nav: "Get paid"
    panel = client.get("/account/payouts/panel/").content.decode()
    assert "Not set up yet" in panel and "Get paid" in panel
