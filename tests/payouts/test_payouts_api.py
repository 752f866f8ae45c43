"""The payouts and collections API: a rights holder's balances with the reason a payable balance
is not paid, its threshold and "pay me now"; its payout history; a licensee's invoices and
their Checkout page; finance's view of everything with retry and hold, each audited. Also the
``STRIPE_FEES_PASSED_TO_CREATORS`` setting. Real PostgreSQL, the real emulator, no mocks."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from rest_framework.test import APIClient

from accounts.models import Membership, Organisation, User
from ledger.models import AccountCode, JournalLeg
from ledger.selectors import holder_balances, trial_balance
from ledger.services import ledger_account_for
from payments import gateway
from payouts.collections import (
    collection_charge,
    collection_record_payment,
    collections_open_for_run,
)
from payouts.models import Collection, Payout, PayoutThreshold
from payouts.services import payout_schedule
from tests.conftest import Tenant, make_tenant
from tests.factories import MembershipFactory, OrganisationFactory
from tests.money.factories import collection_for, payout_for
from tests.money.payouts_world import billed_run, fresh_licensee, onboarded, saved_card

pytestmark = [pytest.mark.django_db, pytest.mark.dates]

PROBLEM = "application/problem+json"


@dataclass
class Collected:
    collection: Collection
    licensee: Organisation


def collect(emulated, holders: list[Organisation], amounts: list[int], commission: int):
    """A run billed a licensee with a saved card; the charge succeeded and was recorded
    (the holders' shares are payable; the payouts task is not run)."""
    licensee = fresh_licensee()
    saved_card(emulated, licensee)
    billed = billed_run(licensee, holders, amounts=amounts, commission_minor=commission)
    [collection] = collections_open_for_run(run=billed.run)
    collection = collection_charge(collection_id=collection.pk)
    intent = gateway.payment_intent_retrieve(payment_intent_id=collection.payment_intent_id)
    collection = collection_record_payment(
        collection_id=collection.pk, charge_id=intent.latest_charge
    )
    return Collected(collection, licensee)


def finance_client() -> tuple[APIClient, User]:
    platform = OrganisationFactory(kind=Organisation.Kind.PLATFORM, name="TrainRight")
    membership = MembershipFactory(organisation=platform, role=Membership.Role.FINANCE)
    client = APIClient()
    client.force_login(membership.user)
    return client, membership.user


@pytest.fixture
def holder(db) -> Tenant:
    return make_tenant(Organisation.Kind.CREATOR, "Harbour Press")


# --- balances ------------------------------------------------------------------------------------


def test_balances_say_why_a_payable_balance_is_not_paid(emulated_stripe, holder):
    collect(emulated_stripe, [holder.organisation], [4_000], 400)
    response = holder.api().get("/api/v1/balances/")
    assert response.status_code == 200
    body = response.json()
    assert body["organisation"] == holder.organisation.pk
    assert body["can_receive_transfers"] is False
    [usd] = body["currencies"]
    assert usd["currency"] == "USD"
    assert (usd["pending_minor"], usd["payable_minor"], usd["paid_minor"]) == (0, 4_000, 0)
    assert usd["can_pay_now"] is False
    assert "Set up payouts with Stripe" in usd["blocked_reason"]

    onboarded(emulated_stripe, holder.organisation)
    PayoutThreshold.objects.create(holder=holder.organisation, currency="USD", minimum_minor=5_000)
    [usd] = holder.api().get("/api/v1/balances/").json()["currencies"]
    assert usd["threshold_minor"] == 5_000
    assert usd["can_pay_now"] is True
    assert "Below your payout threshold (5000" in usd["blocked_reason"]
    assert "carried forward" in usd["blocked_reason"]


def test_balances_of_a_licensee_or_a_stranger_answer_404(developer, holder, tenant_factory):
    response = developer.api().get("/api/v1/balances/")
    assert response.status_code == 404
    assert response["Content-Type"] == PROBLEM
    other = tenant_factory()
    response = holder.api().get(f"/api/v1/balances/?organisation={other.organisation.pk}")
    assert response.status_code == 404
    response = holder.api().get("/api/v1/balances/?organisation=abc")
    assert response.status_code == 400
    assert "organisation" in response.json()["errors"]


# --- thresholds ----------------------------------------------------------------------------------


def test_threshold_is_set_per_currency_and_bad_values_are_problems(holder):
    client = holder.api()
    assert client.get("/api/v1/payout-thresholds/usd/").json()["minimum_minor"] == 0
    response = client.put(
        "/api/v1/payout-thresholds/usd/", {"minimum_minor": 10_000}, format="json"
    )
    assert response.status_code == 200, response.content
    assert response.json() == {
        "organisation": holder.organisation.pk,
        "currency": "USD",
        "minimum_minor": 10_000,
    }
    assert PayoutThreshold.objects.get(holder=holder.organisation).minimum_minor == 10_000
    for bad in ({"minimum_minor": -1}, {"minimum_minor": "ten"}, {}, {"minimum_minor": 10**16}):
        response = client.put("/api/v1/payout-thresholds/USD/", bad, format="json")
        assert response.status_code == 400, bad
        assert response["Content-Type"] == PROBLEM
        assert "minimum_minor" in response.json()["errors"]
    assert client.put("/api/v1/payout-thresholds/US1/", {"minimum_minor": 1}).status_code == 404


def test_threshold_is_set_by_owners_not_plain_members(holder):
    member = MembershipFactory(organisation=holder.organisation, role=Membership.Role.MEMBER)
    client = APIClient()
    client.force_login(member.user)
    response = client.put("/api/v1/payout-thresholds/USD/", {"minimum_minor": 1}, format="json")
    assert response.status_code == 403
    assert client.get("/api/v1/payout-thresholds/USD/").status_code == 200


def test_threshold_change_is_audited(holder):
    client = holder.session()
    client.put("/api/v1/payout-thresholds/USD/", {"minimum_minor": 700}, format="json")
    from django.apps import apps

    event = (
        apps.get_model("payouts", "PayoutThresholdEvent")
        .objects.filter(pgh_obj__holder=holder.organisation)
        .select_related("pgh_context")
        .get()
    )
    assert event.pgh_context.metadata["action"] == "payout_threshold_set"
    assert event.pgh_context.metadata["actor_id"] == holder.owner.pk


# --- pay now -------------------------------------------------------------------------------------


def test_pay_now_pays_the_payable_balance_once(emulated_stripe, holder):
    collect(emulated_stripe, [holder.organisation], [4_000], 400)
    client = holder.session()
    response = client.post("/api/v1/payouts/pay-now/", {"currency": "USD"}, format="json")
    assert response.status_code == 409
    assert response["Content-Type"] == PROBLEM
    assert "Stripe" in response.json()["detail"]

    onboarded(emulated_stripe, holder.organisation)
    PayoutThreshold.objects.create(holder=holder.organisation, currency="USD", minimum_minor=9_000)
    response = client.post("/api/v1/payouts/pay-now/", {"currency": "usd"}, format="json")
    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["amount_minor"], body["status"], body["currency"]) == (4_000, "scheduled", "USD")
    assert body["requested_by_email"] == holder.owner.email
    assert [entry["action"] for entry in body["audit"]] == ["payout_pay_now"]
    assert body["audit"][0]["actor_email"] == holder.owner.email

    again = client.post("/api/v1/payouts/pay-now/", {"currency": "USD"}, format="json")
    assert again.status_code == 409
    assert "on its way" in again.json()["detail"]
    assert Payout.objects.filter(holder=holder.organisation).count() == 1


