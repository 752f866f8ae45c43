"""Stripe as Stripe behaves (issue 14): the emulator's defaults and refusals match Stripe's,
so code that passes here does not fail on Stripe for a reason the emulator hid."""

import json
import urllib.error
import urllib.parse
import urllib.request

import pytest
import stripe

from stripe_emulator.control import EmulatorControl
from stripe_emulator.server import EmulatorServer
from tests.emulator.helpers import balance, express_account, paid_charge

FEE_ON_50 = 145 + 30  # 2.9 % + 30 of 50.00


# --- Finding 1: card funds stay pending until available_on ------------------------------------
def test_card_funds_stay_pending_by_default(
    client: stripe.StripeClient, ctl: EmulatorControl
) -> None:
    account = express_account(client)
    ctl.complete_onboarding(account.id)
    charge = paid_charge(client, ctl, 5000)
    txn = client.v1.balance_transactions.retrieve(charge.balance_transaction)
    assert txn.status == "pending"
    assert txn.available_on - txn.created == 2 * 86400  # about two days, as on Stripe
    client.v1.balance.retrieve()  # a later request settles nothing that is not due
    assert balance(client) == (0, 5000 - FEE_ON_50)

    params = {"amount": 1000, "currency": "usd", "destination": account.id}
    with pytest.raises(stripe.InvalidRequestError) as exc:
        client.v1.transfers.create(params=params)
    assert exc.value.code == "balance_insufficient"
    # Naming the charge the money came from works while its funds are pending.
    transfer = client.v1.transfers.create(params={**params, "source_transaction": charge.id})
    assert client.v1.balance_transactions.retrieve(transfer.balance_transaction).status == (
        "pending"
    )


def test_bypass_pending_card_makes_funds_available_at_once(
    client: stripe.StripeClient, ctl: EmulatorControl
) -> None:
    account = express_account(client)
    ctl.complete_onboarding(account.id)
    session_charge = paid_charge(client, ctl, 5000, card="4000000000000077")
    txn = client.v1.balance_transactions.retrieve(session_charge.balance_transaction)
    assert (txn.status, txn.available_on) == ("available", txn.created)
    assert balance(client) == (5000 - FEE_ON_50, 0)
    params = {"amount": 1000, "currency": "usd", "destination": account.id}
    assert client.v1.transfers.create(params=params).amount == 1000

    # The same through an off-session PaymentIntent with Stripe's magic PaymentMethod.
    intent = client.v1.payment_intents.create(
        params={
            "amount": 5000,
            "currency": "usd",
            "payment_method": "pm_card_bypassPending",
            "confirm": True,
        }
    )
    charge = client.v1.charges.retrieve(intent.latest_charge)
    assert client.v1.balance_transactions.retrieve(charge.balance_transaction).status == (
        "available"
    )


# --- Finding 2: a reversal needs the destination's available balance ------------------------
def test_reversal_needs_the_destination_to_have_the_money(
    client: stripe.StripeClient, ctl: EmulatorControl
) -> None:
    account = express_account(client)
    ctl.complete_onboarding(account.id)
    charge = paid_charge(client, ctl, 10000)
    transfer = client.v1.transfers.create(
        params={
            "amount": 5000,
            "currency": "usd",
            "destination": account.id,
            "source_transaction": charge.id,
        }
    )
    ctl.make_available()
    assert balance(client, account.id) == (5000, 0)
    # The creator's money leaves for the bank: only 2,000 stays in the account.
    client.v1.payouts.create(
        params={"amount": 3000, "currency": "usd"}, options={"stripe_account": account.id}
    )
    with pytest.raises(stripe.InvalidRequestError) as exc:
        client.v1.transfers.reversals.create(transfer.id, params={"amount": 4000})
    assert exc.value.code == "balance_insufficient"
    assert balance(client, account.id) == (2000, 0)  # never below zero
    assert client.v1.transfers.retrieve(transfer.id).amount_reversed == 0
    # What the account can cover is reversed.
    reversal = client.v1.transfers.reversals.create(transfer.id, params={"amount": 2000})
    assert reversal.amount == 2000
    assert balance(client, account.id) == (0, 0)


