"""The payouts pages: a creator's balances with the reason a payable balance is not paid,
its threshold form, "pay me now" and history; a licensee's invoices with a Pay button to
Stripe Checkout; finance's collections and payouts with filters, retry and hold (audited).
Strangers get 404. Real PostgreSQL and the real emulator."""

from __future__ import annotations

import pytest
from django.test import Client

from accounts.models import Membership, Organisation
from payouts.collections import collections_open_for_run
from payouts.models import Collection, Payout, PayoutThreshold
from payouts.services import payout_hold
from tests.conftest import Tenant, make_tenant
from tests.factories import MembershipFactory, OrganisationFactory
from tests.money.factories import collection_for, payout_for
from tests.money.payouts_world import billed_run, onboarded
from tests.payouts.test_payouts_api import collect

pytestmark = pytest.mark.django_db


def signed_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def holder(db) -> Tenant:
    return make_tenant(Organisation.Kind.CREATOR, "Harbour Press")


@pytest.fixture
def finance(db):
    platform = OrganisationFactory(kind=Organisation.Kind.PLATFORM, name="TrainRight")
    membership = MembershipFactory(organisation=platform, role=Membership.Role.FINANCE)
    return membership.user


# --- creator ------------------------------------------------------------------------------------


def test_payable_balance_waits_for_onboarding_and_says_so(emulated_stripe, holder):
    collect(emulated_stripe, [holder.organisation], [4_000], 400)
    page = signed_in(holder.owner).get("/royalties/payouts/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "Finish onboarding with Stripe" in html
    assert 'data-testid="payouts-onboarding-link"' in html
    assert "/account/payouts/" in html
    assert "USD 40.00" in html  # payable
    assert 'data-testid="pay-now-USD"' in html and "disabled" in html
    assert "Finish onboarding first." in html


def test_threshold_form_shows_errors_by_the_field_and_then_carries_forward(emulated_stripe, holder):
    onboarded(emulated_stripe, holder.organisation)
    collect(emulated_stripe, [holder.organisation], [4_000], 400)
    client = signed_in(holder.owner)
    bad = client.post("/royalties/payouts/threshold/", {"currency": "USD", "threshold": "-1"})
    assert bad.status_code == 400
    assert 'id="id_threshold-error"' in bad.content.decode()
    fraction = client.post(
        "/royalties/payouts/threshold/", {"currency": "USD", "threshold": "1.005"}
    )
    assert fraction.status_code == 400
    assert "USD has no smaller unit than that." in fraction.content.decode()
    wrong = client.post("/royalties/payouts/threshold/", {"currency": "dollars", "threshold": "1"})
    assert 'id="id_currency-error"' in wrong.content.decode()
    assert not PayoutThreshold.objects.exists()

    done = client.post(
        "/royalties/payouts/threshold/", {"currency": "usd", "threshold": "100.00"}, follow=True
    )
    assert "Payout threshold set to USD 100.00." in done.content.decode()
    assert PayoutThreshold.objects.get(holder=holder.organisation).minimum_minor == 10_000
    html = done.content.decode()
    assert "Below your payout threshold" in html and "carried forward" in html
    assert "Your threshold: USD 100.00." in html
    # Pay now is still offered: it ignores the threshold.
    assert 'data-testid="pay-now-USD">Pay me now' in html


def test_pay_now_requests_a_payout_shown_in_the_history(emulated_stripe, holder):
    onboarded(emulated_stripe, holder.organisation)
    collect(emulated_stripe, [holder.organisation], [4_000], 400)
    client = signed_in(holder.owner)
    page = client.post("/royalties/payouts/pay-now/", {"currency": "USD"}, follow=True)
    html = page.content.decode()
    assert "Payout of USD 40.00 requested" in html
    payout = Payout.objects.get(holder=holder.organisation)
    assert payout.requested_by == holder.owner and payout.amount_minor == 4_000
    assert f'data-testid="payout-{payout.pk}"' in html
    assert "A payout is on its way." in html
    again = client.post("/royalties/payouts/pay-now/", {"currency": "USD"}, follow=True)
    assert "already on its way" in again.content.decode()
    assert Payout.objects.filter(holder=holder.organisation).count() == 1


def test_history_shows_failure_reasons_and_holds(holder):
    payout_for(holder.organisation, failure_reason="The destination account was closed.")
    html = signed_in(holder.owner).get("/royalties/payouts/").content.decode()
    assert "The destination account was closed." in html
    assert "Failed" in html


def test_pay_now_below_stripes_minimum_is_refused_with_the_reason(emulated_stripe, holder):
    onboarded(emulated_stripe, holder.organisation)
    collect(emulated_stripe, [holder.organisation], [40], 10)
    client = signed_in(holder.owner)
    html = client.get("/royalties/payouts/").content.decode()
    assert "Stripe's minimum is USD 0.50." in html
    page = client.post("/royalties/payouts/pay-now/", {"currency": "USD"}, follow=True)
    assert "below the minimum payout" in page.content.decode()
    assert not Payout.objects.exists()


def test_plain_members_see_but_do_not_act_and_strangers_get_404(holder, developer):
    member = MembershipFactory(organisation=holder.organisation, role=Membership.Role.MEMBER)
    client = signed_in(member.user)
    html = client.get("/royalties/payouts/").content.decode()
    assert "threshold-form" not in html
    response = client.post("/royalties/payouts/threshold/", {"currency": "USD", "threshold": "1"})
    assert response.status_code == 403
    assert client.post("/royalties/payouts/pay-now/", {"currency": "USD"}).status_code == 403
    other = make_tenant()
    assert (
        signed_in(holder.owner)
        .get(f"/royalties/payouts/?organisation={other.organisation.pk}")
        .status_code
        == 404
    )
    assert signed_in(developer.owner).get("/royalties/payouts/").status_code == 404


# --- licensee -----------------------------------------------------------------------------------


def test_invoices_list_status_and_pay_opens_checkout(emulated_stripe, developer, holder):
    billed = billed_run(
        developer.organisation, [holder.organisation], amounts=[900], commission_minor=100
    )
    [collection] = collections_open_for_run(run=billed.run)
    overdue = collection_for(developer.organisation, status=Collection.Status.OVERDUE)
    client = signed_in(developer.owner)
    html = client.get("/royalties/invoices/").content.decode()
    assert f'data-testid="invoice-{collection.pk}"' in html
    assert "USD 10.00" in html and "Due" in html and "Overdue" in html
    only = client.get("/royalties/invoices/?status=overdue").content.decode()
    assert f'data-testid="invoice-{overdue.pk}"' in only
    assert f'data-testid="invoice-{collection.pk}"' not in only

    response = client.post(f"/royalties/invoices/{collection.pk}/pay/")
    assert response.status_code == 302
    collection = Collection.objects.get(pk=collection.pk)
    assert collection.checkout_url and response["Location"] == collection.checkout_url

    detail = client.get(f"/royalties/invoices/{collection.pk}/?paid=1").content.decode()
    assert "Stripe is confirming your payment" in detail

    # Not the holder's, nor anyone else's.
    assert signed_in(holder.owner).get(f"/royalties/invoices/{collection.pk}/").status_code == 404
    stranger = make_tenant(Organisation.Kind.AI_DEVELOPER)
    assert (
        signed_in(stranger.owner).post(f"/royalties/invoices/{collection.pk}/pay/").status_code
        == 404
    )


def test_paid_invoice_shows_its_collected_date_and_no_pay_button(emulated_stripe, holder):
    collected = collect(emulated_stripe, [holder.organisation], [900], 100)
    member = MembershipFactory(organisation=collected.licensee)
    html = signed_in(member.user).get("/royalties/invoices/").content.decode()
    assert "Paid" in html
    assert f"{collected.collection.collected_at:%Y-%m-%d}" in html
    assert f"invoice-pay-{collected.collection.pk}" not in html


# --- finance ------------------------------------------------------------------------------------


def test_finance_collections_filter_by_status(finance):
    licensee = make_tenant(Organisation.Kind.AI_DEVELOPER)
    due = collection_for(licensee.organisation)
    failed = collection_for(
        licensee.organisation, status=Collection.Status.FAILED, failure_reason="Card declined."
    )
    client = signed_in(finance)
    html = client.get("/finance/collections/?status=failed").content.decode()
    assert f'data-testid="collection-{failed.pk}"' in html and "Card declined." in html
    assert f'data-testid="collection-{due.pk}"' not in html


def test_finance_retries_and_holds_payouts_and_the_page_shows_who_and_when(
    emulated_stripe, finance, holder
):
    account = onboarded(emulated_stripe, holder.organisation)
    collect(emulated_stripe, [holder.organisation], [4_000], 400)
    failed = payout_for(
        holder.organisation, amount_minor=4_000, destination_account_id=account.stripe_account_id
    )
    client = signed_in(finance)
    html = client.get("/finance/payouts/?status=failed").content.decode()
    assert f'data-testid="payout-retry-{failed.pk}"' in html

    page = client.post(
        f"/finance/payouts/{failed.pk}/retry/", {"next_query": "status=scheduled"}, follow=True
    )
    assert page.redirect_chain[-1][0] == "/finance/payouts/?status=scheduled"
    assert f"Payout {failed.pk} scheduled again." in page.content.decode()
    assert Payout.objects.get(pk=failed.pk).status == Payout.Status.SCHEDULED

    page = client.post(f"/finance/payouts/{failed.pk}/hold/", {"on_hold": "1"}, follow=True)
    html = page.content.decode()
    assert Payout.objects.get(pk=failed.pk).on_hold
    assert f"Retried by {finance.email}" in html and f"Held by {finance.email}" in html
    assert "Release" in html

    twice = client.post(f"/finance/payouts/{failed.pk}/retry/", follow=True)
    assert "Only a failed payout can be retried." in twice.content.decode()


def test_finance_pages_and_actions_do_not_exist_for_creators(holder):
    payout = payout_for(holder.organisation)
    client = signed_in(holder.owner)
    assert client.get("/finance/payouts/").status_code == 404
    assert client.post(f"/finance/payouts/{payout.pk}/retry/").status_code == 404
    assert client.post(f"/finance/payouts/{payout.pk}/hold/", {"on_hold": "1"}).status_code == 404
    assert Payout.objects.get(pk=payout.pk).status == Payout.Status.FAILED


def test_payout_hold_is_audited_through_the_service(emulated_stripe, finance, holder):
    account = onboarded(emulated_stripe, holder.organisation)
    collect(emulated_stripe, [holder.organisation], [4_000], 400)
    payout = payout_for(
        holder.organisation,
        amount_minor=4_000,
        status=Payout.Status.SCHEDULED,
        failure_reason="",
        destination_account_id=account.stripe_account_id,
    )
    payout_hold(payout=payout, on_hold=True, actor=finance)
    html = signed_in(finance).get("/finance/payouts/?on_hold=1").content.decode()
    assert f"Held by {finance.email}" in html
    assert f'data-testid="payout-hold-{payout.pk}"' in html


def test_nav_links_reach_the_new_pages(holder, developer, finance):
    assert "/royalties/payouts/" in signed_in(holder.owner).get("/creator/").content.decode()
    developer_home = signed_in(developer.owner).get("/developer/").content.decode()
    assert "/royalties/invoices/" in developer_home
    finance_home = signed_in(finance).get("/finance/").content.decode()
    assert "/finance/payouts/" in finance_home and "/finance/collections/" in finance_home


# --- demo data ----------------------------------------------------------------------------------


@pytest.fixture
def private_celery_queue(settings):
    """Tasks queued on commit go to a queue of this test's own (no worker reads it; it is
    deleted afterwards), never to the default queue a running demo's worker consumes."""
    import uuid

    import redis

    from config.celery import app

    queue = f"test-{uuid.uuid4().hex[:8]}"
    previous = app.conf.task_default_queue
    app.conf.task_default_queue = queue
    app.amqp.queues.select_add(queue)
    try:
        yield queue
    finally:
        app.conf.task_default_queue = previous
        redis.Redis.from_url(settings.CELERY_BROKER_URL).delete(queue)


def test_demo_shows_paid_carried_forward_and_onboarding_payouts(
    emulated_stripe, django_capture_on_commit_callbacks, private_celery_queue
):
    from frontend.demo import seed_demo
    from payouts.selectors import payout_position

    with django_capture_on_commit_callbacks(execute=True):
        parties = seed_demo()
    paid = Payout.objects.filter(status=Payout.Status.PAID)
    # Everyone onboarded is paid the licence fee's share; last month's royalties reach Ana
    # and Chloe, while Ben's stay below his threshold.
    assert set(paid.filter(run=None).values_list("holder__name", flat=True)) == {
        "Ana Rivera",
        "Ben Ode",
        "Chloe Marsh",
    }
    assert set(paid.exclude(run=None).values_list("holder__name", flat=True)) == {
        "Ana Rivera",
        "Chloe Marsh",
    }
    ben = payout_position(holder=parties.ben, currency="USD")
    assert 0 < ben.payable_minor < 10_000 and "threshold" in ben.blocked_reason
    harbour = payout_position(holder=parties.harbour, currency="USD")
    assert harbour.payable_minor > 0 and "Stripe" in harbour.blocked_reason
    html = signed_in(Membership.objects.get(organisation=parties.harbour).user)
    page = html.get("/royalties/payouts/").content.decode()
    assert "Finish onboarding with Stripe" in page

    counts = (Payout.objects.count(), Collection.objects.count(), PayoutThreshold.objects.count())
    with django_capture_on_commit_callbacks(execute=True):
        seed_demo()
    assert (
        Payout.objects.count(),
        Collection.objects.count(),
        PayoutThreshold.objects.count(),
    ) == counts
