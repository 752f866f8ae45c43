"""Reads of ledger (no writes)."""

from __future__ import annotations

import calendar
import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field

from django.db.models import Q, QuerySet, Sum

from accounts.models import Organisation
from ledger.models import (
    AccountCode,
    AccountingPeriod,
    EntryKind,
    JournalEntry,
    JournalLeg,
    LedgerAccount,
)


def account_balance(*, account: LedgerAccount, as_of: dt.date | None = None) -> int:
    """The sum of the account's legs (debit positive) dated on or before ``as_of``."""
    legs = JournalLeg.objects.filter(account=account)
    if as_of is not None:
        legs = legs.filter(entry__effective_date__lte=as_of)
    return _sum_minor(legs)


def balances_by_code(
    *,
    code: str,
    currency: str,
    organisation_ids: Iterable[int] | None = None,
    as_of: dt.date | None = None,
) -> dict[int | None, int]:
    """Organisation id (None for the platform's accounts) → balance of its ``code`` accounts
    (all sub-ledgers; debit positive). Organisations without legs are absent (zero)."""
    legs = JournalLeg.objects.filter(account__code=code, account__currency=currency)
    if organisation_ids is not None:
        legs = legs.filter(account__organisation_id__in=list(organisation_ids))
    if as_of is not None:
        legs = legs.filter(entry__effective_date__lte=as_of)
    rows = legs.values("account__organisation_id").annotate(total=Sum("amount_minor")).order_by()
    return {row["account__organisation_id"]: int(row["total"]) for row in rows}


@dataclass(frozen=True, slots=True)
class HolderBalances:
    """What the platform owes one rights holder in one currency, in minor units, each in its
    natural direction (positive is the usual case)."""

    pending_minor: int
    """Earned, not yet collected from the licensee."""
    payable_minor: int
    """Collected, not yet paid out."""
    recoverable_minor: int
    """Owed by the holder after a clawback, recovered from future earnings."""
    paid_minor: int
    """Paid out, net of payout reversals."""


def holder_balances(*, organisation: Organisation, currency: str) -> HolderBalances:
    payout_kinds = [EntryKind.PAYOUT, EntryKind.PAYOUT_REVERSAL]
    on_payable = Q(account__code=AccountCode.HOLDER_PAYABLE)
    totals = JournalLeg.objects.filter(
        account__organisation=organisation, account__currency=currency
    ).aggregate(
        pending=Sum("amount_minor", filter=Q(account__code=AccountCode.HOLDER_PENDING)),
        payable=Sum("amount_minor", filter=on_payable),
        recoverable=Sum("amount_minor", filter=Q(account__code=AccountCode.HOLDER_RECOVERABLE)),
        paid=Sum(
            "amount_minor",
            filter=on_payable
            & (Q(entry__kind__in=payout_kinds) | Q(entry__reverses__kind__in=payout_kinds)),
        ),
    )
    return HolderBalances(
        pending_minor=-int(totals["pending"] or 0),
        payable_minor=-int(totals["payable"] or 0),
        recoverable_minor=int(totals["recoverable"] or 0),
        paid_minor=int(totals["paid"] or 0),
    )


@dataclass(frozen=True, slots=True)
class TrialBalanceRow:
    account_id: int
    code: str
    kind: str
    organisation_id: int | None
    currency: str
    subledger_key: str
    balance_minor: int
    """Sum of the account's legs, debit positive."""


@dataclass(frozen=True, slots=True)
class TrialBalance:
    rows: list[TrialBalanceRow]
    totals_by_currency: dict[str, int] = field(default_factory=dict)
    """Sum of every balance per currency: zero in a sound ledger."""

    @property
    def is_balanced(self) -> bool:
        return all(total == 0 for total in self.totals_by_currency.values())


def trial_balance(
    *, currency: str | None = None, period: AccountingPeriod | None = None
) -> TrialBalance:
    """Every account's balance (optionally of one currency; with ``period``, as at the period's
    last day), and the total per currency."""
    legs = JournalLeg.objects.all()
    if currency is not None:
        legs = legs.filter(currency=currency)
    if period is not None:
        last_day = calendar.monthrange(period.year, period.month)[1]
        legs = legs.filter(entry__effective_date__lte=dt.date(period.year, period.month, last_day))
    grouped = (
        legs.values(
            "account_id",
            "account__code",
            "account__kind",
            "account__organisation_id",
            "account__currency",
            "account__subledger_key",
        )
        .annotate(total=Sum("amount_minor"))
        .order_by("account__currency", "account__code", "account__organisation_id", "account_id")
    )
    rows = [
        TrialBalanceRow(
            account_id=row["account_id"],
            code=row["account__code"],
            kind=row["account__kind"],
            organisation_id=row["account__organisation_id"],
            currency=row["account__currency"],
            subledger_key=row["account__subledger_key"],
            balance_minor=int(row["total"]),
        )
        for row in grouped
    ]
    totals: dict[str, int] = {}
    for row in rows:
        totals[row.currency] = totals.get(row.currency, 0) + row.balance_minor
    return TrialBalance(rows=rows, totals_by_currency=totals)


def entries_for_reference(*, reference: str) -> QuerySet[JournalEntry]:
    """Every entry posted for a business object, oldest first, legs prefetched."""
    return (
        JournalEntry.objects.filter(reference=reference)
        .prefetch_related("legs__account")
        .order_by("effective_date", "id")
    )


def entries_for_stripe_object(*, stripe_object_id: str) -> QuerySet[JournalEntry]:
    """Every entry mirroring one Stripe object (reconciliation), oldest first."""
    return (
        JournalEntry.objects.filter(stripe_object_id=stripe_object_id)
        .prefetch_related("legs__account")
        .order_by("posted_at", "id")
    )


def _sum_minor(legs: QuerySet[JournalLeg]) -> int:
    return int(legs.aggregate(total=Sum("amount_minor"))["total"] or 0)