# --- Finding 3: automatic payouts by default; settings[payouts][schedule] settable ----------
DAY = 86400


def _funded(client: stripe.StripeClient, ctl: EmulatorControl, **settings: object) -> str:
    params: dict[str, object] = {
        "type": "express",
        "country": "US",
        "capabilities": {"transfers": {"requested": True}},
    }
    if settings:
        params["settings"] = settings
    account = client.v1.accounts.create(params=params)
    ctl.complete_onboarding(account.id)
    paid_charge(client, ctl, 10000, card="4000000000000077")
    client.v1.transfers.create(
        params={"amount": 4000, "currency": "usd", "destination": account.id}
    )
    return account.id


def test_connected_accounts_pay_out_automatically_by_default(
    client: stripe.StripeClient, ctl: EmulatorControl
) -> None:
    account = _funded(client, ctl)
    schedule = client.v1.accounts.retrieve(account).settings.payouts.schedule
    assert (schedule.interval, schedule.delay_days) == ("daily", 2)
    assert balance(client, account) == (4000, 0)
    ctl.advance_clock(ctl.clock()["now"] + DAY)  # past the next midnight
    assert balance(client, account) == (0, 0)  # swept to the bank
    [payout] = client.v1.payouts.list(options={"stripe_account": account}).data
    assert (payout.amount, payout.automatic, payout.status) == (4000, True, "pending")
    types = [e.type for e in client.v1.events.list(options={"stripe_account": account}).data]
    assert "payout.created" in types


def test_the_payout_schedule_can_be_set(client: stripe.StripeClient, ctl: EmulatorControl) -> None:
    manual = _funded(client, ctl, payouts={"schedule": {"interval": "manual"}})
    assert client.v1.accounts.retrieve(manual).settings.payouts.schedule.interval == "manual"
    weekly = _funded(
        client, ctl, payouts={"schedule": {"interval": "weekly", "weekly_anchor": "friday"}}
    )
    schedule = client.v1.accounts.retrieve(weekly).settings.payouts.schedule
    assert (schedule.interval, schedule.weekly_anchor) == ("weekly", "friday")
    ctl.advance_clock(ctl.clock()["now"] + 8 * DAY)  # a Friday has passed
    assert balance(client, manual) == (4000, 0)  # manual: the money stays
    assert balance(client, weekly) == (0, 0)
    # The schedule can be changed later, too.
    updated = client.v1.accounts.update(
        manual, params={"settings": {"payouts": {"schedule": {"interval": "monthly"}}}}
    )
    assert updated.settings.payouts.schedule.interval == "monthly"
    assert updated.settings.payouts.schedule.monthly_anchor == 1
    with pytest.raises(stripe.InvalidRequestError) as exc:
        client.v1.accounts.update(
            manual, params={"settings": {"payouts": {"schedule": {"interval": "hourly"}}}}
        )
    assert exc.value.param == "settings[payouts][schedule][interval]"


# --- Finding 7: Stripe-shaped error envelopes --------------------------------------------------
def _raw_error(url: str, path: str, form: dict[str, str]) -> tuple[dict[str, object], str]:
    request = urllib.request.Request(
        url + path,
        data=urllib.parse.urlencode(form).encode(),
        headers={"Authorization": "Bearer sk_test_emulator"},
    )
    with pytest.raises(urllib.error.HTTPError) as exc:
        urllib.request.build_opener(urllib.request.ProxyHandler({})).open(request, timeout=10)
    return json.loads(exc.value.read())["error"], exc.value.headers["Request-Id"]


