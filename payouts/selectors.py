"""Reads of payouts (no writes)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.apps import apps
from django.db.models import QuerySet, Sum

from accounts.models import Organisation, User
from accounts.tenancy import Principal
from ledger.models import AccountCode, JournalLeg, LedgerAccount
from ledger.selectors import holder_balances
from payments.connect import connected_account_for
from payments.models import StripeConnectedAccount
from payouts.models import Collection, Payout, PayoutThreshold
from settlement.models import SettlementAgreement


@dataclass(frozen=True, slots=True)
class PayoutPosition:
    """One holder's position in one currency, for pages and the API (minor units)."""

    currency: str
    pending_minor: int
    payable_minor: int
    """Payable in the ledger, less what is owed back (recoverable) and what is already
    reserved by an open payout: what the next payout can pay."""
    reserved_minor: int
    recoverable_minor: int
    paid_minor: int
    threshold_minor: int
    minimum_minor: int
    can_pay_now: bool
    blocked_reason: str
    """Why the payable balance is not being paid: onboarding, threshold, minimum."""


STRIPE_MINIMUM_MINOR: dict[str, int] = {
    "USD": 50,
    "EUR": 50,
    "GBP": 30,
    "CAD": 50,
    "AUD": 50,
    "CHF": 50,
    "JPY": 50,
    "SEK": 300,
    "NOK": 300,
    "DKK": 250,
}
"""Stripe's minimum charge amount per currency (minor units): the least we pay out at once."""


def payout_threshold_for(*, holder: Organisation, currency: str) -> int:
    row = PayoutThreshold.objects.filter(holder=holder, currency=currency).first()
    return row.minimum_minor if row else 0


def holder_reserved_minor(holder_id: int, currency: str) -> int:
    total = Payout.objects.filter(
        holder_id=holder_id, currency=currency, status__in=Payout.OPEN_STATUSES
    ).aggregate(total=Sum("amount_minor"))["total"]
    return int(total or 0)


def transfer_blocker_for(account: StripeConnectedAccount | None) -> str:
    if account is None:
        return "Set up payouts with Stripe to be paid."
    if not account.can_receive_transfers:
        return "Finish onboarding with Stripe to be paid."
    return ""


def payout_position(*, holder: Organisation, currency: str) -> PayoutPosition:
    balances = holder_balances(organisation=holder, currency=currency)
    reserved = holder_reserved_minor(holder.pk, currency)
    available = balances.payable_minor - balances.recoverable_minor - reserved
    threshold = payout_threshold_for(holder=holder, currency=currency)
    minimum = stripe_minimum_minor(currency)
    reason = transfer_blocker_for(connected_account_for(organisation=holder))
    if not reason and reserved:
        reason = "A payout is on its way."
    if not reason and available <= 0:
        reason = "Nothing payable yet."
    if not reason and available < minimum:
        reason = f"Below Stripe's minimum payout ({minimum} minor units): carried forward."
    can_pay_now = not reason
    if not reason and available < threshold:
        reason = (
            f"Below your payout threshold ({threshold} minor units): carried forward to the "
            "next payout."
        )
    return PayoutPosition(
        currency=currency,
        pending_minor=balances.pending_minor,
        payable_minor=available,
        reserved_minor=reserved,
        recoverable_minor=balances.recoverable_minor,
        paid_minor=balances.paid_minor,
        threshold_minor=threshold,
        minimum_minor=minimum,
        can_pay_now=can_pay_now,
        blocked_reason=reason,
    )


def payout_positions_for(*, holder: Organisation) -> list[PayoutPosition]:
    """The holder's position in every currency it has earned in, holds payouts in or has set a
    threshold for (sorted by currency)."""
    currencies = set(
        LedgerAccount.objects.filter(
            organisation=holder,
            code__in=[
                AccountCode.HOLDER_PENDING,
                AccountCode.HOLDER_PAYABLE,
                AccountCode.HOLDER_RECOVERABLE,
            ],
        ).values_list("currency", flat=True)
    )
    currencies |= set(
        PayoutThreshold.objects.filter(holder=holder).values_list("currency", flat=True)
    )
    currencies |= set(Payout.objects.filter(holder=holder).values_list("currency", flat=True))
    return [payout_position(holder=holder, currency=currency) for currency in sorted(currencies)]


