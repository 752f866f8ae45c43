"""An agreement's upfront fee: posted to the ledger and allocated to the rights holders when the
agreement becomes active with the fee paid (``payouts.receivers``).

The fee is split like usage royalties (``settlement_rules.allocate_fee``): the platform's
commission first, then the licensed works share the rest equally (the worked example's $1,200
catalogue fee is $600 a work; a per-work fee is the same fee for every work), then each work's
holders by the split snapshot, with remainders carried per (agreement, work, holder). The lines
wait (``run`` empty) for the next settlement run, whose statements include them.

The licensee paid the fee through Stripe Checkout before the agreement became active, so
``upfront_fee_collect`` then posts that payment like any collection (``payouts.collections``):
cash at Stripe less Stripe's fee, the fee as the platform's expense, the receivable cleared, and
each holder's share of the fee moved from pending to payable (pay when paid) with the fee lines'
collection date stamped; the holders' payouts follow. ``upfront_fees_catch_up`` (beat) posts and
collects any paid fee a lost signal or failed task left behind.

When the terms make the fee a recoupable advance the entry is an ``advance`` with the memo pair
on the licensee's unrecouped-advance sub-ledger, and ``AgreementPosition`` records the amount to
recoup: later usage royalties are offset against it before the licensee is billed.
"""

from __future__ import annotations

import datetime as dt

import structlog
from django.db import connection, transaction
from django.db.models import Sum

from core import clock
from core.errors import DomainError
from core.tasks import task_queue
from ledger.models import AccountCode, EntryKind, JournalEntry, JournalLeg
from ledger.services import LegSpec, journal_post, ledger_account_for
from marketplace.models import Agreement, CheckoutAttempt
from marketplace.selectors import agreement_fee_payment
from payments.charges import stripe_payment_sync
from payouts.collections import payment_received_legs
from settlement.models import AgreementPosition, StatementLine
from settlement.rules import LineKind, allocate_fee
from settlement.services import (
    LINE_COLUMNS,
    TABLES,
    carries_for_agreements,
    carry_write,
    copy_rows,
    splits_for_agreements,
)

logger = structlog.get_logger(__name__)


class UpfrontFeeError(DomainError):
    """The fee's payment cannot be posted (yet): not posted as earned, or amounts disagree."""

    code = "upfront_fee_error"


def upfront_fee_post(
    *,
    agreement_id: int,
    amount_minor: int,
    currency: str,
    recoupable: bool,
    paid_on: dt.date,
) -> AgreementPosition:
    """Post and allocate the fee once per agreement; a second call returns the first result."""
    with transaction.atomic():
        agreement = Agreement.objects.select_related("licensee").get(pk=agreement_id)
        currency = currency.upper()
        AgreementPosition.objects.get_or_create(
            agreement=agreement, defaults={"currency": currency}
        )
        position = AgreementPosition.objects.select_for_update().get(agreement=agreement)
        if position.fee_entry_id is not None or amount_minor <= 0:
            return position
        kind = LineKind.ADVANCE if recoupable else LineKind.UPFRONT_FEE
        carries = carries_for_agreements([agreement_id]).get(agreement_id, {})
        commission, lines, new_carries = allocate_fee(
            kind=kind,
            amount_minor=amount_minor,
            commission_bp=agreement.commission_bp,
            splits=splits_for_agreements([agreement_id]).get(agreement_id, {}),
            carries=carries,
        )
        with connection.cursor() as cursor:
            copy_rows(
                cursor,
                TABLES["StatementLine"],
                LINE_COLUMNS,
                (
                    (
                        None,
                        agreement_id,
                        line.work_id,
                        line.holder_id,
                        currency,
                        line.kind,
                        None,
                        None,
                        line.share_bp,
                        line.gross_exact,
                        line.commission_exact,
                        line.amount_minor,
                        line.entitled_after,
                        line.allocated_after,
                        paid_on,
                    )
                    for line in lines
                ),
            )
            carry_write(
                cursor,
                [
                    (agreement_id, work, holder, carry.entitled_exact, carry.allocated_minor)
                    for (work, holder), carry in new_carries.items()
                    if carries.get((work, holder)) != carry
                ],
            )
        entry = journal_post(
            kind=EntryKind.ADVANCE if recoupable else EntryKind.UPFRONT_FEE,
            currency=currency,
            effective_date=paid_on,
            legs=_fee_legs(agreement, currency, amount_minor, commission, lines, recoupable),
            memo=f"Upfront fee of agreement {agreement_id}"
            + (" (recoupable advance)" if recoupable else ""),
            reference=f"agreement:{agreement_id}",
            idempotency_key=f"{kind}:agreement:{agreement_id}",
            late_if_closed=True,
        )
        position.currency = currency
        position.fee_minor = amount_minor
        position.recoupable = recoupable
        position.fee_paid_on = paid_on
        position.unrecouped_advance_minor = amount_minor if recoupable else 0
        position.fee_entry = entry
        position.save()
    return position


