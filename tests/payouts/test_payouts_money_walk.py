"""Pay when paid, end to end over real HTTP: a run bills Northwind, a real Celery worker
charges its saved card off-session, the emulator's signed payment_intent.succeeded webhook
reaches our endpoint, the holders' shares become payable, payouts are scheduled and sent,
and the emulator holds one transfer per holder equal to its statement."""

from __future__ import annotations

import pytest

from ledger.selectors import holder_balances, trial_balance
from payments import gateway
from payouts.collections import collections_open_for_run
from payouts.models import Collection, Payout
from settlement.models import Statement, StatementLine
from tests.gateway.helpers import wait_for
from tests.money.payouts_world import (
    billed_run,
    fresh_holders,
    fresh_licensee,
    onboarded,
    saved_card,
)

pytestmark = pytest.mark.worker


def test_licensee_charged_then_holders_paid_from_the_charge(
    live_server, celery_worker_real, emulated_stripe
):
    emulated_stripe.deliver_webhooks_to(live_server.url)
    ana, ben, chloe = fresh_holders(3)
    for holder in (ana, ben, chloe):
        onboarded(emulated_stripe, holder)
    licensee = fresh_licensee()
    saved_card(emulated_stripe, licensee)
    billed = billed_run(
        licensee, [ana, ben, chloe], amounts=[37_800, 27_000, 13_500], commission_minor=8_700
    )
    before = {h.pk: holder_balances(organisation=h, currency="USD") for h in (ana, ben, chloe)}
    assert all(b.pending_minor == billed.shares[pk] for pk, b in before.items())
    assert all(b.payable_minor == 0 for b in before.values())

    [collection] = collections_open_for_run(run=billed.run)
    assert collection.amount_due_minor == 87_000

    paid = wait_for(
        lambda: Payout.objects.filter(run=billed.run, status="paid").count() == 3,
        timeout=30,
        what="collection webhook, payouts scheduled and sent",
    )
    assert paid
    collection = Collection.objects.get(pk=collection.pk)
    assert collection.status == Collection.Status.PAID
    assert collection.stripe_fee_minor == 87_000 * 290 // 10_000 + 30
    assert collection.charge_id and collection.payment_intent_id
    assert not StatementLine.objects.filter(run=billed.run, collected_on__isnull=True).exists()

    transfers = list(gateway.transfers_list(transfer_group=f"settlement_run:{billed.run.pk}"))
    assert len(transfers) == 3
    by_destination = {t.destination: t for t in transfers}
    for statement in Statement.objects.filter(run=billed.run):
        payout = Payout.objects.get(run=billed.run, holder=statement.holder)
        transfer = by_destination[payout.destination_account_id]
        assert transfer.amount == statement.earned_minor == payout.amount_minor
        assert transfer.id == payout.transfer_id
        assert transfer.source_transaction == collection.charge_id
        assert payout.idempotency_key == f"transfer:payout:{payout.pk}"
        balances = holder_balances(organisation=statement.holder, currency="USD")
        assert (balances.pending_minor, balances.payable_minor, balances.paid_minor) == (
            0,
            0,
            statement.earned_minor,
        )

    books = trial_balance(currency="USD")
    assert books.is_balanced
    cash = sum(row.balance_minor for row in books.rows if row.code == "platform_cash")
    assert cash == 87_000 - collection.stripe_fee_minor - sum(t.amount for t in transfers)
