"""Stripe as Stripe behaves (issue 14), product side: a clawback follows a refund only once
it succeeds; a reversal the holder's connected account cannot cover leaves the debt to be
recovered from later earnings; a payout waits for pending funds instead of failing."""

from __future__ import annotations

import pytest

from ledger.models import EntryKind, JournalEntry
from ledger.selectors import holder_balances
from payments import gateway
from payments.charges import payment_refund, stripe_refund_sync
from payments.models import StripePayment, StripeRefund
from payouts.models import Payout
from payouts.services import holder_clawback, payout_schedule, payout_send
from tests.payouts.test_payouts_clawback import _collected

pytestmark = pytest.mark.django_db
DAY = 86400


@pytest.mark.parametrize("outcome", ["succeeded", "failed"])
def test_a_pending_refund_claws_back_only_once_it_succeeds(emulated_stripe, outcome, caplog):
    (ana, _ben), _billed, collection = _collected(emulated_stripe, [600, 300], 100)
    emulated_stripe.control.config(refunds_pending=True)
    payment = StripePayment.objects.get(stripe_charge_id=collection.charge_id)
    refund = payment_refund(payment=payment, idempotency_key="refund:pending")
    assert refund.status == "pending"
    # Nothing moves while Stripe has not refunded the card.
    assert holder_balances(organisation=ana, currency="USD").payable_minor == 600
    assert not JournalEntry.objects.filter(kind=EntryKind.REFUND).exists()

    emulated_stripe.control.settle_refund(refund.stripe_refund_id, outcome)
    stripe_refund_sync(refund_id=refund.stripe_refund_id)  # as refund.updated would
    refund = StripeRefund.objects.get(pk=refund.pk)
    assert refund.status == outcome
    refunds = JournalEntry.objects.filter(kind=EntryKind.REFUND).count()
    payable = holder_balances(organisation=ana, currency="USD").payable_minor
    if outcome == "succeeded":
        assert (refunds, payable, refund.succeeded_at is not None) == (1, 0, True)
    else:
        assert (refunds, payable, refund.succeeded_at) == (0, 600, None)
        assert "stripe_refund_failed" in caplog.text
    stripe_refund_sync(refund_id=refund.stripe_refund_id)  # again: nothing more
    assert JournalEntry.objects.filter(kind=EntryKind.REFUND).count() == refunds


def test_a_reversal_the_account_cannot_cover_is_recovered_from_later_earnings(
    emulated_stripe, caplog
):
    (ana,), billed, collection = _collected(emulated_stripe, [9_000], 1_000)
    payout = payout_schedule(
        holder=ana, currency="USD", run=billed.run, source_transaction=collection.charge_id
    )
    payout = payout_send(payout_id=payout.pk)
    assert payout.status == Payout.Status.PAID
    account = payout.destination_account_id
    emulated_stripe.control.make_available()
    # Stripe pays Ana's balance to her bank on the weekly schedule: the account is empty.
    emulated_stripe.control.advance_clock(emulated_stripe.control.clock()["now"] + 8 * DAY)
    assert gateway.balance_retrieve(account_id=account).available_minor("USD") == 0

    payment = StripePayment.objects.get(stripe_charge_id=collection.charge_id)
    refund = payment_refund(payment=payment, idempotency_key="refund:all")
    assert holder_balances(organisation=ana, currency="USD").recoverable_minor == 9_000
    assert holder_clawback(holder=ana, currency="USD", reason_key=refund.stripe_refund_id) == 0
    assert "clawback_not_reversible" in caplog.text
    assert gateway.transfer_retrieve(transfer_id=payout.transfer_id).amount_reversed == 0
    assert gateway.balance_retrieve(account_id=account).available_minor("USD") == 0
    assert holder_balances(organisation=ana, currency="USD").recoverable_minor == 9_000

    # Next month Ana earns 12,000: the 9,000 she owes is recovered first, 3,000 paid.
    _, later_run, later = _collected_for(emulated_stripe, ana, 12_000)
    payout = payout_schedule(
        holder=ana, currency="USD", run=later_run.run, source_transaction=later.charge_id
    )
    assert payout is not None and payout.amount_minor == 3_000
    balances = holder_balances(organisation=ana, currency="USD")
    assert (balances.recoverable_minor, balances.payable_minor) == (0, 3_000)
    assert JournalEntry.objects.filter(kind=EntryKind.RECOVERY).count() == 1


def _collected_for(emulated, holder, amount):
    from payouts.collections import (
        collection_charge,
        collection_record_payment,
        collections_open_for_run,
    )
    from tests.money.payouts_world import billed_run, fresh_licensee, saved_card

    licensee = fresh_licensee("Later Licensee")
    saved_card(emulated, licensee)
    billed = billed_run(licensee, [holder], amounts=[amount], commission_minor=1_000)
    [collection] = collections_open_for_run(run=billed.run)
    collection = collection_charge(collection_id=collection.pk)
    intent = gateway.payment_intent_retrieve(payment_intent_id=collection.payment_intent_id)
    collection = collection_record_payment(
        collection_id=collection.pk, charge_id=intent.latest_charge
    )
    return (holder,), billed, collection


def test_a_payout_from_pending_funds_waits_for_them_without_using_up_attempts(emulated_stripe):
    (ana,), _billed, _collection = _collected(emulated_stripe, [4_000], 400)
    payout = payout_schedule(holder=ana, currency="USD", on_demand=True)  # names no charge
    for _ in range(10):  # more tries than ROYALTIES_PAYOUT_MAX_ATTEMPTS allows failures
        Payout.objects.filter(pk=payout.pk).update(next_attempt_at=None)
        payout = payout_send(payout_id=payout.pk)
        assert payout.status == Payout.Status.SCHEDULED
        assert payout.attempts == 0 and "Waiting for Stripe" in payout.failure_reason
    emulated_stripe.control.make_available()  # two days later
    Payout.objects.filter(pk=payout.pk).update(next_attempt_at=None)
    payout = payout_send(payout_id=payout.pk)
    assert payout.status == Payout.Status.PAID and payout.attempts == 1
