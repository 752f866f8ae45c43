"""The hosted onboarding and Checkout pages, driven like a browser, and control shortcuts."""

import pytest
import stripe

from stripe_emulator.control import ControlError, EmulatorControl
from stripe_emulator.server import EmulatorServer
from tests.emulator.helpers import browse, checkout, express_account, form_action


def link_for(client: stripe.StripeClient, account: str) -> str:
    return client.v1.account_links.create(
        params={
            "account": account,
            "type": "account_onboarding",
            "refresh_url": "http://app.test/refresh",
            "return_url": "http://app.test/return",
        }
    ).url


def test_account_links_are_single_use(client: stripe.StripeClient, server: EmulatorServer) -> None:
    account = express_account(client)
    url = link_for(client, account.id)
    status, page, _ = browse(url)
    assert status == 200 and "Complete onboarding" in page
    assert browse(url)[2] == "http://app.test/refresh"  # second visit
    status, _, location = browse(form_action(page, server.url), {"action": "leave"})
    assert (status, location) == (303, "http://app.test/return")
    account = client.v1.accounts.retrieve(account.id)
    assert account.details_submitted is False and account.capabilities.transfers == "inactive"
    assert browse(form_action(page, server.url), {"action": "complete"})[2] == (
        "http://app.test/refresh"
    )
    assert browse(f"{server.url}/_emulator/onboarding/nope")[0] == 404


def test_expired_account_link_goes_to_refresh_url(
    client: stripe.StripeClient, server: EmulatorServer
) -> None:
    account = express_account(client)
    url = link_for(client, account.id)
    for link in server.state.links.values():  # five minutes later
        link["expires_at"] -= 301
    status, _, location = browse(url)
    assert (status, location) == (302, "http://app.test/refresh")


def test_checkout_control_shortcuts(client: stripe.StripeClient, ctl: EmulatorControl) -> None:
    session = checkout(client, 1200)
    declined = ctl.decline_checkout(session.id)
    assert declined["status"] == "open"
    pi = client.v1.payment_intents.retrieve(declined["payment_intent"])
    assert pi.last_payment_error.code == "card_declined"
    with pytest.raises(ControlError) as exc:
        ctl.complete_checkout(session.id, card="4000000000009995")
    assert exc.value.status == 402
    assert exc.value.body["error"]["decline_code"] == "insufficient_funds"
    assert ctl.complete_checkout(session.id)["payment_status"] == "paid"
    with pytest.raises(ControlError) as exc:
        ctl.expire_checkout(session.id)  # already complete
    assert exc.value.status == 400
    other = checkout(client, 1200)
    assert ctl.expire_checkout(other.id)["status"] == "expired"
    status, page, _ = browse(other.url)
    assert status == 200 and "expired" in page
    expired = client.v1.events.list(params={"type": "checkout.session.expired"}).data
    assert expired[0].data.object.id == other.id


def test_sessions_expire_on_their_own(client: stripe.StripeClient, server: EmulatorServer) -> None:
    session = checkout(client, 1200)
    server.state.objects[session.id]["expires_at"] -= 24 * 3600
    assert client.v1.checkout.sessions.retrieve(session.id).status == "expired"