def test_pay_now_below_stripes_minimum_or_with_nothing_payable_is_422(emulated_stripe, holder):
    onboarded(emulated_stripe, holder.organisation)
    client = holder.api()
    response = client.post("/api/v1/payouts/pay-now/", {"currency": "USD"}, format="json")
    assert response.status_code == 422
    assert response.json()["code"] == "below_minimum"
    assert "currency" in response.json()["errors"]

    collect(emulated_stripe, [holder.organisation], [40], 10)  # 40 ¢ < Stripe's 50 ¢
    response = client.post("/api/v1/payouts/pay-now/", {"currency": "USD"}, format="json")
    assert response.status_code == 422
    assert "below the minimum payout (50" in response.json()["detail"]
    [usd] = client.get("/api/v1/balances/").json()["currencies"]
    assert usd["can_pay_now"] is False and "Stripe's minimum" in usd["blocked_reason"]

    bad = client.post("/api/v1/payouts/pay-now/", {"currency": "dollars"}, format="json")
    assert bad.status_code == 400 and "currency" in bad.json()["errors"]


def test_pay_now_by_a_licensee_is_404(developer):
    response = developer.api().post("/api/v1/payouts/pay-now/", {"currency": "USD"}, format="json")
    assert response.status_code == 404


# --- payout history ------------------------------------------------------------------------------


