"""Validation, auth and wire-format behaviour, as the SDK surfaces them."""

import json
import urllib.error
import urllib.request
from typing import Any

import pytest
import stripe

from stripe_emulator.server import EmulatorServer
from tests.emulator.conftest import make_client
from tests.emulator.helpers import express_account


def raw(
    server: EmulatorServer,
    path: str,
    headers: dict[str, str] | None = None,
    data: bytes | None = None,
) -> tuple[int, dict[str, str], dict[str, Any]]:
    request = urllib.request.Request(server.url + path, data=data, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, dict(response.headers), json.loads(response.read())
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), json.loads(e.read())


@pytest.mark.parametrize(
    ("params", "param", "code"),
    [
        ({"currency": "usd", "destination": "acct_x"}, "amount", "parameter_missing"),
        ({"amount": 0, "currency": "usd", "destination": "acct_x"}, "amount", None),
        ({"amount": -5, "currency": "usd", "destination": "acct_x"}, "amount", None),
        (
            {"amount": "12.5", "currency": "usd", "destination": "acct_x"},
            "amount",
            "parameter_invalid_integer",
        ),
        ({"amount": 100, "currency": "USD", "destination": "acct_x"}, "currency", None),
        ({"amount": 100, "currency": "usdx", "destination": "acct_x"}, "currency", None),
        ({"amount": 100, "currency": "usd"}, "destination", "parameter_missing"),
        (
            {"amount": 100, "currency": "usd", "destination": "acct_x"},
            "destination",
            "resource_missing",
        ),
        (
            {"amount": 100, "currency": "usd", "destination": "acct_x", "colour": "red"},
            "colour",
            "parameter_unknown",
        ),
        (
            {
                "amount": 100,
                "currency": "usd",
                "destination": "acct_x",
                "metadata": {"k" * 41: "v"},
            },
            "metadata[" + "k" * 41 + "]",
            None,
        ),
    ],
)
def test_transfer_validation(
    client: stripe.StripeClient, params: dict[str, Any], param: str, code: str | None
) -> None:
    with pytest.raises(stripe.InvalidRequestError) as exc:
        client.v1.transfers.create(params=params)
    assert exc.value.http_status == 400
    assert exc.value.param == param
    assert exc.value.code == code
    assert exc.value.json_body["error"]["type"] == "invalid_request_error"


def test_unknown_ids_are_resource_missing(client: stripe.StripeClient) -> None:
    with pytest.raises(stripe.InvalidRequestError) as exc:
        client.v1.transfers.retrieve("tr_missing")
    assert (exc.value.http_status, exc.value.code, exc.value.param) == (
        404,
        "resource_missing",
        "id",
    )
    assert "tr_missing" in str(exc.value.user_message)
    with pytest.raises(stripe.InvalidRequestError) as exc:
        client.v1.refunds.create(params={"charge": "ch_missing"})
    assert (exc.value.code, exc.value.param) == ("resource_missing", "charge")


def test_checkout_line_item_validation(client: stripe.StripeClient) -> None:
    base = {"mode": "payment", "success_url": "http://app.test/ok"}
    with pytest.raises(stripe.InvalidRequestError) as exc:
        client.v1.checkout.sessions.create(params=base)
    assert exc.value.param == "line_items"
    item = {"quantity": 1, "price_data": {"unit_amount": 100, "product_data": {"name": "x"}}}
    with pytest.raises(stripe.InvalidRequestError) as exc:
        client.v1.checkout.sessions.create(params={**base, "line_items": [item]})
    assert exc.value.param == "line_items[0][price_data][currency]"
    item["price_data"]["currency"] = "usd"
    with pytest.raises(stripe.InvalidRequestError) as exc:
        client.v1.checkout.sessions.create(
            params={**base, "success_url": "not a url", "line_items": [item]}
        )
    assert exc.value.param == "success_url"


def test_new_account_requirements_and_payment_intent_rules(client: stripe.StripeClient) -> None:
    with pytest.raises(stripe.InvalidRequestError) as exc:
        client.v1.accounts.create(params={"type": "express"})
    assert exc.value.param == "capabilities"
    account = express_account(client)
    assert set(account.requirements.currently_due) >= {"external_account", "tos_acceptance.date"}
    with pytest.raises(stripe.InvalidRequestError) as exc:
        client.v1.payment_intents.create(params={"amount": 20, "currency": "usd"})
    assert exc.value.code == "amount_too_small"
    with pytest.raises(stripe.InvalidRequestError) as exc:
        client.v1.payment_intents.create(
            params={"amount": 500, "currency": "usd", "off_session": True}
        )
    assert exc.value.param == "off_session"


def test_auth(server: EmulatorServer) -> None:
    with pytest.raises(stripe.AuthenticationError):
        stripe.StripeClient(
            "sk_live_real", base_addresses={"api": server.url}, max_network_retries=0
        ).v1.balance.retrieve()
    status, _, body = raw(server, "/v1/balance")
    assert status == 401 and "API key" in body["error"]["message"]
    status, _, _ = raw(server, "/v1/balance", {"Authorization": "Basic c2tfdGVzdF94Og=="})
    assert status == 200  # curl -u sk_test_x:


def test_headers_and_unknown_routes(server: EmulatorServer, client: stripe.StripeClient) -> None:
    auth = {"Authorization": "Bearer sk_test_x"}
    status, headers, _ = raw(server, "/v1/balance", {**auth, "Stripe-Version": "2024-06-20"})
    assert status == 200
    assert headers["Stripe-Version"] == "2024-06-20"
    assert headers["Request-Id"].startswith("req_")
    status, _, body = raw(server, "/v1/nothing", auth)
    assert status == 404 and "Unrecognized request URL" in body["error"]["message"]
    status, _, body = raw(server, "/v1/balance", {**auth, "Stripe-Account": "acct_nope"})
    assert (status, body["error"]["code"]) == (403, "account_invalid")
    with pytest.raises(stripe.PermissionError):
        make_client(server.url, stripe_account="acct_nope").v1.balance.retrieve()


def test_bracket_params_reach_objects(server: EmulatorServer, client: stripe.StripeClient) -> None:
    body = (
        "mode=payment&success_url=http%3A%2F%2Fapp.test%2Fok"
        "&line_items[0][quantity]=2&line_items[0][price_data][currency]=eur"
        "&line_items[0][price_data][unit_amount]=1250"
        "&line_items[0][price_data][product_data][name]=Dataset+A"
        "&line_items[1][quantity]=1&line_items[1][price_data][currency]=eur"
        "&line_items[1][price_data][unit_amount]=100"
        "&line_items[1][price_data][product_data][name]=Fee"
        "&metadata[order]=7&metadata[0]=zero&payment_intent_data[metadata][line]=3"
        "&expand[]=line_items"
    )
    status, _, session = raw(
        server, "/v1/checkout/sessions", {"Authorization": "Bearer sk_test_x"}, body.encode()
    )
    assert status == 200, session
    assert session["amount_total"] == 2600 and session["currency"] == "eur"
    assert session["metadata"] == {"order": "7", "0": "zero"}
    assert [i["description"] for i in session["line_items"]["data"]] == ["Dataset A", "Fee"]


def test_list_limit_bounds(client: stripe.StripeClient) -> None:
    with pytest.raises(stripe.InvalidRequestError) as exc:
        client.v1.transfers.list(params={"limit": 101})
    assert exc.value.param == "limit"
