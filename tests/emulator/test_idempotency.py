"""Idempotency-Key handling as Stripe documents it."""

import threading
import time

import pytest
import stripe

from stripe_emulator.control import EmulatorControl
from stripe_emulator.server import EmulatorServer
from tests.emulator.conftest import make_client
from tests.emulator.helpers import express_account


def test_replay_returns_the_first_response(
    client: stripe.StripeClient, ctl: EmulatorControl
) -> None:
    opts: stripe.RequestOptions = {"idempotency_key": "cus-1"}
    first = client.v1.customers.create(params={"email": "a@example.com"}, options=opts)
    again = client.v1.customers.create(params={"email": "a@example.com"}, options=opts)
    assert again.id == first.id
    assert again.last_response.headers["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first.last_response.headers
    assert ctl.counts()["customer"] == 1
    assert [r["replayed"] for r in ctl.requests()] == [False, True]


def test_same_key_with_other_parameters_or_endpoint_is_an_error(
    client: stripe.StripeClient,
) -> None:
    opts: stripe.RequestOptions = {"idempotency_key": "k"}
    client.v1.customers.create(params={"email": "a@example.com"}, options=opts)
    with pytest.raises(stripe.IdempotencyError) as exc:
        client.v1.customers.create(params={"email": "b@example.com"}, options=opts)
    assert exc.value.http_status == 400
    with pytest.raises(stripe.IdempotencyError):
        client.v1.webhook_endpoints.create(
            params={"url": "http://app.test/h", "enabled_events": ["*"]}, options=opts
        )


def test_keys_are_scoped_per_api_key_and_account(
    client: stripe.StripeClient, server: EmulatorServer, ctl: EmulatorControl
) -> None:
    account = express_account(client)
    params = {"email": "a@example.com"}
    platform = client.v1.customers.create(params=params, options={"idempotency_key": "k"})
    connected = client.v1.customers.create(
        params=params, options={"idempotency_key": "k", "stripe_account": account.id}
    )
    other_key = stripe.StripeClient(
        "sk_test_other", base_addresses={"api": server.url}, max_network_retries=0
    ).v1.customers.create(params=params, options={"idempotency_key": "k"})
    assert len({platform.id, connected.id, other_key.id}) == 3


def test_validation_failures_are_not_stored(client: stripe.StripeClient) -> None:
    opts: stripe.RequestOptions = {"idempotency_key": "pi-1"}
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.payment_intents.create(params={"amount": 500, "currency": "xxx"}, options=opts)
    pi = client.v1.payment_intents.create(params={"amount": 500, "currency": "usd"}, options=opts)
    assert pi.status == "requires_payment_method"


def test_card_declines_are_stored_and_replayed(
    client: stripe.StripeClient, ctl: EmulatorControl
) -> None:
    ctl.config(decline_next_off_session=1)
    params = {
        "amount": 500,
        "currency": "usd",
        "payment_method": "pm_card_visa",
        "confirm": True,
        "off_session": True,
    }
    opts: stripe.RequestOptions = {"idempotency_key": "declined"}
    for _ in range(2):
        with pytest.raises(stripe.CardError) as exc:
            client.v1.payment_intents.create(params=params, options=opts)
    assert exc.value.headers["Idempotent-Replayed"] == "true"  # type: ignore[index]
    assert ctl.counts()["payment_intent"] == 1


def test_concurrent_use_of_a_key_in_flight_is_409(
    client: stripe.StripeClient, ctl: EmulatorControl
) -> None:
    ctl.add_fault("delay", path="/v1/customers", seconds=0.6)
    opts: stripe.RequestOptions = {"idempotency_key": "busy"}
    results: list[str] = []
    worker = threading.Thread(
        target=lambda: results.append(client.v1.customers.create(options=opts).id)
    )
    worker.start()
    time.sleep(0.2)
    with pytest.raises(stripe.APIError) as exc:
        client.v1.customers.create(options=opts)
    worker.join()
    assert exc.value.http_status == 409
    assert exc.value.json_body["error"]["code"] == "idempotency_key_in_use"
    assert exc.value.json_body["error"]["type"] == "idempotency_error"
    assert client.v1.customers.create(options=opts).id == results[0]


def test_keys_expire_after_24_hours(client: stripe.StripeClient, server: EmulatorServer) -> None:
    opts: stripe.RequestOptions = {"idempotency_key": "old"}
    first = client.v1.customers.create(options=opts)
    for record in server.state.idempotency.values():  # pretend a day has passed
        record["created"] -= 24 * 3600 + 1
    assert client.v1.customers.create(options=opts).id != first.id


def test_sdk_retries_reuse_its_generated_key(server: EmulatorServer, ctl: EmulatorControl) -> None:
    ctl.add_fault("api_error", path="/v1/customers")
    retrying = make_client(server.url, max_network_retries=2)
    retrying.v1.customers.create(params={"email": "a@example.com"})
    keys = [(r["status"], r["idempotency_key"]) for r in ctl.requests()]
    assert [s for s, _ in keys] == [500, 200] and keys[0][1] == keys[1][1]
    assert ctl.counts()["customer"] == 1
