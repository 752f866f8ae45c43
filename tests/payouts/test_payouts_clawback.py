"""Refunds and lost disputes of a collected payment go back through the same allocation:
each holder loses exactly its share, from its payable balance, or (once paid out) by a
transfer reversal; never twice, and the books still balance."""

from __future__ import annotations

import pytest

from ledger.models import EntryKind, JournalEntry
from ledger.selectors import holder_balances, trial_balance
from payments import gateway
from payments.charges import payment_refund, stripe_refund_sync
from payments.models import StripePayment
from payouts.collections import (
    collection_charge,
    collection_record_payment,
    collections_open_for_run,
)
from payouts.models import Collection, Payout
from payouts.services import holder_clawback, payout_schedule, payout_send
from tests.money.payouts_world import (
    billed_run,
    fresh_holders,
    fresh_licensee,
    onboarded,
    saved_card,
)

pytestmark = pytest.mark.django_db


def _collected(emulated, amounts, commission):
    holders = fresh_holders(len(amounts))
    for holder in holders:
        onboarded(emulated, holder)
    licensee = fresh_licensee()
    saved_card(emulated, licensee)
    billed = billed_run(licensee, holders, amounts=amounts, commission_minor=commission)
    [collection] = collections_open_for_run(run=billed.run)
    collection = collection_charge(collection_id=collection.pk)
    intent = gateway.payment_intent_retrieve(payment_intent_id=collection.payment_intent_id)
    collection = collection_record_payment(
        collection_id=collection.pk, charge_id=intent.latest_charge
    )
    # The webhook again: nothing changes.
    again = collection_record_payment(collection_id=collection.pk, charge_id=intent.latest_charge)
    assert again.journal_entry_id == collection.journal_entry_id
    return holders, billed, collection


def _net(holder) -> int:
    """Everything the holder has from the platform: paid out, plus payable, less owed back."""
    b = holder_balances(organisation=holder, currency="USD")
    return b.paid_minor + b.payable_minor - b.recoverable_minor


def test_refund_after_payout_reverses_each_holders_share(emulated_stripe):
    (ana, ben), billed, collection = _collected(emulated_stripe, [37_800, 27_000], 7_200)
    payouts = []
    for holder in (ana, ben):
        payout = payout_schedule(
            holder=holder, currency="USD", run=billed.run, source_transaction=collection.charge_id
        )
        payouts.append(payout_send(payout_id=payout.pk))
    assert [p.status for p in payouts] == [Payout.Status.PAID] * 2
    assert (_net(ana), _net(ben)) == (37_800, 27_000)

    payment = StripePayment.objects.get(stripe_charge_id=collection.charge_id)
    refund = payment_refund(payment=payment, idempotency_key="refund:half", amount_minor=36_000)
    # Half of 72,000: commission 3,600, Ana 18,900, Ben 13,500; all already paid out.
    assert holder_balances(organisation=ana, currency="USD").recoverable_minor == 18_900
    assert holder_balances(organisation=ben, currency="USD").recoverable_minor == 13_500
    assert (_net(ana), _net(ben)) == (18_900, 13_500)

    for holder in (ana, ben):
        holder_clawback(holder=holder, currency="USD", reason_key=refund.stripe_refund_id)
        holder_clawback(holder=holder, currency="USD", reason_key=refund.stripe_refund_id)
    for holder, left in ((ana, 18_900), (ben, 13_500)):
        balances = holder_balances(organisation=holder, currency="USD")
        assert (balances.paid_minor, balances.payable_minor, balances.recoverable_minor) == (
            left,
            0,
            0,
        )
    for payout, left in zip(payouts, (18_900, 13_500), strict=True):
        transfer = gateway.transfer_retrieve(transfer_id=payout.transfer_id)
        assert transfer.amount - transfer.amount_reversed == left
        assert Payout.objects.get(pk=payout.pk).reversed_minor == payout.amount_minor - left

    stripe_refund_sync(refund_id=refund.stripe_refund_id)  # the refund's webhook, late
    assert JournalEntry.objects.filter(kind=EntryKind.REFUND).count() == 1
    books = trial_balance(currency="USD")
    assert books.is_balanced
    commission = sum(r.balance_minor for r in books.rows if r.code == "platform_commission")
    assert commission == -(7_200 - 3_600)


def test_refund_before_payout_comes_off_payable(emulated_stripe):
    (ana, ben), _billed, collection = _collected(emulated_stripe, [600, 300], 100)
    assert holder_balances(organisation=ana, currency="USD").payable_minor == 600
    payment = StripePayment.objects.get(stripe_charge_id=collection.charge_id)
    payment_refund(payment=payment, idempotency_key="refund:all")
    for holder in (ana, ben):
        balances = holder_balances(organisation=holder, currency="USD")
        assert (balances.payable_minor, balances.recoverable_minor, balances.pending_minor) == (
            0,
            0,
            0,
        )
    assert Collection.objects.get(pk=collection.pk).status == Collection.Status.PAID
    assert trial_balance(currency="USD").is_balanced


def test_balance_below_threshold_carries_forward(emulated_stripe):
    from payouts.selectors import payout_position
    from payouts.services import PayoutError, payout_threshold_set

    (ana,), _billed, _collection = _collected(emulated_stripe, [4_000], 400)
    payout_threshold_set(holder=ana, currency="USD", minimum_minor=5_000)
    assert payout_schedule(holder=ana, currency="USD") is None
    position = payout_position(holder=ana, currency="USD")
    assert position.payable_minor == 4_000 and position.can_pay_now
    assert "threshold" in position.blocked_reason
    # Pay now ignores the threshold, not Stripe's minimum, and only once. (It names no
    # source charge, so it is paid from available funds: the collection's have settled.)
    emulated_stripe.control.make_available()
    payout = payout_schedule(holder=ana, currency="USD", on_demand=True)
    assert payout is not None and payout.amount_minor == 4_000
    with pytest.raises(PayoutError):
        payout_schedule(holder=ana, currency="USD", on_demand=True)
    payout = payout_send(payout_id=payout.pk)
    assert payout_send(payout_id=payout.pk).transfer_id == payout.transfer_id
    assert (
        len(list(gateway.transfers_list(destination_account_id=payout.destination_account_id))) == 1
    )
