"""Signed webhook delivery and its switches, received by a real HTTP endpoint."""

import json
import random
import time

import pytest
import stripe

from stripe_emulator.control import EmulatorControl
from stripe_emulator.server import EmulatorServer
from tests.emulator.conftest import Receiver
from tests.emulator.helpers import express_account, onboard, paid_charge

CHECKOUT_EVENTS = {
    "customer.created",
    "payment_intent.created",
    "charge.succeeded",
    "payment_intent.succeeded",
    "checkout.session.completed",
}


def test_signatures_verify_with_the_sdk(
    client: stripe.StripeClient, ctl: EmulatorControl, receiver: Receiver
) -> None:
    endpoint = client.v1.webhook_endpoints.create(
        params={"url": receiver.url, "enabled_events": ["*"]}
    )
    paid_charge(client, ctl, 2000, customer_creation="always")
    received = receiver.wait_for(len(CHECKOUT_EVENTS))
    events = [stripe.Webhook.construct_event(body, sig, endpoint.secret) for sig, body in received]
    assert {e.type for e in events} == CHECKOUT_EVENTS
    completed = next(e for e in events if e.type == "checkout.session.completed")
    assert isinstance(completed.data.object, stripe.checkout.Session)
    assert completed.data.object.payment_status == "paid"
    assert "account" not in json.loads(received[0][1])  # platform events carry no account
    sig, body = received[0]
    with pytest.raises(stripe.SignatureVerificationError):
        stripe.Webhook.construct_event(body, sig, "whsec_wrong")
    with pytest.raises(stripe.SignatureVerificationError):
        stripe.Webhook.construct_event(body.replace(b"evt_", b"evt_X"), sig, endpoint.secret)


def test_connect_events_go_to_connect_endpoints(
    client: stripe.StripeClient, ctl: EmulatorControl, server: EmulatorServer, receiver: Receiver
) -> None:
    platform = Receiver()
    try:
        connect = client.v1.webhook_endpoints.create(
            params={"url": receiver.url, "enabled_events": ["account.updated"], "connect": True}
        )
        client.v1.webhook_endpoints.create(
            params={"url": platform.url, "enabled_events": ["*"], "connect": False}
        )
        account = express_account(client)
        onboard(client, account.id, server.url)
        [(sig, body)] = receiver.wait_for(1)
        event = stripe.Webhook.construct_event(body, sig, connect.secret)
        assert event.type == "account.updated" and event.account == account.id
        assert event.data.object.charges_enabled is True
        assert event.data.previous_attributes.charges_enabled is False
        ctl.flush_webhooks()
        assert platform.received == []
    finally:
        platform.httpd.shutdown()
        platform.httpd.server_close()


def emitted_types(client: stripe.StripeClient) -> list[str]:
    """Event types in the order they happened."""
    return [e.type for e in client.v1.events.list(params={"limit": 100}).data][::-1]


def test_duplicates(client: stripe.StripeClient, ctl: EmulatorControl, receiver: Receiver) -> None:
    ctl.add_webhook_endpoint(receiver.url, "whsec_test", ("charge.succeeded",))
    ctl.config(webhook_duplicate=True)
    paid_charge(client, ctl, 1000)
    first, second = receiver.wait_for(2)
    assert json.loads(first[1])["id"] == json.loads(second[1])["id"]


@pytest.mark.parametrize("order", ["reverse", "shuffle"])
def test_reordering_a_held_batch(
    client: stripe.StripeClient, ctl: EmulatorControl, receiver: Receiver, order: str
) -> None:
    ctl.add_webhook_endpoint(receiver.url, "whsec_test")
    ctl.pause_webhooks()
    paid_charge(client, ctl, 1000)
    time.sleep(0.2)
    assert receiver.received == []  # held while paused
    ctl.config(webhook_order=order, webhook_seed=7)
    ctl.flush_webhooks()
    expected = emitted_types(client)
    if order == "reverse":
        expected.reverse()
    else:
        random.Random(7).shuffle(expected)
    assert receiver.types() == expected


def test_delay_pause_and_resume(
    client: stripe.StripeClient, ctl: EmulatorControl, receiver: Receiver
) -> None:
    ctl.add_webhook_endpoint(receiver.url, "whsec_test", ("charge.succeeded",))
    ctl.config(webhook_delay_seconds=0.4)
    paid_charge(client, ctl, 1000)
    time.sleep(0.2)
    assert receiver.received == []
    receiver.wait_for(1)
    ctl.config(webhook_delay_seconds=0, webhook_paused=True)
    paid_charge(client, ctl, 1000)
    time.sleep(0.3)
    assert len(receiver.received) == 1
    ctl.resume_webhooks()
    receiver.wait_for(2)


def test_failed_deliveries_are_retried(
    client: stripe.StripeClient, ctl: EmulatorControl, receiver: Receiver
) -> None:
    ctl.add_webhook_endpoint(receiver.url, "whsec_test", ("charge.succeeded",))
    ctl.config(webhook_retry_seconds=0.05)
    receiver.fail_next = 2
    charge = paid_charge(client, ctl, 1000)
    [(_, body)] = receiver.wait_for(1)
    assert json.loads(body)["data"]["object"]["id"] == charge.id
    time.sleep(0.05)
    attempts = [(d["attempt"], d["status"]) for d in ctl.deliveries()]
    assert attempts == [(1, 500), (2, 500), (3, 200)]
    event = client.v1.events.list(params={"type": "charge.succeeded"}).data[0]
    assert event.pending_webhooks == 0


def test_unreachable_endpoint_gives_up(client: stripe.StripeClient, ctl: EmulatorControl) -> None:
    ctl.add_webhook_endpoint("http://127.0.0.1:9/down", "whsec_test", ("charge.succeeded",))
    ctl.config(webhook_retry_seconds=0.01, webhook_max_attempts=2)
    paid_charge(client, ctl, 1000)
    deadline = time.time() + 3
    while len(ctl.deliveries()) < 2 and time.time() < deadline:
        time.sleep(0.02)
    assert [d["attempt"] for d in ctl.deliveries()] == [1, 2]
    assert all(d["status"] is None and d["error"] for d in ctl.deliveries())
    event = client.v1.events.list(params={"type": "charge.succeeded"}).data[0]
    assert event.pending_webhooks == 1


def test_receiver_may_call_the_api_while_handling_a_webhook(
    client: stripe.StripeClient, ctl: EmulatorControl, receiver: Receiver
) -> None:
    """Delivery never holds the emulator's lock, so handlers can fetch the object."""
    fetched: list[str] = []
    receiver.on_event = lambda event: fetched.append(
        client.v1.charges.retrieve(event["data"]["object"]["id"]).status
    )
    ctl.add_webhook_endpoint(receiver.url, "whsec_test", ("charge.succeeded",))
    ctl.pause_webhooks()
    paid_charge(client, ctl, 1000)
    ctl.flush_webhooks()  # synchronous: returns after the handler ran
    assert fetched == ["succeeded"]
