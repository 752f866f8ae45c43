"""Steps shared by the emulator tests, each done the way the application will do it."""

import re
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

import stripe

from stripe_emulator.control import EmulatorControl


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None  # let the test see the redirect itself


_BROWSER = urllib.request.build_opener(urllib.request.ProxyHandler({}), _NoRedirect)


def browse(url: str, form: dict[str, str] | None = None) -> tuple[int, str, str | None]:
    """GET (or POST a form to) a hosted page: status, body, Location."""
    data = urllib.parse.urlencode(form).encode() if form is not None else None
    try:
        with _BROWSER.open(urllib.request.Request(url, data=data), timeout=10) as response:
            return response.status, response.read().decode(), None
    except urllib.error.HTTPError as e:  # 3xx and 4xx land here without redirect handling
        return e.code, e.read().decode(), e.headers.get("Location")


def form_action(page: str, base_url: str) -> str:
    match = re.search(r'<form method="post" action="([^"]+)"', page)
    assert match, page
    return base_url + match.group(1)


def express_account(
    client: stripe.StripeClient, email: str = "creator@example.com"
) -> stripe.Account:
    return client.v1.accounts.create(
        params={
            "type": "express",
            "country": "US",
            "email": email,
            "capabilities": {"transfers": {"requested": True}},
            "metadata": {"org": "42"},
        }
    )


def onboard(client: stripe.StripeClient, account: str, base_url: str) -> None:
    """Finish onboarding through the hosted page, like a creator in a browser."""
    link = client.v1.account_links.create(
        params={
            "account": account,
            "type": "account_onboarding",
            "refresh_url": "http://app.test/refresh",
            "return_url": "http://app.test/return",
        }
    )
    status, page, _ = browse(link.url)
    assert status == 200 and account in page
    status, _, location = browse(form_action(page, base_url), {"action": "complete"})
    assert (status, location) == (303, "http://app.test/return")


def checkout(
    client: stripe.StripeClient, amount: int = 10000, **extra: Any
) -> stripe.checkout.Session:
    return client.v1.checkout.sessions.create(
        params={
            "mode": "payment",
            "line_items": [
                {
                    "quantity": 1,
                    "price_data": {
                        "currency": "usd",
                        "unit_amount": amount,
                        "product_data": {"name": "Licence"},
                    },
                }
            ],
            "success_url": "http://app.test/done?session={CHECKOUT_SESSION_ID}",
            "cancel_url": "http://app.test/cancel",
            **extra,
        }
    )


def paid_charge(
    client: stripe.StripeClient,
    ctl: EmulatorControl,
    amount: int = 10000,
    card: str | None = None,
    **extra: Any,
) -> stripe.Charge:
    """A completed Checkout payment (card 4242…, or ``card``); returns its charge."""
    session = checkout(client, amount, **extra)
    ctl.complete_checkout(session.id, card=card)
    pi = client.v1.payment_intents.retrieve(
        client.v1.checkout.sessions.retrieve(session.id).payment_intent
    )
    return client.v1.charges.retrieve(pi.latest_charge)


def balance(client: stripe.StripeClient, account: str | None = None) -> tuple[int, int]:
    """(available, pending) in USD for the platform or a connected account."""
    options = {"stripe_account": account} if account else {}
    bal = client.v1.balance.retrieve(options=options)

    def usd(entries: Any) -> int:
        return sum(e.amount for e in entries if e.currency == "usd")

    return usd(bal.available), usd(bal.pending)
