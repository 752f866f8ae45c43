"""One invoice, one charge: a second caller (the worker's queued charge task racing the
demo seed or a retried task) while the first attempt is under way gets the same
PaymentIntent, under the same idempotency key, never a second charge. The demo's November
invoice was charged twice this way."""

from __future__ import annotations

import threading

import pytest

from payouts.collections import collection_charge, collections_open_for_run
from payouts.models import Collection
from tests.money.payouts_world import billed_run, fresh_holders, fresh_licensee, saved_card

pytestmark = pytest.mark.django_db


def test_charging_a_due_invoice_twice_charges_it_once(emulated_stripe):
    licensee = fresh_licensee()
    saved_card(emulated_stripe, licensee)
    billed = billed_run(licensee, fresh_holders(2), amounts=[3_000, 1_000], commission_minor=400)
    [collection] = collections_open_for_run(run=billed.run)

    first = collection_charge(collection_id=collection.pk)
    # No webhook in this test: the invoice stays due while its payment is under way.
    assert first.status == Collection.Status.DUE and first.payment_intent_id
    again = collection_charge(collection_id=collection.pk)
    assert again.payment_intent_id == first.payment_intent_id
    assert again.attempts == first.attempts == 1
    assert emulated_stripe.control.counts().get("payment_intent", 0) == 2  # the card's + this


@pytest.mark.django_db(transaction=True)
def test_concurrent_charges_of_one_invoice_make_one_payment_intent(emulated_stripe):
    licensee = fresh_licensee()
    saved_card(emulated_stripe, licensee)
    billed = billed_run(licensee, fresh_holders(2), amounts=[3_000, 1_000], commission_minor=400)
    [collection] = collections_open_for_run(run=billed.run)
    before = emulated_stripe.control.counts().get("payment_intent", 0)

    results: list[str] = []
    errors: list[BaseException] = []

    def charge() -> None:
        from django.db import connection

        try:
            results.append(collection_charge(collection_id=collection.pk).payment_intent_id)
        except BaseException as error:  # reported below
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=charge) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors
    assert len(set(results)) == 1 and results[0]
    assert emulated_stripe.control.counts()["payment_intent"] == before + 1
    assert Collection.objects.get(pk=collection.pk).attempts == 1
