"""The platform's own payouts to its bank account: a `payout` balance transaction on the
platform (source `po_`), `payout.paid` delivered to platform endpoints without an account, and
a failed payout returning the money with a `payout_failure` transaction."""

import json

import pytest
import stripe

from stripe_emulator.control import EmulatorControl
from tests.emulator.conftest import Receiver
from tests.emulator.helpers import balance, paid_charge

FEE_ON_100 = 290 + 30


def test_a_platform_payout_moves_the_balance_and_is_paid(
    client: stripe.StripeClient, ctl: EmulatorControl, receiver: Receiver
) -> None:
    endpoint = client.v1.webhook_endpoints.create(
        params={"url": receiver.url, "enabled_events": ["payout.created", "payout.paid"]}
    )
    paid_charge(client, ctl, 10000)
    ctl.make_available()
    available = 10000 - FEE_ON_100
    assert balance(client) == (available, 0)

    payout = client.v1.payouts.create(params={"amount": 6000, "currency": "usd"})
    assert payout.id.startswith("po_") and payout.status == "pending"
    assert payout.destination.startswith("ba_")
    assert balance(client) == (available - 6000, 0)
    [txn] = client.v1.balance_transactions.list(params={"type": "payout"}).data
    assert (txn.type, txn.amount, txn.fee, txn.net, txn.source) == (
        "payout",
        -6000,
        0,
        -6000,
        payout.id,
    )
    assert txn.id == payout.balance_transaction
    by_source = client.v1.balance_transactions.list(params={"source": payout.id}).data
    assert [t.id for t in by_source] == [txn.id]

    [settled] = ctl.settle_payouts(account=None)
    assert (settled["id"], settled["status"]) == (payout.id, "paid")
    assert client.v1.payouts.retrieve(payout.id).status == "paid"
    received = receiver.wait_for(2)
    events = [stripe.Webhook.construct_event(body, sig, endpoint.secret) for sig, body in received]
    assert [e.type for e in events] == ["payout.created", "payout.paid"]
    assert events[1].data.object.id == payout.id
    assert all("account" not in json.loads(body) for _, body in received)  # the platform's


def test_a_failed_platform_payout_returns_the_money(
    client: stripe.StripeClient, ctl: EmulatorControl
) -> None:
    paid_charge(client, ctl, 10000)
    ctl.make_available()
    ctl.config(payout_failure_code="account_closed")
    payout = client.v1.payouts.create(params={"amount": 5000, "currency": "usd"})
    ctl.settle_payouts(account=None)
    payout = client.v1.payouts.retrieve(payout.id)
    assert (payout.status, payout.failure_code) == ("failed", "account_closed")
    moves = client.v1.balance_transactions.list(params={"source": payout.id}).data
    assert sorted((t.type, t.net) for t in moves) == [("payout", -5000), ("payout_failure", 5000)]
    assert balance(client) == (10000 - FEE_ON_100, 0)
    [failed] = client.v1.events.list(params={"type": "payout.failed"}).data
    assert failed.data.object.id == payout.id and "account" not in failed


def test_a_platform_payout_beyond_the_balance_fails(
    client: stripe.StripeClient, ctl: EmulatorControl
) -> None:
    with pytest.raises(stripe.InvalidRequestError) as exc:
        client.v1.payouts.create(params={"amount": 1, "currency": "usd"})
    assert exc.value.code == "balance_insufficient"
