"""Money that arrives for a closed period is never dropped: it is posted in the open period,
dated today (a late receipt), keeps the date it belongs to, is passed to the holders like any
collection, and the finance pages name the period it belongs to."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db.models import Sum

from accounts.models import Membership, Organisation
from ledger.models import AccountCode, EntryKind, JournalEntry, JournalLeg
from ledger.services import (
    ClosedPeriodError,
    LegSpec,
    accounting_period_for,
    journal_post,
    ledger_account_for,
    period_close,
)
from marketplace.models import CheckoutAttempt
from payments.models import StripePayment
from payouts.upfront_fees import upfront_fee_collect
from settlement.models import StatementLine
from tests.factories import MembershipFactory
from tests.marketplace.conftest import world  # noqa: F401 (the marketplace's fixture)
from tests.payouts.test_upfront_fee_collection import _balances, _pay_fee

pytestmark = [pytest.mark.django_db]

JANUARY = dt.date(2026, 1, 20)


@pytest.fixture
def finance_user(tenant_factory):
    platform = tenant_factory(Organisation.Kind.PLATFORM, "TrainRight")
    return MembershipFactory(organisation=platform.organisation, role=Membership.Role.FINANCE).user


def _operator_funding(day: dt.date, key: str, *, late: bool) -> JournalEntry:
    return journal_post(
        kind=EntryKind.ADJUSTMENT,
        currency="USD",
        effective_date=day,
        legs=[
            LegSpec(ledger_account_for(code=AccountCode.PLATFORM_CASH, currency="USD"), 700),
            LegSpec(ledger_account_for(code=AccountCode.PLATFORM_EQUITY, currency="USD"), -700),
        ],
        memo="money in",
        reference=key,
        idempotency_key=key,
        late_if_closed=late,
    )


@pytest.mark.clock("2026-02-03T10:00:00Z")
def test_a_posting_for_a_closed_period_is_a_late_receipt_in_the_open_one(finance_user):
    period_close(period=accounting_period_for(day=JANUARY), actor=finance_user)
    with pytest.raises(ClosedPeriodError):
        _operator_funding(JANUARY, "money:strict", late=False)

    entry = _operator_funding(JANUARY, "money:late", late=True)
    assert entry.effective_date == dt.date(2026, 2, 3)
    assert entry.intended_date == JANUARY
    assert entry.is_late_receipt and entry.belongs_to_period == "2026-01"
    assert "late receipt for 2026-01" in entry.memo and "2026-01 is closed" in entry.memo
    # Posted again (a retried handler): the same entry, no idempotency conflict.
    assert _operator_funding(JANUARY, "money:late", late=True) == entry
    # An open date is posted as it is.
    on_time = _operator_funding(dt.date(2026, 2, 1), "money:on-time", late=True)
    assert on_time.effective_date == dt.date(2026, 2, 1) and on_time.intended_date is None


@pytest.mark.clock("2026-01-15T10:00:00Z")
def test_a_month_closed_before_it_ended_sends_the_receipt_to_the_next_open_month(finance_user):
    # January was closed on 2 January (before the close checks refused that).
    period_close(period=accounting_period_for(day=JANUARY), actor=finance_user)
    entry = _operator_funding(dt.date(2026, 1, 15), "money:early-close", late=True)
    assert entry.effective_date == dt.date(2026, 2, 1)
    assert entry.belongs_to_period == "2026-01"


@pytest.mark.clock("2026-01-31T22:00:00Z")
def test_an_upfront_fee_paid_for_a_closed_month_is_booked_and_passed_to_the_holders(
    world,  # noqa: F811
    emulated_stripe,
    django_capture_on_commit_callbacks,
    finance_user,
    pinned_clock,
    client,
):
    agreement = _pay_fee(world, emulated_stripe, django_capture_on_commit_callbacks)
    charge_id = CheckoutAttempt.objects.get(agreement=agreement).charge_id
    payment = StripePayment.objects.get(stripe_charge_id=charge_id)
    paid_on = payment.stripe_created.astimezone(dt.UTC).date()
    assert paid_on.month == 1
    # January is closed before the licensee's payment is posted.
    pinned_clock.move_to(dt.datetime(2026, 2, 2, 9, tzinfo=dt.UTC))
    period_close(period=accounting_period_for(day=paid_on), actor=finance_user)

    entry = upfront_fee_collect(agreement_id=agreement.pk, charge_id=charge_id)
    assert entry is not None and entry.kind == EntryKind.COLLECTION
    assert entry.effective_date == dt.date(2026, 2, 2)
    assert entry.intended_date == paid_on and entry.belongs_to_period == "2026-01"
    # Passed to the holders like any collection.
    assert _balances(AccountCode.HOLDER_PENDING) == {}
    assert _balances(AccountCode.HOLDER_PAYABLE) == {
        "Ana Rivera": -37_800,
        "Harbour Press": -70_200,
    }
    cash = JournalLeg.objects.filter(entry=entry, account__code=AccountCode.PLATFORM_CASH)
    assert cash.aggregate(total=Sum("amount_minor"))["total"] == 120_000 - payment.fee_minor
    # The statement lines keep the month they belong to and show when the money came.
    lines = StatementLine.objects.filter(agreement=agreement, kind="upfront_fee")
    assert {line.accrued_on.month for line in lines} == {1}
    assert set(lines.values_list("collected_on", flat=True)) == {dt.date(2026, 2, 2)}

    # Finance sees it on January's page, naming where it was posted.
    client.force_login(finance_user)
    page = client.get("/finance/periods/2026-01/").content.decode()
    assert "Late receipts" in page
    assert f"#{entry.pk}" in page and "2026-02-02" in page
    february = client.get("/finance/periods/2026-02/").content.decode()
    assert "belongs to 2026-01" in february
