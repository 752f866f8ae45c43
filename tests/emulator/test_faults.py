"""Fault injection, and what each fault means for idempotent retries."""

import pytest
import stripe

from stripe_emulator.control import EmulatorControl
from stripe_emulator.server import EmulatorServer
from tests.emulator.conftest import make_client
from tests.emulator.helpers import express_account

CUSTOMER = {"email": "a@example.com"}


def test_api_error_is_not_stored(client: stripe.StripeClient, ctl: EmulatorControl) -> None:
    ctl.add_fault("api_error", path="/v1/customers", method="POST")
    opts: stripe.RequestOptions = {"idempotency_key": "k"}
    client.v1.balance.retrieve()  # other requests are not affected
    with pytest.raises(stripe.APIError) as exc:
        client.v1.customers.create(params=CUSTOMER, options=opts)
    assert exc.value.http_status == 500
    assert "customer" not in ctl.counts()
    first = client.v1.customers.create(params=CUSTOMER, options=opts)
    assert "Idempotent-Replayed" not in first.last_response.headers  # performed now, once
    assert ctl.counts()["customer"] == 1


@pytest.mark.parametrize("mode", ["rate_limit", "lock_timeout"])
def test_429s(client: stripe.StripeClient, ctl: EmulatorControl, mode: str) -> None:
    ctl.add_fault(mode, count=2)
    for _ in range(2):
        with pytest.raises(stripe.RateLimitError) as exc:
            client.v1.customers.create(params=CUSTOMER, options={"idempotency_key": "k"})
        assert exc.value.http_status == 429
        assert exc.value.json_body["error"]["code"] == mode
    client.v1.customers.create(params=CUSTOMER, options={"idempotency_key": "k"})
    assert [r["status"] for r in ctl.requests()] == [429, 429, 200]


def test_sdk_retries_lock_timeouts(server: EmulatorServer, ctl: EmulatorControl) -> None:
    ctl.add_fault("lock_timeout")  # answered with Stripe-Should-Retry: true
    make_client(server.url, max_network_retries=1).v1.customers.create(params=CUSTOMER)
    assert [r["status"] for r in ctl.requests()] == [429, 200]


@pytest.mark.parametrize("mode", ["timeout", "drop"])
def test_commit_then_no_answer_is_stored(
    server: EmulatorServer, ctl: EmulatorControl, mode: str
) -> None:
    client = make_client(server.url, http_client=stripe.RequestsClient(timeout=0.5))
    account = express_account(client)
    ctl.complete_onboarding(account.id)
    ctl.add_fault(mode, path="/v1/customers", seconds=1.5)
    opts: stripe.RequestOptions = {"idempotency_key": "lost-answer"}
    with pytest.raises(stripe.APIConnectionError):
        client.v1.customers.create(params=CUSTOMER, options=opts)
    assert ctl.counts()["customer"] == 1  # the effect was committed
    retried = client.v1.customers.create(params=CUSTOMER, options=opts)
    assert retried.last_response.headers["Idempotent-Replayed"] == "true"
    assert ctl.counts()["customer"] == 1


def test_sdk_retry_after_timeout_creates_one_object(
    server: EmulatorServer, ctl: EmulatorControl
) -> None:
    client = make_client(
        server.url, max_network_retries=1, http_client=stripe.RequestsClient(timeout=0.5)
    )
    ctl.add_fault("timeout", path="/v1/customers", seconds=1)
    client.v1.customers.create(params=CUSTOMER)  # the SDK retries with its own key
    assert ctl.counts()["customer"] == 1
    assert [r["replayed"] for r in ctl.requests()] == [False, True]


def test_fault_filters_and_counts(client: stripe.StripeClient, ctl: EmulatorControl) -> None:
    ctl.add_fault("api_error", count=2, method="GET", path="/v1/balance")
    for _ in range(2):
        with pytest.raises(stripe.APIError):
            client.v1.balance.retrieve()
    client.v1.customers.create(params=CUSTOMER)
    client.v1.balance.retrieve()
    assert ctl.call("GET", "faults")["data"] == []
    log = ctl.requests()
    assert [(r["method"], r["path"], r["status"]) for r in log] == [
        ("GET", "/v1/balance", 500),
        ("GET", "/v1/balance", 500),
        ("POST", "/v1/customers", 200),
        ("GET", "/v1/balance", 200),
    ]
    assert log[2]["idempotency_key"]  # the SDK sends one on every POST
