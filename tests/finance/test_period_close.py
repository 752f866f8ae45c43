"""Closing a month: each check can hold it open, a closed month refuses postings with a clear
error, and only an owner reopens it, with a reason kept in its history."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.exceptions import PermissionDenied

from accounts.models import Membership, Organisation
from finance.period_close import (
    PeriodCloseError,
    period_close_checks,
    period_close_with_checks,
    period_reopen_for,
)
from finance.reconciliation import reconciliation_run_for_period
from finance.selectors import period_history
from ledger.models import AccountCode, EntryKind
from ledger.services import (
    ClosedPeriodError,
    LedgerError,
    LegSpec,
    accounting_period_for,
    journal_post,
    ledger_account_for,
)
from settlement.models import SettlementRun
from tests.factories import MembershipFactory

pytestmark = [pytest.mark.django_db, pytest.mark.dates]

MARCH = dt.date(2026, 3, 15)


@pytest.fixture
def platform(tenant_factory):
    return tenant_factory(Organisation.Kind.PLATFORM, "TrainRight")


@pytest.fixture
def finance_user(platform):
    return MembershipFactory(organisation=platform.organisation, role=Membership.Role.FINANCE).user


def _fund(day, key):
    return journal_post(
        kind=EntryKind.ADJUSTMENT,
        currency="USD",
        effective_date=day,
        legs=[
            LegSpec(ledger_account_for(code=AccountCode.PLATFORM_CASH, currency="USD"), 500),
            LegSpec(ledger_account_for(code=AccountCode.PLATFORM_EQUITY, currency="USD"), -500),
        ],
        memo="operator funding",
        reference=key,
        idempotency_key=key,
    )


def _checks(period):
    return {
        check.name: (check.passed, check.detail) for check in period_close_checks(period=period)
    }


def test_each_check_holds_the_month_open_until_it_passes(emulated_stripe, finance_user):
    _fund(MARCH, "funding:march")
    period = accounting_period_for(day=MARCH)
    run = SettlementRun.objects.create(
        period_start=dt.date(2026, 3, 1),
        period_end=dt.date(2026, 4, 1),
        posting_date=dt.date(2026, 3, 31),
    )
    checks = _checks(period)
    assert checks["Settlement runs complete"] == (
        False,
        f"1 run(s) not completed: #{run.pk} created",
    )
    assert checks["Reconciliation clean"][0] is False
    assert checks["Trial balance is zero"] == (True, "Zero in every currency (USD).")
    with pytest.raises(PeriodCloseError, match="Settlement runs complete"):
        period_close_with_checks(period=period, actor=finance_user)

    SettlementRun.objects.filter(pk=run.pk).update(status=SettlementRun.Status.COMPLETED)
    reconciliation_run_for_period(period=period, actor=finance_user)
    # Operator funding moves no money at Stripe and carries no Stripe id: nothing to match.
    assert all(passed for passed, _ in _checks(period).values())
    assert period_close_with_checks(period=period, actor=finance_user).status == "closed"


def test_a_closed_month_refuses_postings_and_only_an_owner_reopens_it(
    emulated_stripe, platform, finance_user
):
    period = accounting_period_for(day=MARCH)
    reconciliation_run_for_period(period=period, actor=finance_user)
    period_close_with_checks(period=period, actor=finance_user)

    with pytest.raises(ClosedPeriodError) as refused:
        _fund(MARCH, "funding:late")
    assert "Accounting period 2026-03 is closed" in str(refused.value)
    assert _fund(dt.date(2026, 4, 1), "funding:april").effective_date.month == 4

    with pytest.raises(PermissionDenied):
        period_reopen_for(period=period, actor=finance_user, reason="Late invoice")
    with pytest.raises(LedgerError, match="reason"):
        period_reopen_for(period=period, actor=platform.owner, reason="  ")
    reopened = period_reopen_for(period=period, actor=platform.owner, reason="Late invoice")
    assert reopened.status == "open" and reopened.reopened_by == platform.owner
    assert _fund(MARCH, "funding:late").effective_date == MARCH

    history = period_history(period=period)
    assert [event.status for event in history][-2:] == ["closed", "open"]
    assert history[-1].pgh_context.metadata["reason"] == "Late invoice"
    assert history[-1].pgh_context.metadata["actor_id"] == platform.owner.pk


def test_the_period_page_shows_the_failing_checks_when_closing(finance_user, client):
    _fund(MARCH, "funding:page")
    client.force_login(finance_user)
    page = client.post("/finance/periods/2026-03/close/", follow=True).content.decode()
    assert "2026-03 cannot close yet" in page
    assert "No completed reconciliation run covers 2026-03" in page
    assert accounting_period_for(day=MARCH).status == "open"
