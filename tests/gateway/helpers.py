"""Steps the gateway tests share, each done the way production does it (through the gateway
and our services), plus what only the emulator can do (a customer paying, a payee finishing
onboarding), through its control API."""

from __future__ import annotations

import hashlib
import hmac
import re
import time
import urllib.error
import urllib.parse
import urllib.request

from django.conf import settings
from django.test import Client

from accounts.models import Organisation
from payments import gateway
from payments.connect import connected_account_ensure, connected_account_sync
from payments.events import stripe_event_process, stripe_event_store
from payments.models import StripeConnectedAccount


def onboarded_account(emulated, organisation: Organisation) -> StripeConnectedAccount:
    """A payee's connected account, onboarded (as on the hosted page) and synced."""
    account = connected_account_ensure(organisation=organisation)
    emulated.control.complete_onboarding(account.stripe_account_id)
    synced = connected_account_sync(stripe_account_id=account.stripe_account_id)
    assert synced is not None and synced.can_receive_transfers
    return synced


def checkout(
    payer: Organisation,
    amount_minor: int,
    *,
    key: str,
    save_card: bool = False,
    customer_id: str | None = None,
):
    return gateway.checkout_session_create(
        checkout=gateway.CheckoutRequest(
            currency="USD",
            line_items=[
                gateway.LineItem(name="Licence: Salt Roads", unit_amount_minor=amount_minor)
            ],
            success_url="http://app.test/paid?session={CHECKOUT_SESSION_ID}",
            cancel_url="http://app.test/cancelled",
            transfer_group=f"agreement-{key}",
            metadata={"organisation_id": payer.pk, "agreement_id": key},
            customer_id=customer_id,
            save_card_for_later=save_card,
        ),
        idempotency_key=f"checkout:{key}",
    )


def paid_charge_id(emulated, payer: Organisation, amount_minor: int, *, key: str, **extra) -> str:
    """A licensee pays through Checkout (the emulator's control API stands in for the
    customer); returns the charge the payment made."""
    session = checkout(payer, amount_minor, key=key, **extra)
    emulated.control.complete_checkout(session.id)
    session = gateway.checkout_session_retrieve(session_id=session.id)
    intent = gateway.payment_intent_retrieve(payment_intent_id=session.payment_intent)
    return intent.latest_charge


def signature_header(
    payload: str, *, secret: str | None = None, timestamp: int | None = None
) -> str:
    """`Stripe-Signature` as Stripe computes it: HMAC-SHA256 of "{t}.{payload}"."""
    secret = secret or settings.STRIPE_WEBHOOK_SECRET
    timestamp = int(time.time()) if timestamp is None else timestamp
    mac = hmac.new(secret.encode(), f"{timestamp}.{payload}".encode(), hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


def post_webhook(client: Client, payload: str, signature: str | None):
    headers = {"HTTP_STRIPE_SIGNATURE": signature} if signature is not None else {}
    return client.post(
        "/stripe/webhooks/", data=payload, content_type="application/json", **headers
    )


def events_of(*types: str, account_id: str | None = None) -> list:
    """Events Stripe has for us, oldest first."""
    return list(reversed(list(gateway.events_list(types=types, account_id=account_id))))


def process_events(*types: str, account_id: str | None = None) -> None:
    """What our webhook and its task do for each event, oldest first, done inline."""
    for event in events_of(*types, account_id=account_id):
        record, _ = stripe_event_store(event=event.to_dict())
        stripe_event_process(event_pk=record.pk)


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None  # let the caller see where the page sends the browser


_BROWSER = urllib.request.build_opener(urllib.request.ProxyHandler({}), _NoRedirect)


def _browse(url: str, form: dict[str, str] | None = None) -> tuple[int, str, str | None]:
    data = urllib.parse.urlencode(form).encode() if form is not None else None
    try:
        with _BROWSER.open(urllib.request.Request(url, data=data), timeout=10) as response:
            return response.status, response.read().decode(), None
    except urllib.error.HTTPError as e:  # redirects land here, unfollowed
        return e.code, e.read().decode(), e.headers.get("Location")


def finish_hosted_onboarding(link_url: str) -> str:
    """What a payee does on Stripe's hosted onboarding page: complete it. Returns where the
    page sends the browser back to."""
    status, page, _ = _browse(link_url)
    assert status == 200, page
    action = re.search(r'<form method="post" action="([^"]+)"', page)
    assert action, page
    origin = urllib.parse.urlsplit(link_url)
    status, _, location = _browse(
        f"{origin.scheme}://{origin.netloc}{action.group(1)}", {"action": "complete"}
    )
    assert status == 303 and location, status
    return location


def wait_for(condition, timeout: float = 20, what: str = "condition"):
    """Poll until `condition()` is truthy (webhooks and the worker run in other threads)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")
