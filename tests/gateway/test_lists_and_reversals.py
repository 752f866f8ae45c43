"""Lists come page by page however long they are; transfers can be taken back."""

from __future__ import annotations

import pytest

from payments import gateway
from payments.models import StripeRequest
from tests.gateway.helpers import onboarded_account, paid_charge_id

pytestmark = pytest.mark.django_db


def test_balance_transactions_are_fetched_page_by_page_with_filters(emulated_stripe, licensee):
    charges = [paid_charge_id(emulated_stripe, licensee, 1_000 + n, key=f"p{n}") for n in range(5)]
    gateway.refund_create(charge_id=charges[0], idempotency_key="refund:p0")
    emulated_stripe.control.clear_requests()

    listed = list(gateway.balance_transactions(type="charge", currency="USD", page_size=2))
    assert [t.source for t in listed] == list(reversed(charges))  # newest first, all five
    pages = [
        r for r in emulated_stripe.control.requests() if r["path"] == "/v1/balance_transactions"
    ]
    assert len(pages) == 3
    assert [t.type for t in gateway.balance_transactions(type="refund")] == ["refund"]
    first = listed[-1]
    window = list(
        gateway.balance_transactions(created_gte=first.created, created_lt=first.created + 3600)
    )
    assert {t.id for t in window} >= {t.id for t in listed}


def test_a_transfer_is_reversed_once_per_key(emulated_stripe, payee, licensee):
    account = onboarded_account(emulated_stripe, payee)
    charge_id = paid_charge_id(emulated_stripe, licensee, 10_000, key="rev")
    emulated_stripe.control.make_available()
    acct = account.stripe_account_id
    transfer = gateway.transfer_create(
        destination_account_id=acct,
        amount_minor=6_000,
        currency="USD",
        source_transaction=charge_id,
        idempotency_key="transfer:rev",
    )
    before = gateway.balance_retrieve(), gateway.balance_retrieve(account_id=acct)

    reversal = gateway.transfer_reversal_create(
        transfer_id=transfer.id, amount_minor=1_500, idempotency_key="reversal:rev"
    )
    again = gateway.transfer_reversal_create(
        transfer_id=transfer.id, amount_minor=1_500, idempotency_key="reversal:rev"
    )
    assert again.id == reversal.id and reversal.amount == 1_500
    assert gateway.transfer_retrieve(transfer_id=transfer.id).amount_reversed == 1_500
    platform, creator = gateway.balance_retrieve(), gateway.balance_retrieve(account_id=acct)
    assert platform.available_minor("USD") == before[0].available_minor("USD") + 1_500
    assert creator.available_minor("USD") == before[1].available_minor("USD") - 1_500
    assert StripeRequest.objects.get(idempotency_key="reversal:rev").stripe_object_id == reversal.id
