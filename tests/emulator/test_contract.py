"""Every implemented endpoint through the real SDK: responses parse into its typed objects."""

import stripe

from stripe_emulator.control import EmulatorControl
from stripe_emulator.server import EmulatorServer
from tests.emulator.helpers import checkout, express_account, paid_charge


def test_accounts_and_links(client: stripe.StripeClient, server: EmulatorServer) -> None:
    account = express_account(client)
    assert isinstance(account, stripe.Account) and account.id.startswith("acct_")
    assert account.controller.stripe_dashboard.type == "express"
    assert account.metadata.to_dict() == {"org": "42"}
    updated = client.v1.accounts.update(account.id, params={"metadata": {"tier": "gold"}})
    assert updated.metadata.to_dict() == {"org": "42", "tier": "gold"}
    assert client.v1.accounts.retrieve(account.id).metadata.tier == "gold"
    listed = client.v1.accounts.list()
    assert isinstance(listed, stripe.ListObject) and listed.data[0].id == account.id
    link = client.v1.account_links.create(
        params={
            "account": account.id,
            "type": "account_onboarding",
            "refresh_url": "http://app.test/r",
            "return_url": "http://app.test/ret",
        }
    )
    assert isinstance(link, stripe.AccountLink) and link.object == "account_link"
    assert link.url.startswith(f"{server.url}/_emulator/onboarding/")
    assert link.expires_at - link.created == 300


def test_customers_and_payment_methods(client: stripe.StripeClient) -> None:
    customer = client.v1.customers.create(params={"email": "a@example.com", "name": "A"})
    assert isinstance(customer, stripe.Customer) and customer.id.startswith("cus_")
    customer = client.v1.customers.update(customer.id, params={"metadata": {"k": "v"}})
    assert client.v1.customers.retrieve(customer.id).metadata.to_dict() == {"k": "v"}
    assert client.v1.customers.list(params={"email": "a@example.com"}).data[0].id == customer.id
    pm = client.v1.payment_methods.attach("pm_card_visa", params={"customer": customer.id})
    assert isinstance(pm, stripe.PaymentMethod) and pm.customer == customer.id
    assert client.v1.payment_methods.retrieve(pm.id).card.brand == "visa"
    listed = client.v1.payment_methods.list(params={"customer": customer.id, "type": "card"})
    assert [p.id for p in listed.data] == [pm.id]
    assert client.v1.customers.payment_methods.list(customer.id).data[0].id == pm.id


def test_checkout_sessions(client: stripe.StripeClient, ctl: EmulatorControl) -> None:
    session = checkout(client, 2500, client_reference_id="ref", metadata={"o": "1"})
    assert isinstance(session, stripe.checkout.Session)
    assert session.id.startswith("cs_test_") and session.object == "checkout.session"
    assert (session.amount_total, session.currency, session.payment_status) == (
        2500,
        "usd",
        "unpaid",
    )
    items = client.v1.checkout.sessions.line_items.list(session.id)
    assert isinstance(items.data[0], stripe.LineItem) and items.data[0].description == "Licence"
    expanded = client.v1.checkout.sessions.retrieve(session.id, params={"expand": ["line_items"]})
    assert expanded.line_items.data[0].amount_total == 2500
    assert client.v1.checkout.sessions.list().data[0].id == session.id
    expired = client.v1.checkout.sessions.expire(session.id)
    assert (expired.status, expired.url) == ("expired", None)


