"""Balance rules, walked end to end through the SDK like the application will."""

import pytest
import stripe

from stripe_emulator.control import EmulatorControl
from stripe_emulator.server import EmulatorServer
from tests.emulator.helpers import balance, browse, express_account, onboard, paid_charge

FEE_ON_100 = 290 + 30  # 2.9 % + 30 of 100.00


def test_full_money_walk(
    client: stripe.StripeClient, ctl: EmulatorControl, server: EmulatorServer
) -> None:
    ctl.config(available_delay_seconds=3600)  # charges stay pending for an hour
    account = express_account(client)
    assert (account.charges_enabled, account.payouts_enabled) == (False, False)
    assert account.capabilities.transfers == "inactive"
    assert account.requirements.currently_due

    onboard(client, account.id, server.url)
    account = client.v1.accounts.retrieve(account.id)
    assert account.details_submitted and account.charges_enabled and account.payouts_enabled
    assert account.capabilities.transfers == "active"
    assert account.requirements.currently_due == []

    charge = paid_charge(client, ctl, 10000, payment_intent_data={"transfer_group": "order_1"})
    txn = client.v1.balance_transactions.retrieve(charge.balance_transaction)
    assert (txn.type, txn.amount, txn.fee, txn.net) == (
        "charge",
        10000,
        FEE_ON_100,
        10000 - FEE_ON_100,
    )
    assert txn.status == "pending" and txn.source == charge.id
    assert txn.fee_details[0].type == "stripe_fee"
    assert balance(client) == (0, 10000 - FEE_ON_100)

    # Pending funds can still be transferred when the transfer names its source charge.
    transfer = client.v1.transfers.create(
        params={
            "amount": 7000,
            "currency": "usd",
            "destination": account.id,
            "source_transaction": charge.id,
        }
    )
    assert transfer.transfer_group == "order_1"  # inherited from the charge
    assert balance(client) == (0, 10000 - FEE_ON_100 - 7000)
    assert balance(client, account.id) == (0, 7000)
    out = client.v1.balance_transactions.retrieve(transfer.balance_transaction)
    assert (out.type, out.amount, out.status) == ("transfer", -7000, "pending")
    payment = client.v1.charges.retrieve(
        transfer.destination_payment, options={"stripe_account": account.id}
    )
    assert payment.id.startswith("py_") and payment.source_transfer == transfer.id
    incoming = client.v1.balance_transactions.list(
        params={"type": "payment"}, options={"stripe_account": account.id}
    ).data
    assert [(t.amount, t.source) for t in incoming] == [(7000, payment.id)]

    # Nothing can be paid out until the charge's funds settle.
    with pytest.raises(stripe.InvalidRequestError) as exc:
        client.v1.payouts.create(
            params={"amount": 7000, "currency": "usd"}, options={"stripe_account": account.id}
        )
    assert exc.value.code == "balance_insufficient"

    assert ctl.make_available() >= 3
    assert balance(client) == (10000 - FEE_ON_100 - 7000, 0)
    assert balance(client, account.id) == (7000, 0)

    payout = client.v1.payouts.create(
        params={"amount": 7000, "currency": "usd"}, options={"stripe_account": account.id}
    )
    assert payout.status == "pending" and payout.destination.startswith("ba_")
    assert balance(client, account.id) == (0, 0)
    [settled] = ctl.settle_payouts()
    assert settled["status"] == "paid"
    payout = client.v1.payouts.retrieve(payout.id, options={"stripe_account": account.id})
    assert payout.status == "paid"
    own = client.v1.balance_transactions.list(
        params={"payout": payout.id}, options={"stripe_account": account.id}
    ).data
    assert [(t.type, t.amount) for t in own] == [("payout", -7000)]
    paid = client.v1.events.list(
        params={"type": "payout.paid"}, options={"stripe_account": account.id}
    ).data
    assert paid[0].account == account.id and paid[0].data.object.id == payout.id


def test_transfer_beyond_available_balance_fails(
    client: stripe.StripeClient, ctl: EmulatorControl
) -> None:
    account = express_account(client)
    ctl.complete_onboarding(account.id)
    ctl.config(available_delay_seconds=3600)
    charge = paid_charge(client, ctl, 5000)
    params = {"amount": 1000, "currency": "usd", "destination": account.id}
    with pytest.raises(stripe.InvalidRequestError) as exc:
        client.v1.transfers.create(params=params)  # the charge is still pending
    assert exc.value.code == "balance_insufficient"
    with pytest.raises(stripe.InvalidRequestError) as exc:  # more than the charge brought in
        client.v1.transfers.create(
            params={**params, "amount": 5000, "source_transaction": charge.id}
        )
    assert exc.value.code == "balance_insufficient"
    with pytest.raises(stripe.InvalidRequestError) as exc:
        client.v1.transfers.create(
            params={**params, "currency": "eur", "source_transaction": charge.id}
        )
    assert exc.value.param == "currency"
    ctl.make_available()
    assert client.v1.transfers.create(params=params).amount == 1000