AUDITED_ACTIONS = {
    "payout_pay_now": "Pay now requested",
    "payout_retry": "Retried",
    "payout_hold": "Held",
    "payout_release": "Released",
    "payout_threshold_set": "Threshold set",
}


@dataclass(frozen=True)
class PayoutAuditEntry:
    """Who did what to a payout, and when (from the payout's pghistory events)."""

    action: str
    label: str
    actor_id: int | None
    actor_email: str
    at: dt.datetime


def payout_audit_trails(*, payout_ids: list[int]) -> dict[int, list[PayoutAuditEntry]]:
    """Each payout's audited actions, oldest first (one query for the events, one for people)."""
    events = list(
        apps.get_model("payouts", "PayoutEvent")
        .objects.filter(pgh_obj_id__in=payout_ids, pgh_context__metadata__has_key="action")
        .select_related("pgh_context")
        .order_by("pgh_created_at", "pgh_id")
    )
    actor_ids = {e.pgh_context.metadata.get("actor_id") for e in events} - {None}
    emails = dict(User.objects.filter(pk__in=actor_ids).values_list("pk", "email"))
    trails: dict[int, list[PayoutAuditEntry]] = {pk: [] for pk in payout_ids}
    seen: set[tuple[int, object, str]] = set()
    for event in events:
        meta = event.pgh_context.metadata
        action = str(meta.get("action"))
        key = (event.pgh_obj_id, event.pgh_context_id, action)
        if action not in AUDITED_ACTIONS or key in seen:
            continue  # one action may write several events (e.g. insert, then update)
        seen.add(key)
        actor_id = meta.get("actor_id")
        trails[event.pgh_obj_id].append(
            PayoutAuditEntry(
                action=action,
                label=AUDITED_ACTIONS[action],
                actor_id=actor_id,
                actor_email=emails.get(actor_id, "an API key" if meta.get("api_key") else ""),
                at=event.pgh_created_at,
            )
        )
    return trails


def payouts_visible_to(*, principal: Principal) -> QuerySet[Payout]:
    return Payout.objects.visible_to(principal).select_related("holder")


def payouts_for_finance(*, status: str | None = None) -> QuerySet[Payout]:
    rows = Payout.objects.select_related("holder")
    return rows.filter(status=status) if status else rows


def collections_visible_to(*, principal: Principal) -> QuerySet[Collection]:
    return (
        Collection.objects.visible_to(principal)
        .select_related("licensee", "run")
        .prefetch_related("duplicate_payments")
    )


def collections_for_finance(*, status: str | None = None) -> QuerySet[Collection]:
    rows = Collection.objects.select_related("licensee", "run").prefetch_related(
        "duplicate_payments"
    )
    return rows.filter(status=status) if status else rows


def collection_settlements(collection: Collection) -> QuerySet[SettlementAgreement]:
    return SettlementAgreement.objects.filter(
        run_id=collection.run_id,
        agreement__licensee_id=collection.licensee_id,
        currency=collection.currency,
        journal_entry__isnull=False,
    )


def collection_holder_shares(*, collection: Collection) -> dict[int, int]:
    """Each holder's share (minor units, positive = owed to the holder) of what the
    collection pays: the holder_pending legs of the settlement entries it pays."""
    entry_ids = collection_settlements(collection).values("journal_entry_id")
    rows = (
        JournalLeg.objects.filter(entry_id__in=entry_ids, account__code=AccountCode.HOLDER_PENDING)
        .values("account__organisation_id")
        .annotate(total=Sum("amount_minor"))
    )
    return {row["account__organisation_id"]: -int(row["total"]) for row in rows if row["total"]}


def stripe_minimum_minor(currency: str) -> int:
    return STRIPE_MINIMUM_MINOR.get(currency.upper(), 50)
