"""Reconciliation against the Stripe emulator: three injected discrepancies are found exactly,
resolved by postings (never edits), and the period then closes and stays locked."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.exceptions import PermissionDenied
from django.utils import timezone
from hypothesis import given
from hypothesis import strategies as st

from accounts.models import Membership, Organisation
from finance.models import (
    ExceptionKind,
    ExceptionStatus,
    ReconciliationException,
    ReconciliationRun,
    StripeBalanceTransaction,
)
from finance.period_close import PeriodCloseError, period_close_checks, period_close_with_checks
from finance.reconciliation import (
    LedgerSide,
    ReconciliationError,
    Resolution,
    StripeSide,
    classify,
    reconciliation_exception_assign,
    reconciliation_exception_comment,
    reconciliation_exception_resolve,
    reconciliation_run_for_period,
    stripe_balance_transactions_import,
)
from finance.selectors import exception_history, period_window
from frontend.demo import seed_reconciliation
from ledger.models import AccountCode, EntryKind, JournalEntry
from ledger.services import (
    ClosedPeriodError,
    LegSpec,
    accounting_period_for,
    journal_post,
    ledger_account_for,
)
from payments import gateway
from tests.factories import MembershipFactory
from tests.gateway.helpers import onboarded_account, paid_charge_id

pytestmark = [pytest.mark.django_db, pytest.mark.dates]

GROSS = 10_000
FEE = 320  # the emulator's 2.9 % + 30


@pytest.fixture
def finance_user(tenant_factory):
    platform = tenant_factory(Organisation.Kind.PLATFORM, "TrainRight").organisation
    return MembershipFactory(organisation=platform, role=Membership.Role.FINANCE).user


def _account(code, organisation=None):
    return ledger_account_for(code=code, currency="USD", organisation=organisation)


def _post(kind, legs, key, stripe_object_id=None, day=None):
    return journal_post(
        kind=kind,
        currency="USD",
        effective_date=day or timezone.now().date(),
        legs=[LegSpec(account=account, amount_minor=amount) for account, amount in legs],
        memo=key,
        reference=key,
        idempotency_key=key,
        stripe_object_id=stripe_object_id,
    )


@pytest.fixture
def scenario(emulated_stripe, tenant_factory):
    """Stripe: a paid charge and a transfer; the ledger: the charge's billing and collection
    (fee off by one), no transfer, and a payout for a transfer Stripe never made."""
    licensee = tenant_factory(Organisation.Kind.AI_DEVELOPER, "Northwind AI").organisation
    holder = tenant_factory(Organisation.Kind.CREATOR, "Ana Rivera").organisation
    account = onboarded_account(emulated_stripe, holder)
    charge_id = paid_charge_id(emulated_stripe, licensee, GROSS, key="recon")
    emulated_stripe.control.make_available()
    transfer = gateway.transfer_create(
        destination_account_id=account.stripe_account_id,
        amount_minor=3_000,
        currency="USD",
        idempotency_key="transfer:unbooked",
    )
    receivable = _account(AccountCode.LICENSEE_RECEIVABLE, licensee)
    _post(
        EntryKind.UPFRONT_FEE,
        [
            (receivable, GROSS),
            (_account(AccountCode.PLATFORM_COMMISSION), -1_000),
            (_account(AccountCode.HOLDER_PENDING, holder), -9_000),
        ],
        "upfront_fee:agreement:1",
    )
    _post(
        EntryKind.COLLECTION,
        [
            (_account(AccountCode.PLATFORM_CASH), GROSS - FEE - 1),
            (_account(AccountCode.STRIPE_FEES), FEE + 1),
            (receivable, -GROSS),
            (_account(AccountCode.HOLDER_PENDING, holder), 9_000),
            (_account(AccountCode.HOLDER_PAYABLE, holder), -9_000),
        ],
        f"stripe:{charge_id}",
        stripe_object_id=charge_id,
    )
    _post(
        EntryKind.PAYOUT,
        [
            (_account(AccountCode.HOLDER_PAYABLE, holder), 2_000),
            (_account(AccountCode.PLATFORM_CASH), -2_000),
        ],
        "payout:999",
        stripe_object_id="tr_neverreachedstripe",
    )
    return {"charge": charge_id, "transfer": transfer.id, "ghost": "tr_neverreachedstripe"}


def test_import_is_idempotent_and_pages_through_everything(scenario):
    first = stripe_balance_transactions_import()
    again = stripe_balance_transactions_import()
    assert first == again == 2
    assert StripeBalanceTransaction.objects.count() == 2
    charge = StripeBalanceTransaction.objects.get(source_id=scenario["charge"])
    assert (charge.amount_minor, charge.fee_minor, charge.net_minor) == (GROSS, FEE, GROSS - FEE)
    assert charge.currency == "USD" and charge.status == "available"


def test_three_discrepancies_are_found_resolved_and_the_period_closes(
    scenario, finance_user, pinned_clock
):
    today = timezone.now().date()
    period = accounting_period_for(day=today)
    run = reconciliation_run_for_period(period=period, actor=finance_user)

    found = {(e.stripe_object_id, e.kind) for e in run.exceptions_found.all()}
    assert found == {
        (scenario["transfer"], ExceptionKind.MISSING_IN_LEDGER),
        (scenario["charge"], ExceptionKind.FEE_MISMATCH),
        (scenario["ghost"], ExceptionKind.MISSING_IN_STRIPE),
    }
    assert (run.status, run.exception_count, run.matched_count) == ("completed", 3, 0)
    assert run.totals["USD"]["stripe_net"] == GROSS - FEE - 3_000
    fee = run.exceptions_found.get(kind=ExceptionKind.FEE_MISMATCH)
    assert (fee.expected_minor, fee.actual_minor) == (FEE + 1, FEE)

    checks = {check.name: check.passed for check in period_close_checks(period=period)}
    assert checks == {
        "Period has ended": False,
        "Settlement runs complete": True,
        "Collection payments confirmed": True,
        "Payouts settled": True,
        "Refunds settled": True,
        "Stripe events processed": True,
        "Reconciliation clean": False,
        "Trial balance is zero": True,
    }
    with pytest.raises(PeriodCloseError, match="3 unresolved exception"):
        period_close_with_checks(period=period, actor=finance_user)

    reconciliation_exception_assign(exception=fee, assignee=finance_user, actor=finance_user)
    reconciliation_exception_comment(exception=fee, body="Fee keyed by hand.", actor=finance_user)
    entries_before = JournalEntry.objects.count()
    resolutions = {
        ExceptionKind.MISSING_IN_LEDGER: Resolution.ADJUST_TO_STRIPE,
        ExceptionKind.FEE_MISMATCH: Resolution.ADJUST_TO_STRIPE,
        ExceptionKind.MISSING_IN_STRIPE: Resolution.REVERSE_LEDGER,
    }
    for exception in run.exceptions_found.all():
        resolved = reconciliation_exception_resolve(
            exception=exception,
            resolution=resolutions[exception.kind],
            reason=f"Resolved {exception.kind} in the test.",
            actor=finance_user,
        )
        assert resolved.status == ExceptionStatus.RESOLVED
        assert resolved.adjusting_entry.stripe_object_id == exception.stripe_object_id
    assert JournalEntry.objects.count() == entries_before + 3  # postings, never edits

    history = exception_history(exception=fee)
    assert [event.status for event in history] == ["open", "assigned", "resolved"]
    assert history[-1].pgh_context.metadata["actor_id"] == finance_user.pk
    assert fee.comments.get().author == finance_user

    clean = reconciliation_run_for_period(period=period, actor=finance_user)
    assert (clean.exception_count, clean.matched_count) == (0, 2)
    assert clean.totals["USD"]["matched_net"] == GROSS - FEE - 3_000
    # The month closes once it has ended.
    _, end = period_window(period)
    pinned_clock.move_to(end)
    assert all(check.passed for check in period_close_checks(period=period))
    closed = period_close_with_checks(period=period, actor=finance_user)
    assert closed.status == "closed"

    with pytest.raises(ClosedPeriodError, match=f"{period.label} is closed"):
        _post(
            EntryKind.ADJUSTMENT,
            [(_account(AccountCode.PLATFORM_CASH), 1), (_account(AccountCode.PLATFORM_EQUITY), -1)],
            "late-posting",
            day=today,
        )


def test_a_resolution_needs_a_reason_and_finance_staff(scenario, finance_user, tenant_factory):
    period = accounting_period_for(day=timezone.now().date())
    run = reconciliation_run_for_period(period=period, actor=finance_user)
    exception = run.exceptions_found.get(kind=ExceptionKind.MISSING_IN_STRIPE)
    with pytest.raises(ReconciliationError, match="reason"):
        reconciliation_exception_resolve(
            exception=exception, resolution=Resolution.ACKNOWLEDGE, reason=" ", actor=finance_user
        )
    outsider = tenant_factory(Organisation.Kind.CREATOR).owner
    with pytest.raises(PermissionDenied):
        reconciliation_exception_resolve(
            exception=exception, resolution=Resolution.ACKNOWLEDGE, reason="x", actor=outsider
        )
    with pytest.raises(ReconciliationError, match="Reverse"):
        reconciliation_exception_resolve(
            exception=exception,
            resolution=Resolution.ADJUST_TO_STRIPE,
            reason="wrong tool",
            actor=finance_user,
        )
    exception.refresh_from_db()
    assert exception.status == ExceptionStatus.OPEN


def test_a_pending_charge_is_a_timing_difference(emulated_stripe, tenant_factory, finance_user):
    licensee = tenant_factory(Organisation.Kind.AI_DEVELOPER).organisation
    emulated_stripe.control.config(available_delay_seconds=3600)
    charge_id = paid_charge_id(emulated_stripe, licensee, GROSS, key="pending")
    _post(
        EntryKind.COLLECTION,
        [
            (_account(AccountCode.PLATFORM_CASH), GROSS - FEE),
            (_account(AccountCode.STRIPE_FEES), FEE),
            (_account(AccountCode.LICENSEE_RECEIVABLE, licensee), -GROSS),
        ],
        f"stripe:{charge_id}",
        stripe_object_id=charge_id,
    )
    period = accounting_period_for(day=timezone.now().date())
    run = reconciliation_run_for_period(period=period, actor=finance_user)
    assert [e.kind for e in run.exceptions_found.all()] == [ExceptionKind.TIMING]

    emulated_stripe.control.make_available()
    again = reconciliation_run_for_period(period=period, actor=finance_user)
    assert again.exception_count == 0
    cleared = ReconciliationException.objects.get()
    assert cleared.status == ExceptionStatus.RESOLVED
    assert f"run #{again.pk}" in cleared.resolution_reason


def test_an_entry_dated_in_another_month_than_stripe_is_timing(scenario, finance_user):
    period = accounting_period_for(day=timezone.now().date())
    last_month = period.year * 12 + period.month - 2
    day = dt.date(last_month // 12, last_month % 12 + 1, 28)
    run = reconciliation_run_for_period(period=period, actor=finance_user)
    assert run.exception_count == 3
    _post(
        EntryKind.PAYOUT,
        [
            (_account(AccountCode.PLATFORM_EQUITY), 3_000),
            (_account(AccountCode.PLATFORM_CASH), -3_000),
        ],
        "payout:early",
        stripe_object_id=scenario["transfer"],
        day=day,
    )
    again = reconciliation_run_for_period(period=period, actor=finance_user)
    kinds = {e.stripe_object_id: e.kind for e in again.exceptions_seen.all()}
    assert kinds[scenario["transfer"]] == ExceptionKind.TIMING


@given(
    net=st.integers(min_value=-(10**9), max_value=10**9),
    fee=st.integers(min_value=0, max_value=10**6),
    cash_error=st.integers(min_value=-1_000, max_value=1_000),
    fee_error=st.integers(min_value=-1_000, max_value=1_000),
)
def test_a_difference_is_classified_by_what_differs(net, fee, cash_error, fee_error):
    created = dt.datetime(2026, 3, 5, tzinfo=dt.UTC)
    stripe = StripeSide(net=net, fee=fee, currencies=frozenset({"USD"}), created=created)
    ledger = LedgerSide(
        cash=net + cash_error,
        fee=fee + fee_error,
        currencies=frozenset({"USD"}),
        effective_date=created.date(),
    )
    difference = classify(stripe_object_id="ch_x", stripe=stripe, ledger=ledger)
    moves = bool(net or fee)
    if cash_error + fee_error != 0 and (ledger.cash or ledger.fee):
        assert difference is not None and difference.kind == ExceptionKind.AMOUNT_MISMATCH
    elif fee_error and (ledger.cash or ledger.fee):
        assert difference is not None and difference.kind == ExceptionKind.FEE_MISMATCH
        assert (difference.expected_minor, difference.actual_minor) == (fee + fee_error, fee)
    elif not (ledger.cash or ledger.fee):
        expected = ExceptionKind.MISSING_IN_LEDGER if moves else None
        assert (difference.kind if difference else None) == expected
    else:
        assert difference is None


def test_the_demo_reconciles_this_month_once(scenario):
    seed_reconciliation()
    seed_reconciliation()
    run = ReconciliationRun.objects.get()
    assert (run.status, run.exception_count) == ("completed", 3)