def test_transfer_needs_active_transfers_capability(client: stripe.StripeClient) -> None:
    account = express_account(client)
    with pytest.raises(stripe.InvalidRequestError) as exc:
        client.v1.transfers.create(
            params={"amount": 100, "currency": "usd", "destination": account.id}
        )
    assert exc.value.param == "destination"
    assert exc.value.code == "insufficient_capabilities_for_transfer"


def test_refund_and_reversal(client: stripe.StripeClient, ctl: EmulatorControl) -> None:
    account = express_account(client)
    ctl.complete_onboarding(account.id)
    charge = paid_charge(client, ctl, 10000)
    transfer = client.v1.transfers.create(
        params={
            "amount": 6000,
            "currency": "usd",
            "destination": account.id,
            "source_transaction": charge.id,
        }
    )
    ctl.make_available()  # the charge's funds (and so the transfer's) have settled
    before = balance(client)[0]

    refund = client.v1.refunds.create(
        params={"payment_intent": charge.payment_intent, "amount": 4000}
    )
    assert refund.status == "succeeded" and refund.charge == charge.id
    txn = client.v1.balance_transactions.retrieve(refund.balance_transaction)
    assert (txn.type, txn.amount, txn.fee) == ("refund", -4000, 0)
    with pytest.raises(stripe.InvalidRequestError) as exc:
        client.v1.refunds.create(params={"charge": charge.id, "amount": 6001})
    assert exc.value.param == "amount"

    reversal = client.v1.transfers.reversals.create(transfer.id, params={"amount": 4000})
    assert reversal.object == "transfer_reversal" and reversal.amount == 4000
    back = client.v1.balance_transactions.retrieve(reversal.balance_transaction)
    assert (back.type, back.amount) == ("transfer_refund", 4000)
    transfer = client.v1.transfers.retrieve(transfer.id)
    assert (transfer.amount_reversed, transfer.reversed) == (4000, False)
    assert balance(client)[0] == before - 4000 + 4000
    assert balance(client, account.id)[0] == 2000
    taken = client.v1.balance_transactions.list(
        params={"type": "payment_refund"}, options={"stripe_account": account.id}
    ).data
    assert [t.amount for t in taken] == [-4000]
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.transfers.reversals.create(transfer.id, params={"amount": 2001})
    client.v1.transfers.reversals.create(transfer.id)  # the rest
    assert client.v1.transfers.retrieve(transfer.id).reversed is True
    charge = client.v1.charges.retrieve(charge.id)
    assert (charge.amount_refunded, charge.refunded) == (4000, False)
    client.v1.refunds.create(params={"charge": charge.id})
    assert client.v1.charges.retrieve(charge.id).refunded is True
    types = [e.type for e in client.v1.events.list(params={"limit": 100}).data]
    assert {"charge.refunded", "refund.created", "transfer.reversed"} <= set(types)


@pytest.mark.parametrize("outcome", ["lost", "won"])
def test_dispute(client: stripe.StripeClient, ctl: EmulatorControl, outcome: str) -> None:
    charge = paid_charge(client, ctl, 10000)
    ctl.make_available()
    start = balance(client)[0]
    dispute = ctl.create_dispute(charge.id, reason="fraudulent")
    assert dispute["status"] == "needs_response"
    dispute = client.v1.disputes.retrieve(dispute["id"])
    assert isinstance(dispute, stripe.Dispute) and dispute.charge == charge.id
    [txn] = dispute.balance_transactions
    assert (txn.type, txn.amount, txn.fee, txn.net) == ("adjustment", -10000, 1500, -11500)
    assert balance(client)[0] == start - 11500
    with pytest.raises(stripe.InvalidRequestError) as exc:
        client.v1.refunds.create(params={"charge": charge.id})
    assert exc.value.code == "charge_disputed"

    ctl.close_dispute(dispute.id, outcome)
    dispute = client.v1.disputes.retrieve(dispute.id)
    assert dispute.status == outcome
    expected = start - 1500 if outcome == "won" else start - 11500
    assert balance(client)[0] == expected
    closed = client.v1.events.list(params={"type": "charge.dispute.closed"}).data
    assert closed[0].data.object.status == outcome