def test_payments_refunds_transfers_payouts(
    client: stripe.StripeClient, ctl: EmulatorControl
) -> None:
    charge = paid_charge(client, ctl, 5000)
    assert isinstance(charge, stripe.Charge) and charge.paid and charge.captured
    pi = client.v1.payment_intents.retrieve(charge.payment_intent)
    assert isinstance(pi, stripe.PaymentIntent) and pi.latest_charge == charge.id
    assert client.v1.payment_intents.list().data[0].id == pi.id
    expanded = client.v1.payment_intents.retrieve(
        pi.id, params={"expand": ["latest_charge.balance_transaction"]}
    )
    assert isinstance(expanded.latest_charge.balance_transaction, stripe.BalanceTransaction)
    assert client.v1.charges.list(params={"payment_intent": pi.id}).data[0].id == charge.id

    refund = client.v1.refunds.create(
        params={"charge": charge.id, "amount": 100, "metadata": {"why": "test"}}
    )
    assert isinstance(refund, stripe.Refund) and refund.id.startswith("re_")
    assert client.v1.refunds.retrieve(refund.id).metadata.why == "test"
    assert client.v1.refunds.list(params={"charge": charge.id}).data[0].id == refund.id

    account = express_account(client)
    ctl.complete_onboarding(account.id)
    transfer = client.v1.transfers.create(
        params={
            "amount": 1000,
            "currency": "usd",
            "destination": account.id,
            "source_transaction": charge.id,
            "transfer_group": "g",
            "description": "share",
            "metadata": {"line": "7"},
        }
    )
    assert isinstance(transfer, stripe.Transfer) and transfer.id.startswith("tr_")
    assert transfer.destination_payment.startswith("py_")
    assert client.v1.transfers.update(transfer.id, params={"metadata": {"x": "y"}}).metadata.x
    assert client.v1.transfers.list(params={"destination": account.id}).data[0].id == transfer.id
    assert client.v1.transfers.list(params={"transfer_group": "nope"}).data == []
    reversal = client.v1.transfers.reversals.create(transfer.id, params={"amount": 10})
    assert isinstance(reversal, stripe.TransferReversal) and reversal.id.startswith("trr_")
    assert client.v1.transfers.reversals.retrieve(transfer.id, reversal.id).amount == 10
    assert client.v1.transfers.reversals.list(transfer.id).data[0].id == reversal.id

    ctl.make_available()
    opts: stripe.RequestOptions = {"stripe_account": account.id}
    payout = client.v1.payouts.create(params={"amount": 990, "currency": "usd"}, options=opts)
    assert isinstance(payout, stripe.Payout) and payout.id.startswith("po_")
    assert client.v1.payouts.retrieve(payout.id, options=opts).status == "pending"
    assert client.v1.payouts.list(options=opts).data[0].id == payout.id

    bal = client.v1.balance.retrieve()
    assert isinstance(bal, stripe.Balance) and bal.available[0].currency == "usd"
    txns = client.v1.balance_transactions.list(params={"source": charge.id})
    assert isinstance(txns.data[0], stripe.BalanceTransaction) and txns.data[0].id.startswith(
        "txn_"
    )


def test_disputes(client: stripe.StripeClient, ctl: EmulatorControl) -> None:
    charge = paid_charge(client, ctl, 3000)
    dispute = ctl.create_dispute(charge.id, 1000, reason="product_not_received")
    assert dispute["id"].startswith("dp_")
    assert client.v1.disputes.list(params={"charge": charge.id}).data[0].amount == 1000
    closed = client.v1.disputes.close(dispute["id"])
    assert isinstance(closed, stripe.Dispute) and closed.status == "lost"


def test_events_and_webhook_endpoints(client: stripe.StripeClient, ctl: EmulatorControl) -> None:
    endpoint = client.v1.webhook_endpoints.create(
        params={
            "url": "http://127.0.0.1:9/hook",
            "enabled_events": ["checkout.session.completed"],
            "connect": True,
        }
    )
    assert isinstance(endpoint, stripe.WebhookEndpoint) and endpoint.secret.startswith("whsec_")
    assert "secret" not in client.v1.webhook_endpoints.retrieve(endpoint.id).to_dict()
    updated = client.v1.webhook_endpoints.update(endpoint.id, params={"disabled": True})
    assert updated.status == "disabled"
    assert client.v1.webhook_endpoints.list().data[0].id == endpoint.id
    deleted = client.v1.webhook_endpoints.delete(endpoint.id)
    assert deleted.deleted is True

    paid_charge(client, ctl, 1000)
    events = client.v1.events.list(params={"type": "charge.*"})
    assert [e.type for e in events.data] == ["charge.succeeded"]
    event = client.v1.events.retrieve(events.data[0].id)
    assert isinstance(event, stripe.Event) and event.id.startswith("evt_")
    assert isinstance(event.data.object, stripe.Charge)
    assert event.api_version and event.request.id is None  # caused by the hosted page
    assert event.pending_webhooks == 0 and event.livemode is False