def test_errors_omit_code_and_param_they_do_not_have_and_link_the_request_log(
    server: EmulatorServer, ctl: EmulatorControl
) -> None:
    error, request_id = _raw_error(server.url, "/v1/transfers/tr_missing", {"metadata[a]": "b"})
    assert error["code"] == "resource_missing" and "param" in error
    error, request_id = _raw_error(
        server.url, "/v1/payment_intents", {"amount": "100", "currency": "usd", "confirm": "true"}
    )
    assert set(error) == {"code", "doc_url", "message", "param", "request_log_url", "type"}
    error, request_id = _raw_error(
        server.url,
        "/v1/refunds",
        {"amount": "100"},
    )
    assert "code" not in error and "doc_url" not in error  # no code: the keys are left out
    assert error["request_log_url"].startswith(
        f"https://dashboard.stripe.com/test/logs/{request_id}?t="
    )
    assert request_id.startswith("req_")


def test_unknown_and_non_integer_parameters_carry_stripes_codes(
    client: stripe.StripeClient, ctl: EmulatorControl
) -> None:
    with pytest.raises(stripe.InvalidRequestError) as exc:
        client.v1.transfers.create(
            params={"amount": 100, "currency": "usd", "destination": "acct_x", "colour": "red"}
        )
    assert (exc.value.code, exc.value.param) == ("parameter_unknown", "colour")
    assert exc.value.user_message == "Received unknown parameter: colour"
    with pytest.raises(stripe.InvalidRequestError) as exc:
        client.v1.transfers.create(
            params={"amount": "ten", "currency": "usd", "destination": "acct_x"}
        )
    assert (exc.value.code, exc.value.param) == ("parameter_invalid_integer", "amount")
    assert exc.value.error.doc_url.endswith("/parameter-invalid-integer")


# --- Finding 6: parameters checked strictly, at any depth, against Stripe's description -------
@pytest.mark.parametrize(
    ("path", "params", "param"),
    [
        (
            "accounts",
            {"settings": {"payouts": {"schedul": {"interval": "manual"}}}},
            "settings[payouts][schedul]",
        ),
        (
            "accounts",
            {"capabilities": {"transfers": {"requestd": True}}},
            "capabilities[transfers][requestd]",
        ),
        ("accounts", {"business_profile": {"nme": "Ana"}}, "business_profile[nme]"),
        ("transfers", {"amount": 100, "currency": "usd", "destination": "acct_x", "x": 1}, "x"),
        ("refunds", {"charge": "ch_x", "reverse_transfr": True}, "reverse_transfr"),
    ],
)
def test_an_undocumented_parameter_is_refused_at_any_depth(
    client: stripe.StripeClient, path: str, params: dict[str, object], param: str
) -> None:
    with pytest.raises(stripe.InvalidRequestError) as exc:
        getattr(client.v1, path).create(params=params)
    assert (exc.value.code, exc.value.param) == ("parameter_unknown", param)
    assert exc.value.user_message == f"Received unknown parameter: {param}"


def test_documented_parameters_are_accepted(
    client: stripe.StripeClient, ctl: EmulatorControl
) -> None:
    account = client.v1.accounts.create(
        params={
            "type": "express",
            "capabilities": {"transfers": {"requested": True}},
            "settings": {"payouts": {"schedule": {"interval": "manual"}}},
            "tos_acceptance": {"service_agreement": "recipient"},
            "metadata": {"any_key": "is free"},
        }
    )
    assert account.tos_acceptance.service_agreement == "recipient"
    charge = paid_charge(client, ctl, 5000)
    refund = client.v1.refunds.create(params={"charge": charge.id, "reverse_transfer": False})
    assert refund.amount == 5000
    # Documented, but not something the emulator does: refused, saying so, never ignored.
    with pytest.raises(stripe.InvalidRequestError) as exc:
        client.v1.accounts.update(account.id, params={"settings": {"branding": {"icon": "f"}}})
    assert (exc.value.code, exc.value.param) == (
        "emulator_parameter_unsupported",
        "settings[branding]",
    )
    with pytest.raises(stripe.InvalidRequestError) as exc:
        client.v1.transfers.create(
            params={"amount": 100, "currency": "usd", "destination": account.id, "expand": []}
            | {"amount": "1e3"}
        )
    assert exc.value.code == "parameter_invalid_integer"