def test_payout_failure_returns_funds(client: stripe.StripeClient, ctl: EmulatorControl) -> None:
    account = express_account(client)
    ctl.complete_onboarding(account.id)
    paid_charge(client, ctl, 10000)
    ctl.make_available()
    client.v1.transfers.create(
        params={"amount": 5000, "currency": "usd", "destination": account.id}
    )
    ctl.config(payout_failure_code="account_closed")
    opts: stripe.RequestOptions = {"stripe_account": account.id}
    payout = client.v1.payouts.create(params={"amount": 5000, "currency": "usd"}, options=opts)
    assert balance(client, account.id)[0] == 0
    ctl.settle_payouts(account=account.id)
    payout = client.v1.payouts.retrieve(payout.id, options=opts)
    assert (payout.status, payout.failure_code) == ("failed", "account_closed")
    assert payout.failure_message
    assert balance(client, account.id)[0] == 5000
    failed = client.v1.events.list(params={"type": "payout.failed"}, options=opts).data
    assert failed[0].account == account.id


def test_payouts_need_onboarding(client: stripe.StripeClient) -> None:
    account = express_account(client)
    with pytest.raises(stripe.InvalidRequestError) as exc:
        client.v1.payouts.create(
            params={"amount": 100, "currency": "usd"}, options={"stripe_account": account.id}
        )
    assert exc.value.code == "payouts_not_allowed"


def test_off_session_payment_with_saved_card(
    client: stripe.StripeClient, ctl: EmulatorControl
) -> None:
    session = paid_session = client.v1.checkout.sessions.create(
        params={
            "mode": "payment",
            "customer_email": "buyer@example.com",
            "line_items": [
                {
                    "quantity": 1,
                    "price_data": {
                        "currency": "usd",
                        "unit_amount": 2000,
                        "product_data": {"name": "Licence"},
                    },
                }
            ],
            "payment_intent_data": {"setup_future_usage": "off_session"},
            "success_url": "http://app.test/ok",
        }
    )
    ctl.complete_checkout(session.id)
    paid_session = client.v1.checkout.sessions.retrieve(session.id)
    assert paid_session.customer.startswith("cus_")
    [pm] = client.v1.customers.payment_methods.list(paid_session.customer).data
    assert pm.card.last4 == "4242"
    params = {
        "amount": 2000,
        "currency": "usd",
        "customer": paid_session.customer,
        "payment_method": pm.id,
        "off_session": True,
        "confirm": True,
        "transfer_group": "renewal_1",
        "metadata": {"renewal": "1"},
    }
    pi = client.v1.payment_intents.create(params=params)
    assert pi.status == "succeeded" and pi.latest_charge.startswith("ch_")

    ctl.config(decline_next_off_session=1)
    with pytest.raises(stripe.CardError) as exc:
        client.v1.payment_intents.create(params=params)
    assert exc.value.http_status == 402 and exc.value.code == "card_declined"
    failed = exc.value.json_body["error"]["payment_intent"]
    assert failed["status"] == "requires_payment_method"
    assert client.v1.events.list(params={"type": "payment_intent.payment_failed"}).data
    assert client.v1.payment_intents.create(params=params).status == "succeeded"
    charges = client.v1.charges.list(params={"payment_intent": failed["id"]}).data
    assert [c.status for c in charges] == ["failed"]


def test_checkout_page_decline_then_pay(
    client: stripe.StripeClient, ctl: EmulatorControl, server: EmulatorServer
) -> None:
    session = client.v1.checkout.sessions.create(
        params={
            "mode": "payment",
            "client_reference_id": "order_9",
            "metadata": {"order": "9"},
            "line_items": [
                {
                    "quantity": 3,
                    "price_data": {
                        "currency": "usd",
                        "unit_amount": 1500,
                        "product_data": {"name": "Seat"},
                    },
                }
            ],
            "success_url": "http://app.test/done?session={CHECKOUT_SESSION_ID}",
        }
    )
    assert session.amount_total == 4500 and session.status == "open"
    status, page, _ = browse(session.url)
    assert status == 200 and "4242 4242 4242 4242" in page
    status, page, _ = browse(session.url, {"action": "decline", "card": "4242424242424242"})
    assert status == 200 and "Your card was declined." in page
    assert client.v1.checkout.sessions.retrieve(session.id).status == "open"
    status, _, location = browse(
        session.url, {"action": "pay", "card": "4242 4242 4242 4242", "email": "jo@example.com"}
    )
    assert (status, location) == (303, f"http://app.test/done?session={session.id}")
    session = client.v1.checkout.sessions.retrieve(session.id)
    assert (session.status, session.payment_status) == ("complete", "paid")
    assert session.customer_details.email == "jo@example.com"
    pi = client.v1.payment_intents.retrieve(session.payment_intent)
    assert pi.status == "succeeded"
    types = [e.type for e in client.v1.events.list(params={"limit": 100}).data]
    assert types.index("checkout.session.completed") < types.index("payment_intent.payment_failed")
    assert {"payment_intent.succeeded", "charge.succeeded"} <= set(types)
    status, _, location = browse(session_url := f"{server.url}/_emulator/checkout/{session.id}")
    assert status == 303 and location and session_url  # a paid session goes to success_url
