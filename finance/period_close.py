"""Closing an accounting period: the checks, and closing or reopening through the ledger.

A finance user closes a period when
- every settlement run of the period is completed (a month with no run passes, saying so);
- a completed reconciliation run covers the whole month and no exception dated in it is
  unresolved;
- the trial balance as at the month's last day sums to zero in every currency.

Closing calls ``ledger.services.period_close`` (postings dated into the month are then
rejected by the database); reopening ``period_reopen`` (owners only, with a reason; audited).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.apps import apps

from accounts.models import User
from accounts.selectors import platform_finance_require
from finance.selectors import completed_run_covering, unresolved_exceptions_for_period
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


def _settlement_check(period: AccountingPeriod) -> CloseCheck:
    # Looked up by name: settlement is another capability's model and may not be installed yet.
    try:
        runs_model = apps.get_model("settlement", "SettlementRun")
    except LookupError:
        return CloseCheck("Settlement runs complete", True, "Settlement is not installed.")
    start = dt.date(period.year, period.month, 1)
    runs = list(runs_model.objects.filter(period_start=start))
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
    if run is None:
        return CloseCheck(name, False, f"No completed reconciliation run covers {period.label}.")
    unresolved = unresolved_exceptions_for_period(period=period).count()
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
        _settlement_check(period),
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