def test_holder_sees_its_own_payouts_filtered_and_anothers_answers_404(holder, tenant_factory):
    other = tenant_factory()
    mine = payout_for(holder.organisation, failure_reason="Account closed at Stripe.")
    paid = payout_for(holder.organisation, currency="EUR")
    theirs = payout_for(other.organisation)
    client = holder.api()

    rows = client.get("/api/v1/payouts/").json()["results"]
    assert {row["id"] for row in rows} == {mine.pk, paid.pk}
    assert client.get("/api/v1/payouts/?currency=EUR").json()["results"][0]["id"] == paid.pk
    failed = client.get("/api/v1/payouts/?status=failed").json()["results"]
    assert {row["failure_reason"] for row in failed} >= {"Account closed at Stripe."}
    assert client.get("/api/v1/payouts/?status=nonsense").status_code == 400

    assert client.get(f"/api/v1/payouts/{mine.pk}/").json()["status"] == "failed"
    response = client.get(f"/api/v1/payouts/{theirs.pk}/")
    assert response.status_code == 404 and response["Content-Type"] == PROBLEM


# --- finance: everything, retry and hold, audited ----------------------------------------------


def test_finance_retries_and_holds_and_each_action_is_audited(emulated_stripe, holder):
    account = onboarded(emulated_stripe, holder.organisation)
    collect(emulated_stripe, [holder.organisation], [4_000], 400)
    failed = payout_for(
        holder.organisation, amount_minor=4_000, destination_account_id=account.stripe_account_id
    )
    client, person = finance_client()

    listed = client.get("/api/v1/payouts/?status=failed").json()["results"]
    assert failed.pk in {row["id"] for row in listed}

    response = client.post(f"/api/v1/payouts/{failed.pk}/retry/", {}, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["status"] == "scheduled"
    again = client.post(f"/api/v1/payouts/{failed.pk}/retry/", {}, format="json")
    assert again.status_code == 409 and again.json()["current"]["id"] == failed.pk

    held = client.post(f"/api/v1/payouts/{failed.pk}/hold/", {"on_hold": True}, format="json")
    assert held.status_code == 200 and held.json()["on_hold"] is True
    released = client.post(f"/api/v1/payouts/{failed.pk}/hold/", {"on_hold": False}, format="json")
    assert released.json()["on_hold"] is False
    assert client.post(f"/api/v1/payouts/{failed.pk}/hold/", {}, format="json").status_code == 400

    audit = client.get(f"/api/v1/payouts/{failed.pk}/").json()["audit"]
    assert [(a["action"], a["actor_email"]) for a in audit] == [
        ("payout_retry", person.email),
        ("payout_hold", person.email),
        ("payout_release", person.email),
    ]
    assert all(a["at"] for a in audit)


def test_finance_actions_are_403_for_the_holder_and_404_for_strangers(holder, tenant_factory):
    payout = payout_for(holder.organisation)
    for client in (holder.api(), holder.session()):
        assert client.post(f"/api/v1/payouts/{payout.pk}/retry/").status_code == 403
        response = client.post(f"/api/v1/payouts/{payout.pk}/hold/", {"on_hold": True})
        assert response.status_code == 403 and response["Content-Type"] == PROBLEM
    stranger = tenant_factory().api()
    assert stranger.post(f"/api/v1/payouts/{payout.pk}/retry/").status_code == 404
    payout = Payout.objects.get(pk=payout.pk)
    assert payout.status == Payout.Status.FAILED and not payout.on_hold


def test_hold_of_a_payout_that_is_not_scheduled_is_409(holder):
    payout = payout_for(holder.organisation)  # failed
    client, _ = finance_client()
    response = client.post(f"/api/v1/payouts/{payout.pk}/hold/", {"on_hold": True}, format="json")
    assert response.status_code == 409
    assert "scheduled" in response.json()["detail"]


# --- collections ---------------------------------------------------------------------------------


def test_licensee_sees_its_invoices_and_gets_a_checkout_page(emulated_stripe, tenant_factory):
    licensee = tenant_factory(kind=Organisation.Kind.AI_DEVELOPER)
    stranger = tenant_factory(kind=Organisation.Kind.AI_DEVELOPER)
    holder = make_tenant()
    billed = billed_run(
        licensee.organisation, [holder.organisation], amounts=[900], commission_minor=100
    )
    [collection] = collections_open_for_run(run=billed.run)
    theirs = collection_for(stranger.organisation)
    client = licensee.api()

    rows = client.get("/api/v1/collections/").json()["results"]
    assert [(row["id"], row["status"], row["amount_due_minor"]) for row in rows] == [
        (collection.pk, "due", 1_000)
    ]
    assert client.get(f"/api/v1/collections/{theirs.pk}/").status_code == 404
    assert client.post(f"/api/v1/collections/{theirs.pk}/pay/").status_code == 404

    response = client.post(f"/api/v1/collections/{collection.pk}/pay/")
    assert response.status_code == 200, response.content
    url = response.json()["checkout_url"]
    assert url.startswith("http")
    # The same page again, not a second session.
    assert client.post(f"/api/v1/collections/{collection.pk}/pay/").json()["checkout_url"] == url
    assert client.get(f"/api/v1/collections/{collection.pk}/").json()["checkout_url"] == url

    # The holder cannot see the licensee's invoice.
    assert holder.api().get(f"/api/v1/collections/{collection.pk}/").status_code == 404


def test_a_paid_invoice_is_not_paid_again(emulated_stripe, holder):
    collected = collect(emulated_stripe, [holder.organisation], [900], 100)
    member = MembershipFactory(organisation=collected.licensee)
    client = APIClient()
    client.force_login(member.user)
    response = client.post(f"/api/v1/collections/{collected.collection.pk}/pay/")
    assert response.status_code == 409
    assert response.json()["current"]["status"] == "paid"


def test_finance_sees_every_collection_by_status_but_does_not_pay_them(tenant_factory):
    licensee = tenant_factory(kind=Organisation.Kind.AI_DEVELOPER)
    due = collection_for(licensee.organisation)
    overdue = collection_for(licensee.organisation, status=Collection.Status.OVERDUE)
    client, _ = finance_client()
    rows = client.get("/api/v1/collections/?status=overdue").json()["results"]
    assert [row["id"] for row in rows] == [overdue.pk]
    assert due.pk in {row["id"] for row in client.get("/api/v1/collections/").json()["results"]}
    assert client.post(f"/api/v1/collections/{due.pk}/pay/").status_code == 403


# --- STRIPE_FEES_PASSED_TO_CREATORS --------------------------------------------------------------


def _fees_account_balance() -> int:
    account = ledger_account_for(code=AccountCode.STRIPE_FEES, currency="USD")
    return sum(JournalLeg.objects.filter(account=account).values_list("amount_minor", flat=True))


def test_stripe_fee_is_the_platforms_expense_by_default(emulated_stripe, settings):
    settings.STRIPE_FEES_PASSED_TO_CREATORS = False
    ana, ben = make_tenant().organisation, make_tenant().organisation
    collected = collect(emulated_stripe, [ana, ben], [37_800, 27_000], 7_200)
    fee = collected.collection.stripe_fee_minor
    assert fee == 72_000 * 290 // 10_000 + 30
    assert holder_balances(organisation=ana, currency="USD").payable_minor == 37_800
    assert holder_balances(organisation=ben, currency="USD").payable_minor == 27_000
    assert _fees_account_balance() == fee
    assert trial_balance(currency="USD").is_balanced


def test_stripe_fee_passed_to_creators_comes_off_their_payable_pro_rata(emulated_stripe, settings):
    settings.STRIPE_FEES_PASSED_TO_CREATORS = True
    ana, ben = make_tenant().organisation, make_tenant().organisation
    collected = collect(emulated_stripe, [ana, ben], [37_800, 27_000], 7_200)
    fee = collected.collection.stripe_fee_minor
    assert fee == 2_118
    # 2,118 apportioned over commission 7,200 / Ana 37,800 / Ben 27,000 (of 72,000), largest
    # remainder: commission 211.8 → 212, Ana 1,111.95 → 1,112, Ben 794.25 → 794.
    ana_b = holder_balances(organisation=ana, currency="USD")
    ben_b = holder_balances(organisation=ben, currency="USD")
    assert (ana_b.payable_minor, ana_b.pending_minor) == (37_800 - 1_112, 0)
    assert (ben_b.payable_minor, ben_b.pending_minor) == (27_000 - 794, 0)
    # Stripe's fee is still booked whole (reconciliation compares it with Stripe's), and the
    # holders' part of it is recovered as the platform's revenue.
    assert _fees_account_balance() == fee
    commission = ledger_account_for(code=AccountCode.PLATFORM_COMMISSION, currency="USD")
    recharge = JournalLeg.objects.get(
        entry=collected.collection.journal_entry, account=commission
    ).amount_minor
    assert recharge == -(1_112 + 794)
    assert trial_balance(currency="USD").is_balanced
    # The payout pays what is left.
    onboarded(emulated_stripe, ana)
    payout = payout_schedule(holder=ana, currency="USD")
    assert payout is not None and payout.amount_minor == 37_800 - 1_112
