"""Builders the collection and payout tests share: a settlement run's results as the
settlement engine leaves them (frozen agreement rows, the usage_settlement entry, statements
and statement lines), holders with connected accounts, a licensee with a saved card."""

from __future__ import annotations

import datetime as dt
import itertools
from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone

from accounts.models import Organisation
from ledger.models import AccountCode, EntryKind
from ledger.services import LegSpec, journal_post, ledger_account_for
from payments import gateway
from payments.charges import stripe_customer_ensure
from payments.connect import connected_account_ensure, connected_account_sync
from payments.models import StripeConnectedAccount, StripeCustomer
from settlement.models import (
    SettlementAgreement,
    SettlementRun,
    Statement,
    StatementLine,
)
from tests.marketplace.factories import (
    accepted_agreement,
    creator_org,
    developer_org,
    licensable_catalogue,
    work_in,
)

_months = itertools.count(1)


@dataclass
class BilledRun:
    run: SettlementRun
    licensee: Organisation
    shares: dict[int, int]
    """holder id -> minor units allocated to it by the run."""
    commission_minor: int

    @property
    def invoiced_minor(self) -> int:
        return self.commission_minor + sum(self.shares.values())


def onboarded(emulated, organisation: Organisation) -> StripeConnectedAccount:
    account = connected_account_ensure(organisation=organisation)
    emulated.control.complete_onboarding(account.stripe_account_id)
    synced = connected_account_sync(stripe_account_id=account.stripe_account_id)
    assert synced is not None and synced.can_receive_transfers
    return synced


def saved_card(emulated, licensee: Organisation) -> StripeCustomer:
    """The licensee paid once through Checkout and agreed to be charged off-session later."""
    customer = stripe_customer_ensure(organisation=licensee)
    session = gateway.checkout_session_create(
        checkout=gateway.CheckoutRequest(
            currency="USD",
            line_items=[gateway.LineItem(name="Licence", unit_amount_minor=1_000)],
            success_url="http://app.test/paid",
            cancel_url="http://app.test/cancelled",
            transfer_group=f"agreement-card-{licensee.pk}",
            metadata={"organisation_id": licensee.pk},
            customer_id=customer.stripe_customer_id,
            save_card_for_later=True,
        ),
        idempotency_key=f"checkout:card:{licensee.pk}",
    )
    emulated.control.complete_checkout(session.id)
    session = gateway.checkout_session_retrieve(session_id=session.id)
    intent = gateway.payment_intent_retrieve(payment_intent_id=session.payment_intent)
    StripeCustomer.objects.filter(pk=customer.pk).update(
        off_session_payment_method_id=intent.payment_method,
        off_session_consented_at=timezone.now(),
    )
    customer.refresh_from_db()
    return customer


@transaction.atomic
def billed_run(
    licensee: Organisation,
    holders: list[Organisation],
    *,
    amounts: list[int],
    commission_minor: int,
    currency: str = "USD",
) -> BilledRun:
    """A completed run that billed ``licensee`` once: one agreement over one work split
    among ``holders``, allocating ``amounts`` to them (as settlement posts it)."""
    month = next(_months)
    start = dt.date(2000 + month // 12, month % 12 + 1, 1)
    end = dt.date(start.year + (start.month == 12), start.month % 12 + 1, 1)
    run = SettlementRun.objects.create(period_start=start, period_end=end, posting_date=end)
    SettlementRun.objects.filter(pk=run.pk).update(status=SettlementRun.Status.COMPLETED)
    shelf = licensable_catalogue(holders[0], works=1)
    total_bp = 10_000
    splits = [(holder, total_bp // len(holders)) for holder in holders]
    splits[0] = (holders[0], total_bp - sum(bp for _, bp in splits[1:]))
    work = work_in(shelf.catalogue, splits=splits)
    agreement = accepted_agreement(licensee, shelf)
    invoiced = commission_minor + sum(amounts)
    legs = [
        LegSpec(
            ledger_account_for(
                code=AccountCode.LICENSEE_RECEIVABLE, currency=currency, organisation=licensee
            ),
            invoiced,
        ),
        LegSpec(
            ledger_account_for(code=AccountCode.PLATFORM_COMMISSION, currency=currency),
            -commission_minor,
        ),
    ]
    for holder, amount in zip(holders, amounts, strict=True):
        account = ledger_account_for(
            code=AccountCode.HOLDER_PENDING, currency=currency, organisation=holder
        )
        legs.append(LegSpec(account, -amount, memo=f"work:{work.pk}"))
    entry = journal_post(
        kind=EntryKind.USAGE_SETTLEMENT,
        currency=currency,
        effective_date=end,
        legs=legs,
        memo="Settlement",
        reference=f"settlement_run:{run.pk}",
        idempotency_key=f"settlement_run:{run.pk}:agreement:{agreement.pk}",
    )
    SettlementAgreement.objects.create(
        run=run,
        agreement=agreement,
        chunk_no=0,
        usage_period_start=start,
        usage_period_end=end,
        currency=currency,
        terms={},
        splits_sha256="0" * 64,
        charge_minor=invoiced,
        invoiced_minor=invoiced,
        commission_minor=commission_minor,
        allocated_minor=sum(amounts),
        journal_entry=entry,
    )
    for holder, amount in zip(holders, amounts, strict=True):
        StatementLine.objects.create(
            run=run,
            agreement=agreement,
            work=work,
            holder=holder,
            currency=currency,
            kind="usage",
            usage_period_start=start,
            usage_period_end=end,
            share_bp=dict(splits)[holder],
            gross_exact=amount,
            commission_exact=0,
            amount_minor=amount,
            entitled_after=amount,
            allocated_after=amount,
            accrued_on=start,
        )
        Statement.objects.create(
            run=run,
            holder=holder,
            currency=currency,
            period_start=start,
            period_end=end,
            opening_balance_minor=0,
            earned_minor=amount,
            closing_balance_minor=amount,
            carry_forward_exact=0,
            line_count=1,
            sha256="0" * 64,
        )
    return BilledRun(
        run=run,
        licensee=licensee,
        shares={holder.pk: amount for holder, amount in zip(holders, amounts, strict=True)},
        commission_minor=commission_minor,
    )


def fresh_holders(n: int) -> list[Organisation]:
    return [creator_org(f"Holder {i}") for i in range(n)]


def fresh_licensee(name: str = "Northwind AI") -> Organisation:
    return developer_org(name)
