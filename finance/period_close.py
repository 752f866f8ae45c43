"""Closing an accounting period: the checks, and closing or reopening through the ledger.

A finance user closes a period when (``period_close_checks``, in this order)
- the period has ended on the platform's clock (``core.clock``, UTC): January closes on
  1 February at the earliest, never on 2 January;
- every settlement run of the period is completed (a month with no run passes, saying so);
- no money is still in flight for it, that is (``finance.selectors``)
  - no collection payment is under way at Stripe (an off-session charge sent, its answer
    not yet in): an invoice merely unpaid does not hold the month, since it stays a
    receivable and its payment, whenever it comes, is posted as a late receipt;
  - no payout created by the end of the period is still scheduled or sent (its transfer
    not yet confirmed);
  - no refund asked for in the period is still pending at Stripe;
  - no Stripe event created in the period is unprocessed (received and waiting for its task,
    or failed and waiting for a retry): its handler is what posts the money;
- a completed reconciliation run covers the whole month and no exception dated in it is
  unresolved (a failed posting is such an exception: ``posting_failed``);
- the trial balance as at the month's last day sums to zero in every currency.

Closing calls ``ledger.services.period_close`` (postings dated into the month are then
rejected by the database; money that arrives for it later is posted as a late receipt in the
open period, ``journal_post(late_if_closed=True)``); reopening ``period_reopen`` (owners only,
with a reason; audited).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from accounts.models import User
from accounts.selectors import platform_finance_require
from core import clock
from finance.selectors import (
    collections_in_flight,
    completed_run_covering,
    payouts_in_flight,
    period_window,
    refunds_in_flight,
    settlement_runs_for_period,
    stripe_events_unprocessed,
    unresolved_exceptions_for_period,
)
from ledger.models import AccountingPeriod
from ledger.selectors import trial_balance
from ledger.services import LedgerError, period_close, period_reopen


class PeriodCloseError(LedgerError):
    error_code = "period_close_checks"


@dataclass(frozen=True)
class CloseCheck:
    name: str
    passed: bool
    detail: str


LISTED = 5
"""How many in-flight items a failing check names."""


def _ended_check(period: AccountingPeriod) -> CloseCheck:
    name = "Period has ended"
    _, end = period_window(period)
    last_day = (end - dt.timedelta(days=1)).date()
    today = clock.today()
    if today < end.date():
        return CloseCheck(
            name, False, f"{period.label} ends on {last_day} (UTC); today is {today}."
        )
    return CloseCheck(name, True, f"{period.label} ended on {last_day} (UTC).")


def _named(items: list[str], total: int) -> str:
    more = f" and {total - len(items)} more" if total > len(items) else ""
    return ", ".join(items) + more


def _collections_check(period: AccountingPeriod) -> CloseCheck:
    name = "Collection payments confirmed"
    under_way = collections_in_flight(period=period)
    total = under_way.count()
    if total:
        listed = [f"#{c.pk} {c.payment_intent_id}" for c in under_way[:LISTED]]
        return CloseCheck(
            name,
            False,
            f"{total} collection payment(s) under way at Stripe: {_named(listed, total)}.",
        )
    return CloseCheck(name, True, "No collection payment is waiting for Stripe's answer.")


def _payouts_check(period: AccountingPeriod) -> CloseCheck:
    name = "Payouts settled"
    open_payouts = payouts_in_flight(period=period)
    total = open_payouts.count()
    if total:
        listed = [f"#{p.pk} {p.status}" for p in open_payouts[:LISTED]]
        return CloseCheck(
            name,
            False,
            f"{total} payout(s) created by the end of {period.label} still scheduled or "
            f"sent: {_named(listed, total)}.",
        )
    return CloseCheck(
        name, True, f"No payout created by the end of {period.label} is scheduled or sent."
    )


def _refunds_check(period: AccountingPeriod) -> CloseCheck:
    name = "Refunds settled"
    pending = refunds_in_flight(period=period)
    total = pending.count()
    if total:
        listed = [r.stripe_refund_id for r in pending[:LISTED]]
        return CloseCheck(
            name,
            False,
            f"{total} refund(s) of {period.label} still pending at Stripe: "
            f"{_named(listed, total)}.",
        )
    return CloseCheck(name, True, f"No refund of {period.label} is pending at Stripe.")


def _events_check(period: AccountingPeriod) -> CloseCheck:
    name = "Stripe events processed"
    waiting = stripe_events_unprocessed(period=period)
    total = waiting.count()
    if total:
        listed = [f"{e.stripe_event_id} ({e.type}, {e.status})" for e in waiting[:LISTED]]
        return CloseCheck(
            name,
            False,
            f"{total} Stripe event(s) of {period.label} not processed: {_named(listed, total)}.",
        )
    return CloseCheck(name, True, f"Every Stripe event of {period.label} is processed.")


def _settlement_check(period: AccountingPeriod) -> CloseCheck:
    runs = list(settlement_runs_for_period(period=period))
    if not runs:
        return CloseCheck(
            "Settlement runs complete", True, f"No settlement run for {period.label}."
        )
    unfinished = [run for run in runs if run.status != "completed"]
    if unfinished:
        return CloseCheck(
            "Settlement runs complete",
            False,
            f"{len(unfinished)} run(s) not completed: "
            + ", ".join(f"#{run.pk} {run.status}" for run in unfinished),
        )
    return CloseCheck("Settlement runs complete", True, f"{len(runs)} run(s) completed.")


def _reconciliation_check(period: AccountingPeriod) -> CloseCheck:
    name = "Reconciliation clean"
    run = completed_run_covering(period=period)
    unresolved = unresolved_exceptions_for_period(period=period).count()
    if run is None:
        also = f" {unresolved} unresolved exception(s) in {period.label}." if unresolved else ""
        return CloseCheck(
            name, False, f"No completed reconciliation run covers {period.label}.{also}"
        )
    if unresolved:
        return CloseCheck(name, False, f"{unresolved} unresolved exception(s) in {period.label}.")
    return CloseCheck(name, True, f"Run #{run.pk} covers the period; no unresolved exceptions.")


def _trial_balance_check(period: AccountingPeriod) -> CloseCheck:
    balance = trial_balance(period=period)
    off = {currency: total for currency, total in balance.totals_by_currency.items() if total}
    if off:
        return CloseCheck(
            "Trial balance is zero",
            False,
            "Off by " + ", ".join(f"{total} {currency}" for currency, total in sorted(off.items())),
        )
    currencies = ", ".join(sorted(balance.totals_by_currency)) or "no postings"
    return CloseCheck("Trial balance is zero", True, f"Zero in every currency ({currencies}).")


def period_close_checks(*, period: AccountingPeriod) -> list[CloseCheck]:
    return [
        _ended_check(period),
        _settlement_check(period),
        _collections_check(period),
        _payouts_check(period),
        _refunds_check(period),
        _events_check(period),
        _reconciliation_check(period),
        _trial_balance_check(period),
    ]


def period_close_with_checks(*, period: AccountingPeriod, actor: User) -> AccountingPeriod:
    """Close the period if every check passes; otherwise say which fail."""
    platform_finance_require(user=actor)
    failing = [check for check in period_close_checks(period=period) if not check.passed]
    if failing:
        raise PeriodCloseError(
            f"{period.label} cannot close yet: "
            + "; ".join(f"{check.name}: {check.detail}" for check in failing)
        )
    return period_close(period=period, actor=actor)


def period_reopen_for(*, period: AccountingPeriod, actor: User, reason: str) -> AccountingPeriod:
    return period_reopen(period=period, actor=actor, reason=reason)


def period_for_label(*, label: str) -> AccountingPeriod:
    """The period "YYYY-MM" (created open if new)."""
    try:
        year, month = (int(part) for part in label.split("-", 1))
        day = dt.date(year, month, 1)
    except ValueError as error:
        raise LedgerError(f"{label!r} is not a period (YYYY-MM).") from error
    period, _ = AccountingPeriod.objects.get_or_create(year=day.year, month=day.month)
    return period