def _fee_legs(
    agreement: Agreement,
    currency: str,
    amount_minor: int,
    commission: int,
    lines: list,
    recoupable: bool,
) -> list[LegSpec]:
    licensee = agreement.licensee
    legs = [
        LegSpec(
            ledger_account_for(
                code=AccountCode.LICENSEE_RECEIVABLE, currency=currency, organisation=licensee
            ),
            amount_minor,
            "upfront fee",
        ),
        LegSpec(
            ledger_account_for(code=AccountCode.PLATFORM_COMMISSION, currency=currency),
            -commission,
            "commission",
        ),
    ]
    holders = {
        holder.pk: holder
        for holder in type(licensee).objects.filter(pk__in={line.holder_id for line in lines})
    }
    legs += [
        LegSpec(
            ledger_account_for(
                code=AccountCode.HOLDER_PENDING,
                currency=currency,
                organisation=holders[line.holder_id],
            ),
            -line.amount_minor,
            f"work:{line.work_id}",
        )
        for line in lines
        if line.amount_minor
    ]
    if recoupable:
        legs += [
            LegSpec(
                ledger_account_for(
                    code=AccountCode.ADVANCE_UNRECOUPED,
                    currency=currency,
                    organisation=licensee,
                    subledger_key=f"agreement:{agreement.pk}",
                ),
                amount_minor,
                "advance to recoup",
            ),
            LegSpec(
                ledger_account_for(code=AccountCode.ADVANCE_UNRECOUPED_CONTRA, currency=currency),
                -amount_minor,
                "advance to recoup",
            ),
        ]
    return [leg for leg in legs if leg.amount_minor]


# --- The licensee's payment of the fee ------------------------------------------------------------


def _collection_key(charge_id: str) -> str:
    return f"stripe:{charge_id}"


def upfront_fee_collect(*, agreement_id: int, charge_id: str) -> JournalEntry | None:
    """Stripe says the licensee paid the fee (``charge_id``): post the payment, move every
    holder's share of the fee from pending to payable, stamp the fee lines' collection date and
    queue the holders' payouts. None while the charge has not succeeded. Idempotent per charge;
    raises ``UpfrontFeeError`` if the fee has not been posted yet (the caller retries)."""
    existing = JournalEntry.objects.filter(idempotency_key=_collection_key(charge_id)).first()
    if existing is not None:
        return existing
    payment = stripe_payment_sync(charge_id=charge_id)
    if payment.status != "succeeded":
        return None
    with transaction.atomic():
        position = (
            AgreementPosition.objects.select_for_update()
            .select_related("agreement__licensee")
            .filter(agreement_id=agreement_id, fee_entry__isnull=False)
            .first()
        )
        if position is None:
            raise UpfrontFeeError(f"Agreement {agreement_id}'s fee is not posted yet.")
        if (payment.amount_minor, payment.currency) != (position.fee_minor, position.currency):
            raise UpfrontFeeError(
                f"Charge {charge_id} is {payment.amount_minor} {payment.currency}; agreement "
                f"{agreement_id}'s fee is {position.fee_minor} {position.currency}."
            )
        shares = _holder_shares(position.fee_entry_id or 0)
        legs = payment_received_legs(
            licensee=position.agreement.licensee,
            currency=position.currency,
            gross_minor=payment.amount_minor,
            fee_minor=payment.fee_minor,
            shares=shares,
        )
        today = payment.stripe_created.date() if payment.stripe_created else None
        entry = journal_post(
            kind=EntryKind.COLLECTION,
            currency=position.currency,
            effective_date=today or position.fee_paid_on or clock.today(),
            legs=legs,
            memo=f"Upfront fee of agreement {agreement_id} paid by "
            f"{position.agreement.licensee.name}",
            reference=f"agreement:{agreement_id}",
            idempotency_key=_collection_key(charge_id),
            stripe_object_id=charge_id,
            late_if_closed=True,
        )
        StatementLine.objects.filter(
            agreement_id=agreement_id, kind__in=FEE_LINE_KINDS, collected_on__isnull=True
        ).update(collected_on=entry.effective_date)
        holder_ids = sorted(shares)
        transaction.on_commit(lambda: _queue_payouts(holder_ids))
    logger.info("upfront_fee_collected", agreement_id=agreement_id, charge_id=charge_id)
    return entry


FEE_LINE_KINDS = (LineKind.UPFRONT_FEE, LineKind.ADVANCE)


def _holder_shares(fee_entry_id: int) -> dict[int, int]:
    """Each holder's part of the fee (minor units, > 0): the fee entry's holder_pending legs."""
    rows = (
        JournalLeg.objects.filter(entry_id=fee_entry_id, account__code=AccountCode.HOLDER_PENDING)
        .values("account__organisation_id")
        .annotate(total=Sum("amount_minor"))
    )
    return {row["account__organisation_id"]: -int(row["total"]) for row in rows if row["total"]}


def _queue_payouts(holder_ids: list[int]) -> None:
    task_queue("payouts.tasks.payouts_schedule_payable_task", holder_ids)


def upfront_fee_settle_paid(*, agreement_id: int) -> JournalEntry | None:
    """Post (if a lost signal left it unposted) and collect the fee an active agreement's
    licensee paid at checkout. None when no fee was paid."""
    payment = agreement_fee_payment(agreement_id=agreement_id)
    if payment is None or payment.amount_minor <= 0:
        return None
    upfront_fee_post(
        agreement_id=agreement_id,
        amount_minor=payment.amount_minor,
        currency=payment.currency,
        recoupable=payment.recoupable_advance,
        paid_on=clock.today(),
    )
    return upfront_fee_collect(agreement_id=agreement_id, charge_id=payment.stripe_charge_id)


def upfront_fees_uncollected() -> list[int]:
    """Agreements whose fee was paid at checkout but whose payment is not in the ledger yet."""
    collected = JournalEntry.objects.filter(kind=EntryKind.COLLECTION).values("stripe_object_id")
    return list(
        CheckoutAttempt.objects.filter(
            status=CheckoutAttempt.Status.PAID,
            agreement__status__in=[Agreement.Status.ACTIVE, Agreement.Status.EXPIRED],
        )
        .exclude(charge_id="")
        .exclude(charge_id__in=collected)
        .values_list("agreement_id", flat=True)
        .distinct()
    )
