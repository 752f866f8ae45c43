"""The marketplace's web pages: request, thread with differences, answers, contract and PDF,
certificate download, notifications, dashboards; and their tenancy."""

from __future__ import annotations

import json

import pytest
from django.test import Client

from marketplace.models import Agreement, Notification, Offer
from tests.marketplace.factories import accepted_agreement, requested_offer

pytestmark = pytest.mark.django_db


def _browser(tenant) -> Client:
    client = Client()
    client.force_login(tenant.owner)
    return client


def _terms_form(**changes):
    form = {
        "permitted_uses": ["ai-train"],
        "territories": "WORLD",
        "term_months": "12",
        "currency": "USD",
        "upfront_fee": "1200.00",
        "upfront_fee_basis": "per_catalogue",
        "minimum_guarantee": "0",
        "settlement_frequency": "monthly",
        "respond_within_days": "14",
    }
    form.update(changes)
    return form


def test_a_developer_requests_a_licence_from_a_catalogue_page_link(world):
    browser = _browser(world.northwind)
    choose = browser.get("/marketplace/request/")
    assert b"Harbour Classics" in choose.content
    page = browser.get(f"/marketplace/request/?catalogue={world.shelf.catalogue.pk}")
    assert page.status_code == 200
    assert b"Harbour Classics" in page.content and b"USD 1,200.00" in page.content
    sent = browser.post(
        "/marketplace/request/",
        {"catalogue": str(world.shelf.catalogue.pk), **_terms_form(upfront_fee="900.50")},
    )
    offer = Offer.objects.get()
    assert sent.status_code == 302 and sent["Location"] == f"/marketplace/offers/{offer.pk}/"
    assert offer.versions.get().upfront_fee_minor == 90_050


def test_a_bad_amount_is_shown_by_its_field(world):
    browser = _browser(world.northwind)
    page = browser.post(
        "/marketplace/request/",
        {"catalogue": str(world.shelf.catalogue.pk), **_terms_form(upfront_fee="12.345")},
    )
    assert page.status_code == 400
    assert b'id="id_upfront_fee-error"' in page.content
    assert not Offer.objects.exists()


def test_the_creator_counters_on_the_thread_and_sees_the_differences(world):
    offer = requested_offer(world.northwind.organisation, world.shelf)
    creator = _browser(world.harbour)
    thread = creator.get(f"/marketplace/offers/{offer.pk}/")
    assert b"Your answer is needed" in thread.content and b"Accept version 1" in thread.content
    countered = creator.post(
        f"/marketplace/offers/{offer.pk}/counter/",
        {**_terms_form(upfront_fee="1500.00", exclusive="on"), "version": "1", "message": "Hi"},
    )
    assert countered.status_code == 302
    page = _browser(world.northwind).get(f"/marketplace/offers/{offer.pk}/")
    assert b'data-testid="diff-2"' in page.content
    assert b"USD 1,200.00" in page.content and b"USD 1,500.00" in page.content
    assert b"Accept version 2" in page.content
    assert b"Accept version" not in creator.get(f"/marketplace/offers/{offer.pk}/").content


def test_accepting_from_the_page_leads_to_the_contract_and_its_pdf(world):
    offer = requested_offer(world.northwind.organisation, world.shelf)
    creator = _browser(world.harbour)
    accepted = creator.post(f"/marketplace/offers/{offer.pk}/accept/", {"version": "1"})
    agreement = Agreement.objects.get()
    assert accepted["Location"] == f"/marketplace/agreements/{agreement.pk}/"
    contract = _browser(world.northwind).get(accepted["Location"])
    assert b"Pay USD 1,200.00" in contract.content
    assert b"Salt Roads" in contract.content and b"70.00 %" in contract.content
    assert b"Pay USD" not in creator.get(accepted["Location"]).content  # only the licensee pays
    pdf = creator.get(f"/marketplace/agreements/{agreement.pk}/contract.pdf")
    assert pdf["Content-Type"] == "application/pdf" and pdf.content.startswith(b"%PDF")


