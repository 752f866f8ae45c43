"""The upfront fee paid through Stripe Checkout (the emulator, over real HTTP) is posted as a
collection once the agreement activates: the receivable cleared, Stripe's fee the platform's
expense, every holder's share payable (pay when paid), once however often it is posted."""

from __future__ import annotations

import pytest
from django.db.models import Sum

from ledger.models import AccountCode, EntryKind, JournalEntry, JournalLeg
from marketplace.models import Agreement, CheckoutAttempt
from payments.models import StripePayment
from payouts.upfront_fees import (
    UpfrontFeeError,
    upfront_fee_collect,
    upfront_fee_settle_paid,
    upfront_fees_uncollected,
)
from settlement.models import StatementLine
from tests.gateway.helpers import process_events
from tests.marketplace.conftest import world  # noqa: F401 (the marketplace's fixture)
from tests.marketplace.factories import accepted_agreement

pytestmark = [pytest.mark.django_db, pytest.mark.dates]


def _balances(code: str) -> dict[str | None, int]:
    rows = (
        JournalLeg.objects.filter(account__code=code)
        .values("account__organisation__name")
        .annotate(total=Sum("amount_minor"))
    )
    return {row["account__organisation__name"]: row["total"] for row in rows if row["total"]}


def _pay_fee(world, emulated_stripe, django_capture_on_commit_callbacks) -> Agreement:  # noqa: F811
    agreement = accepted_agreement(world.northwind.organisation, world.shelf)
    response = world.northwind.api().post(
        f"/api/v1/agreements/{agreement.pk}/checkout/",
        {"success_url": "http://app.test/paid?session={CHECKOUT_SESSION_ID}"},
        format="json",
    )
    assert response.status_code == 201, response.json()
    emulated_stripe.control.complete_checkout(response.json()["stripe_session_id"])
    with django_capture_on_commit_callbacks(execute=True):
        process_events("checkout.session.completed")
    agreement = Agreement.objects.get(pk=agreement.pk)
    assert agreement.status == Agreement.Status.ACTIVE
    return agreement


def test_the_paid_fee_clears_the_receivable_and_makes_the_holders_shares_payable(
    world,  # noqa: F811
    emulated_stripe,
    django_capture_on_commit_callbacks,
):
    agreement = _pay_fee(world, emulated_stripe, django_capture_on_commit_callbacks)
    # Activation posted the fee as earned but not yet collected.
    assert _balances(AccountCode.LICENSEE_RECEIVABLE) == {"Northwind AI": 120_000}
    assert _balances(AccountCode.HOLDER_PENDING) == {
        "Ana Rivera": -37_800,
        "Harbour Press": -70_200,
    }
    assert upfront_fees_uncollected() == [agreement.pk]

    charge_id = CheckoutAttempt.objects.get(agreement=agreement).charge_id
    entry = upfront_fee_collect(agreement_id=agreement.pk, charge_id=charge_id)
    assert entry is not None and entry.kind == EntryKind.COLLECTION
    assert entry.stripe_object_id == charge_id
    fee = StripePayment.objects.get(stripe_charge_id=charge_id).fee_minor
    assert fee > 0
    assert _balances(AccountCode.LICENSEE_RECEIVABLE) == {}
    assert _balances(AccountCode.PLATFORM_CASH) == {None: 120_000 - fee}
    assert _balances(AccountCode.STRIPE_FEES) == {None: fee}
    assert _balances(AccountCode.HOLDER_PENDING) == {}
    assert _balances(AccountCode.HOLDER_PAYABLE) == {
        "Ana Rivera": -37_800,
        "Harbour Press": -70_200,
    }
    lines = StatementLine.objects.filter(agreement=agreement, kind="upfront_fee")
    assert lines.count() == 3
    assert set(lines.values_list("collected_on", flat=True)) == {entry.effective_date}
    assert upfront_fees_uncollected() == []

    # Again (a retried task, the beat sweep): nothing more is posted.
    assert upfront_fee_collect(agreement_id=agreement.pk, charge_id=charge_id) == entry
    assert upfront_fee_settle_paid(agreement_id=agreement.pk) == entry
    assert JournalEntry.objects.filter(kind=EntryKind.COLLECTION).count() == 1


def test_with_fees_passed_to_creators_each_holder_bears_its_part_of_stripes_fee(
    world,  # noqa: F811
    emulated_stripe,
    django_capture_on_commit_callbacks,
    settings,
):
    settings.STRIPE_FEES_PASSED_TO_CREATORS = True
    agreement = _pay_fee(world, emulated_stripe, django_capture_on_commit_callbacks)
    charge_id = CheckoutAttempt.objects.get(agreement=agreement).charge_id
    upfront_fee_collect(agreement_id=agreement.pk, charge_id=charge_id)
    fee = StripePayment.objects.get(stripe_charge_id=charge_id).fee_minor
    payable = _balances(AccountCode.HOLDER_PAYABLE)
    borne = 108_000 + sum(payable.values())  # what the holders' shares lost to the fee
    assert 0 < borne < fee
    # Each bears about its share of the fee (37.8k and 70.2k of the 120k charged).
    assert abs((37_800 + payable["Ana Rivera"]) - fee * 37_800 // 120_000) <= 1
    assert _balances(AccountCode.PLATFORM_COMMISSION) == {None: -12_000 - borne}
    assert _balances(AccountCode.STRIPE_FEES) == {None: fee}


def test_a_payment_that_arrives_before_the_fee_is_posted_waits_for_it(
    world,  # noqa: F811
    emulated_stripe,
    django_capture_on_commit_callbacks,
):
    agreement = _pay_fee(world, emulated_stripe, django_capture_on_commit_callbacks)
    other = accepted_agreement(world.northwind.organisation, world.shelf)
    charge_id = CheckoutAttempt.objects.get(agreement=agreement).charge_id
    with pytest.raises(UpfrontFeeError, match="not posted yet"):
        upfront_fee_collect(agreement_id=other.pk, charge_id=charge_id)
    assert not JournalEntry.objects.filter(kind=EntryKind.COLLECTION).exists()
