"""Retries under one idempotency key: faults injected into the emulator, real HTTP, real SDK.
However often a call is retried, and whether or not its first answer got lost, Stripe ends
up with one object."""

from __future__ import annotations

import pytest

from payments import gateway
from payments.models import StripeRequest
from tests.gateway.helpers import onboarded_account, paid_charge_id

pytestmark = pytest.mark.django_db


@pytest.fixture
def funded(emulated_stripe, payee, licensee):
    """An onboarded payee and a paid, available 100.00 USD charge on the platform."""
    account = onboarded_account(emulated_stripe, payee)
    charge_id = paid_charge_id(emulated_stripe, licensee, 10_000, key="funded")
    emulated_stripe.control.make_available()
    emulated_stripe.control.clear_requests()
    return account, charge_id


def _transfer(account, key="transfer:1", amount=2_500, **extra):
    return gateway.transfer_create(
        destination_account_id=account.stripe_account_id,
        amount_minor=amount,
        currency="USD",
        transfer_group="agreement-7",
        idempotency_key=key,
        **extra,
    )


def _transfer_posts(control):
    return [r for r in control.requests() if r["method"] == "POST" and r["path"] == "/v1/transfers"]


def _transfers_to(account):
    return list(gateway.transfers_list(destination_account_id=account.stripe_account_id))


def test_three_server_errors_then_success_make_exactly_one_transfer(emulated_stripe, funded):
    account, _ = funded
    emulated_stripe.control.add_fault("api_error", count=3, path="/v1/transfers")
    transfer = _transfer(account)
    posts = _transfer_posts(emulated_stripe.control)
    assert [p["status"] for p in posts] == [500, 500, 500, 200]
    assert {p["idempotency_key"] for p in posts} == {"transfer:1"}
    assert [t.id for t in _transfers_to(account)] == [transfer.id]
    journal = StripeRequest.objects.get(idempotency_key="transfer:1")
    assert (journal.status, journal.attempts, journal.stripe_object_id) == (
        "succeeded",
        4,
        transfer.id,
    )


def test_a_timeout_after_stripe_committed_still_makes_one_transfer(
    emulated_stripe, funded, settings
):
    account, _ = funded
    settings.STRIPE_REQUEST_TIMEOUT = 0.3
    emulated_stripe.control.add_fault("timeout", path="/v1/transfers", seconds=1.0)
    transfer = _transfer(account)
    posts = _transfer_posts(emulated_stripe.control)
    assert len(posts) == 2 and posts[1]["replayed"]  # the retry got the stored answer
    assert [t.id for t in _transfers_to(account)] == [transfer.id]
    assert emulated_stripe.control.counts()["transfer"] == 1


def test_a_dropped_connection_after_commit_still_makes_one_transfer(emulated_stripe, funded):
    account, _ = funded
    emulated_stripe.control.add_fault("drop", path="/v1/transfers")
    transfer = _transfer(account)
    assert [t.id for t in _transfers_to(account)] == [transfer.id]


def test_a_rate_limited_call_is_retried_after_backing_off(emulated_stripe, funded, settings):
    account, _ = funded
    settings.STRIPE_RETRY_BASE_DELAY = settings.STRIPE_RETRY_MAX_DELAY = 0.2
    emulated_stripe.control.add_fault("rate_limit", path="/v1/transfers")
    _transfer(account)
    first, second = _transfer_posts(emulated_stripe.control)
    assert (first["status"], second["status"]) == (429, 200)
    assert second["time"] - first["time"] >= 0.1  # "equal jitter": at least half of 0.2 s


def test_a_lock_timeout_is_retried_because_stripe_says_so(emulated_stripe, funded):
    account, _ = funded
    emulated_stripe.control.add_fault("lock_timeout", count=2, path="/v1/transfers")
    transfer = _transfer(account)
    assert [p["status"] for p in _transfer_posts(emulated_stripe.control)] == [429, 429, 200]
    assert [t.id for t in _transfers_to(account)] == [transfer.id]


def test_when_retries_run_out_the_outcome_stays_pending_and_a_later_try_completes_it(
    emulated_stripe, funded
):
    account, _ = funded
    emulated_stripe.control.add_fault("api_error", count=4, path="/v1/transfers")
    with pytest.raises(gateway.GatewayUnavailable) as unavailable:
        _transfer(account)
    assert unavailable.value.retryable and unavailable.value.http_status == 500
    journal = StripeRequest.objects.get(idempotency_key="transfer:1")
    assert (journal.status, journal.attempts, journal.http_status) == ("pending", 4, 500)
    assert _transfers_to(account) == []

    transfer = _transfer(account)  # e.g. the Celery task's own retry, minutes later
    journal.refresh_from_db()
    assert (journal.status, journal.attempts) == ("succeeded", 5)
    assert [t.id for t in _transfers_to(account)] == [transfer.id]


def test_a_rerun_after_success_fetches_the_transfer_instead_of_creating_again(
    emulated_stripe, funded
):
    account, _ = funded
    transfer = _transfer(account)
    emulated_stripe.control.clear_requests()
    again = _transfer(account)
    assert again.id == transfer.id
    assert [(r["method"], r["path"]) for r in emulated_stripe.control.requests()][:1] == [
        ("GET", f"/v1/transfers/{transfer.id}")
    ]
    assert not _transfer_posts(emulated_stripe.control)


def test_stripe_refusals_are_not_retried_and_keep_stripes_code(emulated_stripe, funded):
    account, _ = funded
    with pytest.raises(gateway.InsufficientBalance) as refused:
        _transfer(account, amount=50_000)  # without source_transaction: available funds only
    assert (refused.value.code, refused.value.http_status) == ("balance_insufficient", 400)
    assert len(_transfer_posts(emulated_stripe.control)) == 1
    journal = StripeRequest.objects.get(idempotency_key="transfer:1")
    assert (journal.status, journal.error_code, journal.attempts) == (
        "failed",
        "balance_insufficient",
        1,
    )


def test_a_transfer_from_a_known_charge_may_exceed_the_available_balance(
    emulated_stripe, funded, licensee
):
    account, _ = funded
    pending_charge = paid_charge_id(emulated_stripe, licensee, 20_000, key="pending")
    transfer = _transfer(account, amount=15_000, source_transaction=pending_charge)
    assert transfer.source_transaction == pending_charge and transfer.amount == 15_000


def test_one_key_cannot_be_reused_for_another_operation(emulated_stripe, funded):
    account, _ = funded
    _transfer(account, key="shared:1")
    with pytest.raises(gateway.IdempotencyConflict):
        gateway.payout_create(
            account_id=account.stripe_account_id,
            amount_minor=100,
            currency="USD",
            idempotency_key="shared:1",
        )