def test_a_stale_accept_from_an_old_page_says_why(world):
    offer = requested_offer(world.northwind.organisation, world.shelf)
    creator = _browser(world.harbour)
    creator.post(f"/marketplace/offers/{offer.pk}/reject/", {"version": "1"})
    page = creator.post(f"/marketplace/offers/{offer.pk}/accept/", {"version": "1"}, follow=True)
    assert b"This offer is rejected." in page.content
    assert not Agreement.objects.exists()


def test_the_certificate_downloads_from_an_active_agreement(world):
    agreement = accepted_agreement(
        world.northwind.organisation, world.shelf, terms={"upfront_fee_minor": 0}
    )
    download = _browser(world.northwind).get(
        f"/marketplace/agreements/{agreement.pk}/certificate.json"
    )
    assert download.status_code == 200
    assert json.loads(download.content)["certificate"]["agreement_id"] == agreement.pk


def test_other_organisations_see_nothing(world, tenant_factory):
    agreement = accepted_agreement(world.northwind.organisation, world.shelf)
    stranger = _browser(tenant_factory())
    for path in (
        f"/marketplace/offers/{agreement.offer_id}/",
        f"/marketplace/agreements/{agreement.pk}/",
        f"/marketplace/agreements/{agreement.pk}/contract.pdf",
        f"/marketplace/agreements/{agreement.pk}/certificate.json",
    ):
        assert stranger.get(path).status_code == 404, path
    response = stranger.post(f"/marketplace/offers/{agreement.offer_id}/accept/", {"version": "1"})
    assert response.status_code == 404


def test_the_nav_badge_counts_unread_notifications_and_opening_one_reads_it(world):
    offer = requested_offer(world.northwind.organisation, world.shelf)
    creator = _browser(world.harbour)
    dashboard = creator.get("/creator/")
    assert b'data-testid="notification-badge">1<' in dashboard.content
    assert b"1 offer awaiting your answer" in dashboard.content
    notification = Notification.objects.get(organisation=world.harbour.organisation)
    opened = creator.get(f"/notifications/{notification.pk}/open/")
    assert opened["Location"] == f"/marketplace/offers/{offer.pk}/"
    assert b"notification-badge" not in creator.get("/creator/").content


def test_the_developer_dashboard_shows_agreements_awaiting_payment(world):
    accepted_agreement(world.northwind.organisation, world.shelf)
    page = _browser(world.northwind).get("/developer/")
    assert b"1 agreement awaiting payment" in page.content


def test_the_signing_keys_are_public(world, client):
    accepted_agreement(world.northwind.organisation, world.shelf, terms={"upfront_fee_minor": 0})
    keys = client.get("/.well-known/trainright-keys.json")
    assert keys.status_code == 200 and keys["Access-Control-Allow-Origin"] == "*"
    assert keys.json()["keys"][0]["status"] == "active"
    assert client.get("/api/v1/certificates/keys/").json() == keys.json()


def test_staff_see_marketplace_records_in_the_admin_and_can_terminate(world, admin_client):
    agreement = accepted_agreement(world.northwind.organisation, world.shelf)
    for path in (
        "/admin/marketplace/offer/",
        f"/admin/marketplace/offer/{agreement.offer_id}/change/",
        "/admin/marketplace/agreement/",
        f"/admin/marketplace/agreement/{agreement.pk}/change/",
        "/admin/marketplace/checkoutattempt/",
        "/admin/marketplace/licenceclaim/",
        "/admin/marketplace/signingkey/",
        "/admin/marketplace/notification/",
    ):
        assert admin_client.get(path).status_code == 200, path
    response = admin_client.post(
        "/admin/marketplace/agreement/",
        {"action": "terminate_agreements", "_selected_action": [agreement.pk]},
    )
    assert response.status_code == 302
    assert Agreement.objects.get(pk=agreement.pk).status == Agreement.Status.TERMINATED