def test_every_endpoint_the_emulator_serves_is_checked_against_the_description() -> None:
    from stripe_emulator import openapi
    from stripe_emulator.resources import RAW_ROUTES

    missing = [
        f"{method} {template}"
        for method, template, _ in RAW_ROUTES
        if openapi.route_key(method, template) not in openapi.endpoints()
    ]
    assert missing == []


# --- Finding 5: refunds can be pending, then succeed or fail ----------------------------------
@pytest.mark.parametrize("outcome", ["succeeded", "failed"])
def test_a_pending_refund_later_succeeds_or_fails(
    client: stripe.StripeClient, ctl: EmulatorControl, outcome: str
) -> None:
    charge = paid_charge(client, ctl, 5000, card="4000000000000077")
    ctl.config(refunds_pending=True)
    refund = client.v1.refunds.create(params={"charge": charge.id, "amount": 2000})
    assert refund.status == "pending"
    assert balance(client)[0] == 5000 - FEE_ON_50 - 2000
    ctl.settle_refund(refund.id, outcome)
    refund = client.v1.refunds.retrieve(refund.id)
    assert refund.status == outcome
    charge = client.v1.charges.retrieve(charge.id)
    if outcome == "failed":
        assert (refund.failure_reason, charge.amount_refunded) == ("unknown", 0)
        assert balance(client)[0] == 5000 - FEE_ON_50  # the money came back
        back = client.v1.balance_transactions.retrieve(refund.failure_balance_transaction)
        assert (back.type, back.amount) == ("refund_failure", 2000)
    else:
        assert charge.amount_refunded == 2000
        assert balance(client)[0] == 5000 - FEE_ON_50 - 2000
    types = [e.type for e in client.v1.events.list(params={"limit": 100}).data]
    expected = {"refund.updated", "charge.refund.updated"} | (
        {"refund.failed"} if outcome == "failed" else set()
    )
    assert expected <= set(types)
    assert ("refund.failed" in types) == (outcome == "failed")


# --- Finding 8: the events the product handles are emitted where Stripe would ----------------
def test_onboarding_emits_capability_updated(
    client: stripe.StripeClient, ctl: EmulatorControl
) -> None:
    account = express_account(client)
    ctl.complete_onboarding(account.id)
    [event] = client.v1.events.list(
        params={"type": "capability.updated"}, options={"stripe_account": account.id}
    ).data
    assert event.account == account.id
    assert (event.data.object.id, event.data.object.status) == ("transfers", "active")
    assert event.data.previous_attributes.status == "inactive"


def test_a_dispute_under_review_emits_charge_dispute_updated(
    client: stripe.StripeClient, ctl: EmulatorControl
) -> None:
    charge = paid_charge(client, ctl, 5000)
    dispute = ctl.create_dispute(charge.id)
    ctl.close_dispute(dispute["id"], "won")
    types = [e.type for e in client.v1.events.list(params={"type": "charge.dispute.*"}).data]
    assert types.index("charge.dispute.closed") < types.index("charge.dispute.updated")


def test_a_canceled_payout_returns_the_funds_and_emits_payout_canceled(
    client: stripe.StripeClient, ctl: EmulatorControl
) -> None:
    paid_charge(client, ctl, 5000, card="4000000000000077")
    payout = client.v1.payouts.create(params={"amount": 1000, "currency": "usd"})
    assert balance(client)[0] == 5000 - FEE_ON_50 - 1000
    canceled = client.v1.payouts.cancel(payout.id)
    assert canceled.status == "canceled"
    assert balance(client)[0] == 5000 - FEE_ON_50
    [event] = client.v1.events.list(params={"type": "payout.canceled"}).data
    assert event.data.object.id == payout.id
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.payouts.cancel(payout.id)
