"""The whole way money moves, over real HTTP through the real SDK: a creator onboards (the
account.updated webhook, signed, reaches our endpoint and a real Celery worker), a licensee
pays through Checkout, the platform transfers the creator's share from that charge, and the
creator's balance is paid out, with every balance as Stripe's rules have it at each step."""

from __future__ import annotations

import pytest

from accounts.models import Organisation
from payments import gateway
from payments.connect import onboarding_link_create
from payments.models import StripeConnectedAccount, StripeEvent, StripePayment
from tests.gateway.helpers import checkout, finish_hosted_onboarding, wait_for

pytestmark = pytest.mark.worker

FEE = 290 + 30  # 2.9 % of 100.00 plus 0.30: Stripe's standard US card pricing


def _balances(account_id: str | None = None) -> tuple[int, int]:
    balance = gateway.balance_retrieve(account_id=account_id)
    return balance.available_minor("USD"), balance.pending_minor("USD")


def test_licence_fee_to_creator_payout(
    live_server, celery_worker_real, emulated_stripe, tenant_factory
):
    emulated_stripe.deliver_webhooks_to(live_server.url)
    emulated_stripe.control.config(available_delay_seconds=2 * 86400)  # cards settle in ~2 days
    creator = tenant_factory(Organisation.Kind.CREATOR, "Ana Rivera").organisation
    licensee = tenant_factory(Organisation.Kind.AI_DEVELOPER, "Northwind AI").organisation

    # 1. The creator onboards on Stripe's hosted page; only its webhooks (account.updated,
    # and capability.updated for transfers) make it count, never the return redirect.
    link = onboarding_link_create(
        organisation=creator,
        refresh_url=f"{live_server.url}/account/payouts/refresh/",
        return_url=f"{live_server.url}/account/payouts/return/",
    )
    assert finish_hosted_onboarding(link) == f"{live_server.url}/account/payouts/return/"
    account = wait_for(
        lambda: StripeConnectedAccount.objects.filter(
            organisation=creator, status="enabled"
        ).first(),
        what="account.updated to be delivered and processed",
    )
    for kind in ("account.updated", "capability.updated"):
        update = wait_for(
            lambda kind=kind: StripeEvent.objects.filter(type=kind, status="processed").first(),
            what=f"{kind} to be processed",
        )
        assert update.account == account.stripe_account_id
    acct = account.stripe_account_id

    # 2. The licensee pays 100.00 through Checkout: pending on the platform, less the fee.
    session = checkout(licensee, 10_000, key="walk")
    emulated_stripe.control.complete_checkout(session.id)
    payment = wait_for(
        lambda: StripePayment.objects.filter(organisation=licensee).first(),
        what="the payment to be recorded from its events",
    )
    assert (payment.amount_minor, payment.fee_minor) == (10_000, FEE)
    assert payment.transfer_group == "agreement-walk"
    assert _balances() == (0, 10_000 - FEE)

    # 3. The creator's 70.00 share, from that charge while its funds are still pending.
    transfer = gateway.transfer_create(
        destination_account_id=acct,
        amount_minor=7_000,
        currency="USD",
        transfer_group=payment.transfer_group,
        source_transaction=payment.stripe_charge_id,
        metadata={"payout_id": 1},
        idempotency_key="transfer:1",
    )
    assert (transfer.source_transaction, transfer.transfer_group) == (
        payment.stripe_charge_id,
        "agreement-walk",
    )
    assert _balances() == (0, 10_000 - FEE - 7_000)
    assert _balances(acct) == (0, 7_000)
    with pytest.raises(gateway.InsufficientBalance):  # pending funds cannot be paid out
        gateway.payout_create(
            account_id=acct, amount_minor=7_000, currency="USD", idempotency_key="payout:early"
        )

    # 4. The charge settles: its funds, and the transfer made from them, become available.
    emulated_stripe.control.make_available()
    assert _balances() == (10_000 - FEE - 7_000, 0)
    assert _balances(acct) == (7_000, 0)

    # 5. The creator's balance is paid out to their bank; the payout is paid.
    payout = gateway.payout_create(
        account_id=acct, amount_minor=7_000, currency="USD", idempotency_key="payout:1"
    )
    assert payout.status == "pending"
    assert _balances(acct) == (0, 0)
    emulated_stripe.control.settle_payouts(account=acct)
    assert gateway.payout_retrieve(payout_id=payout.id, account_id=acct).status == "paid"
    paid = wait_for(
        lambda: StripeEvent.objects.filter(type="payout.paid").first(),
        what="payout.paid to be delivered",
    )
    assert paid.account == acct  # a Connect event: it names the connected account

    platform_txns = {t.type: t for t in gateway.balance_transactions()}
    assert (platform_txns["charge"].amount, platform_txns["charge"].fee) == (10_000, FEE)
    assert platform_txns["transfer"].amount == -7_000
    creator_txns = sorted((t.type, t.amount) for t in gateway.balance_transactions(account_id=acct))
    assert creator_txns == [("payment", 7_000), ("payout", -7_000)]
