"""Payees' connected accounts: created once, status from Stripe in words, transfers refused
until Stripe says the account can receive them."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from accounts.tenancy import principal_for_user
from payments import gateway
from payments.connect import (
    connected_account_ensure,
    connected_account_sync,
    payout_setup_for,
    requirement_label,
)
from payments.models import StripeConnectedAccount, StripeRequest

pytestmark = pytest.mark.django_db


def test_a_payee_gets_one_express_account_that_can_take_transfers_once_onboarded(
    emulated_stripe, payee
):
    account = connected_account_ensure(organisation=payee)
    assert connected_account_ensure(organisation=payee) == account
    assert emulated_stripe.control.counts()["account"] == 1
    journal = StripeRequest.objects.get(operation="account.create")
    assert journal.idempotency_key == f"connected-account:{payee.pk}"
    stripe_account = gateway.connected_account_retrieve(account_id=account.stripe_account_id)
    assert stripe_account.type == "express"
    assert stripe_account.metadata["organisation_id"] == str(payee.pk)
    assert (account.status, account.can_receive_transfers) == ("onboarding", False)

    emulated_stripe.control.complete_onboarding(account.stripe_account_id)
    account = connected_account_sync(stripe_account_id=account.stripe_account_id)
    assert (account.status, account.transfers_capability, account.payouts_enabled) == (
        "enabled",
        "active",
        True,
    )


def test_what_is_missing_is_said_in_words(emulated_stripe, payee, tenant_factory):
    setup = payout_setup_for(principal=principal_for_user(payee.memberships.get().user))
    assert (setup.state, setup.missing, setup.can_manage) == ("not_started", [], True)
    connected_account_ensure(organisation=payee)
    setup = payout_setup_for(principal=principal_for_user(payee.memberships.get().user))
    assert setup.state_label == "Details still needed"
    assert setup.missing == [
        "A bank account for payouts",
        "A photo of an identity document",
        "Accept Stripe's services agreement",
    ]
    assert requirement_label("individual.first_name") == "First name"
    assert requirement_label("individual.dob.day") == requirement_label("individual.dob.year")


def test_no_transfer_is_attempted_to_an_account_that_cannot_receive_one(emulated_stripe, payee):
    account = connected_account_ensure(organisation=payee)
    emulated_stripe.control.clear_requests()
    with pytest.raises(gateway.AccountCannotReceiveTransfers) as refused:
        gateway.transfer_create(
            destination_account_id=account.stripe_account_id,
            amount_minor=1_000,
            currency="USD",
            idempotency_key="transfer:refused",
        )
    assert refused.value.param == "destination"
    assert emulated_stripe.control.requests() == []


def test_stripes_own_refusal_maps_to_the_same_error(emulated_stripe, payee):
    account = connected_account_ensure(organisation=payee)
    # Our record says active (say, Stripe has just restricted the account): Stripe refuses.
    StripeConnectedAccount.objects.filter(pk=account.pk).update(transfers_capability="active")
    with pytest.raises(gateway.AccountCannotReceiveTransfers) as refused:
        gateway.transfer_create(
            destination_account_id=account.stripe_account_id,
            amount_minor=1_000,
            currency="USD",
            idempotency_key="transfer:stripe-refuses",
        )
    assert refused.value.code == "insufficient_capabilities_for_transfer"
    assert refused.value.http_status == 400


def test_only_payees_have_connected_accounts(emulated_stripe, licensee):
    with pytest.raises(ValidationError):
        connected_account_ensure(organisation=licensee)
    assert emulated_stripe.control.requests() == []
    with pytest.raises(IntegrityError, match="only payees"), transaction.atomic():
        StripeConnectedAccount.objects.create(
            organisation=licensee, stripe_account_id="acct_x", country="US"
        )


def test_an_account_is_enabled_only_with_active_transfers(payee):
    with pytest.raises(IntegrityError, match="enabled_needs_active_transfers"):
        StripeConnectedAccount.objects.create(
            organisation=payee, stripe_account_id="acct_y", country="US", status="enabled"
        )


def test_an_account_update_that_overtakes_our_own_record_is_recorded_from_its_metadata(
    emulated_stripe, payee
):
    stripe_account = gateway.connected_account_create(
        country="GB",
        email=None,
        business_name=payee.name,
        metadata={"organisation_id": payee.pk},
        idempotency_key=f"connected-account:{payee.pk}",
    )
    emulated_stripe.control.complete_onboarding(stripe_account.id)
    synced = connected_account_sync(stripe_account_id=stripe_account.id)
    assert synced.organisation == payee and synced.status == "enabled"
    assert connected_account_ensure(organisation=payee) == synced
    foreign = gateway.connected_account_create(
        country="US",
        email=None,
        business_name="Not ours",
        metadata={},
        idempotency_key="connected-account:foreign",
    )
    assert connected_account_sync(stripe_account_id=foreign.id) is None
