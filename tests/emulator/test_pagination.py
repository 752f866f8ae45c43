"""Cursor pagination and list filters."""

import stripe

from stripe_emulator.control import EmulatorControl
from stripe_emulator.server import EmulatorServer
from tests.emulator.helpers import paid_charge


def test_cursor_walk(client: stripe.StripeClient) -> None:
    created = [client.v1.customers.create(params={"name": f"c{i}"}).id for i in range(25)]
    newest_first = created[::-1]
    first = client.v1.customers.list()
    assert [c.id for c in first.data] == newest_first[:10] and first.has_more
    assert first.url == "/v1/customers"
    second = client.v1.customers.list(params={"limit": 10, "starting_after": first.data[-1].id})
    last = client.v1.customers.list(params={"limit": 10, "starting_after": second.data[-1].id})
    assert [c.id for c in last.data] == newest_first[20:] and not last.has_more
    back = client.v1.customers.list(params={"limit": 3, "ending_before": last.data[0].id})
    assert [c.id for c in back.data] == newest_first[17:20] and back.has_more
    walked = [c.id for c in client.v1.customers.list(params={"limit": 7}).auto_paging_iter()]
    assert walked == newest_first


def test_balance_transaction_filters(
    client: stripe.StripeClient, ctl: EmulatorControl, server: EmulatorServer
) -> None:
    charge = paid_charge(client, ctl, 5000)
    client.v1.refunds.create(params={"charge": charge.id, "amount": 100})
    txns = client.v1.balance_transactions.list().data
    assert [t.type for t in txns] == ["refund", "charge"]
    assert [t.type for t in client.v1.balance_transactions.list(params={"type": "charge"})] == [
        "charge"
    ]
    created = txns[0].created
    assert client.v1.balance_transactions.list(params={"created": {"gt": created}}).data == []
    assert len(client.v1.balance_transactions.list(params={"created": {"lte": created}})) == 2
    for txn in server.state.objects.values():  # back-date the charge's entry by an hour
        if txn["object"] == "balance_transaction" and txn["type"] == "charge":
            txn["created"] -= 3600
    recent = client.v1.balance_transactions.list(params={"created": {"gte": created - 60}})
    assert [t.type for t in recent.data] == ["refund"]


def test_event_lists(client: stripe.StripeClient, ctl: EmulatorControl) -> None:
    for _ in range(3):
        paid_charge(client, ctl, 1000)
    succeeded = client.v1.events.list(params={"type": "charge.succeeded", "limit": 2})
    assert len(succeeded.data) == 2 and succeeded.has_more
    rest = client.v1.events.list(
        params={"type": "charge.succeeded", "starting_after": succeeded.data[-1].id}
    )
    assert len(rest.data) == 1 and not rest.has_more
    both = client.v1.events.list(params={"types": ["charge.succeeded", "payment_intent.created"]})
    assert {e.type for e in both.data} == {"charge.succeeded", "payment_intent.created"}
