"""Negotiation through the API: request, counters, accept, reject, withdraw, expiry; whose turn
it is; stale versions; consent withdrawn mid-negotiation."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core import mail
from django.utils import timezone

from marketplace.models import Agreement, Notification, Offer, OfferEvent
from marketplace.negotiation import offers_expire_due
from marketplace.notifications import notification_email_send
from tests.marketplace.factories import licensable_catalogue, withdraw_consent, work_in

pytestmark = [pytest.mark.django_db, pytest.mark.dates]


def _request(world, **extra):
    body = {"catalogues": [world.shelf.catalogue.pk], "uses": ["ai-train"], **extra}
    response = world.northwind.api().post("/api/v1/offers/", body, format="json")
    assert response.status_code == 201, response.json()
    return response.json()


def _counter(tenant, offer_id, version, **body):
    return tenant.api().post(
        f"/api/v1/offers/{offer_id}/counter/", {"version": version, **body}, format="json"
    )


def test_a_request_starts_from_the_listed_terms_over_the_licensable_works(world):
    hidden = work_in(world.shelf.catalogue, title="Not opted in")
    withdraw_consent(hidden)
    offer = _request(world, message="For our 2027 model.")

    assert offer["status"] == "awaiting_licensor"
    assert offer["party_to_answer"] == "licensor"
    assert offer["licensor"]["name"] == "Harbour Press"
    (first,) = offer["thread"]
    assert first["version"]["proposed_by"] == "licensee"
    assert first["version"]["work_count"] == 2  # the work without consent is left out
    terms = first["version"]["terms"]
    assert (terms["upfront_fee_minor"], terms["currency"], terms["permitted_uses"]) == (
        120_000,
        "USD",
        ["ai-train"],
    )
    works = world.northwind.api().get(f"/api/v1/offers/{offer['id']}/works/").json()
    assert {w["title"] for w in works["results"]} == {"Salt Roads", "The Quiet Key"}


def test_counters_alternate_and_the_thread_shows_what_changed(world):
    offer = _request(world, terms={"upfront_fee_minor": 80_000})
    countered = _counter(
        world.harbour,
        offer["id"],
        1,
        terms={"upfront_fee_minor": 110_000, "rate_tokens_trained_minor": "0.3"},
        message="We need a usage rate too.",
    )
    assert countered.status_code == 201, countered.json()
    assert countered.json()["party_to_answer"] == "licensee"
    again = _counter(world.northwind, offer["id"], 2, terms={"upfront_fee_minor": 100_000})
    assert again.status_code == 201, again.json()

    thread = world.harbour.api().get(f"/api/v1/offers/{offer['id']}/versions/").json()["results"]
    assert [step["version"]["proposed_by"] for step in thread] == [
        "licensee",
        "licensor",
        "licensee",
    ]
    second = {c["term"]: (c["before"], c["after"]) for c in thread[1]["changes"]}
    assert second == {
        "upfront_fee_minor": ("USD 800.00", "USD 1,100.00"),
        "rate_tokens_trained_minor": ("—", "USD 0.003"),
    }
    third = {c["term"]: (c["before"], c["after"]) for c in thread[2]["changes"]}
    assert third == {"upfront_fee_minor": ("USD 1,100.00", "USD 1,000.00")}
    assert thread[2]["version"]["terms"]["rate_tokens_trained_minor"] == "0.3000000000"
    assert OfferEvent.objects.filter(offer_id=offer["id"]).count() == 3


def test_only_the_party_that_did_not_propose_may_answer(world):
    offer = _request(world)
    own = world.northwind.api().post(
        f"/api/v1/offers/{offer['id']}/accept/", {"version": 1}, format="json"
    )
    assert own.status_code == 403
    assert own.json()["code"] == "not_your_turn"
    assert _counter(world.northwind, offer["id"], 1).status_code == 403
    assert not Agreement.objects.exists()


def test_accepting_a_stale_version_answers_409_and_changes_nothing(world):
    offer = _request(world)
    assert _counter(world.harbour, offer["id"], 1, terms={"exclusive": True}).status_code == 201
    assert _counter(world.northwind, offer["id"], 2, terms={"exclusive": False}).status_code == 201
    before = (OfferEvent.objects.count(), Offer.objects.get().status)

    # Harbour accepts version 2 (its own, since countered) rather than the current version 3.
    stale = world.harbour.api().post(
        f"/api/v1/offers/{offer['id']}/accept/", {"version": 2}, format="json"
    )
    assert stale.status_code == 409
    problem = stale.json()
    assert problem["code"] == "stale_version"
    assert problem["current"]["latest_version"] == 3
    assert problem["current"]["party_to_answer"] == "licensor"
    assert (OfferEvent.objects.count(), Offer.objects.get().status) == before
    assert not Agreement.objects.exists()


def test_acceptance_names_the_version_and_creates_one_agreement(world):
    offer = _request(world)
    _counter(world.harbour, offer["id"], 1, terms={"upfront_fee_minor": 150_000})
    accepted = world.northwind.api().post(
        f"/api/v1/offers/{offer['id']}/accept/", {"version": 2}, format="json"
    )
    assert accepted.status_code == 201, accepted.json()
    agreement = accepted.json()
    assert agreement["status"] == "awaiting_payment"
    assert agreement["accepted_version"] == 2
    assert agreement["upfront_fee_total_minor"] == 150_000
    again = world.northwind.api().post(
        f"/api/v1/offers/{offer['id']}/accept/", {"version": 2}, format="json"
    )
    assert again.status_code == 409
    assert again.json()["code"] == "offer_closed"
    assert again.json()["current"]["agreement"] == agreement["id"]
    assert Agreement.objects.count() == 1


def test_acceptance_fails_listing_works_whose_consent_was_withdrawn(world):
    offer = _request(world)
    salt_roads = world.shelf.works[0]
    withdraw_consent(salt_roads)
    response = world.harbour.api().post(
        f"/api/v1/offers/{offer['id']}/accept/", {"version": 1}, format="json"
    )
    assert response.status_code == 422
    problem = response.json()
    assert problem["code"] == "works_not_licensable"
    assert [e["work"] for e in problem["errors"]] == [salt_roads.pk]
    assert "Salt Roads" in problem["detail"]
    assert "no consent for ai-train" in problem["errors"][0]["reasons"][0]
    assert Offer.objects.get().status == Offer.Status.AWAITING_LICENSOR
    assert not Agreement.objects.exists()

    # Dropping the work in a counter lets the negotiation go on.
    narrowed = _counter(world.harbour, offer["id"], 1, remove_works=[salt_roads.pk])
    assert narrowed.status_code == 201, narrowed.json()
    assert narrowed.json()["thread"][1]["works_removed"] == 1
    accepted = world.northwind.api().post(
        f"/api/v1/offers/{offer['id']}/accept/", {"version": 2}, format="json"
    )
    assert accepted.status_code == 201
    assert accepted.json()["work_count"] == 1


def test_a_request_for_a_work_without_consent_is_refused_with_the_work_named(world):
    withdraw_consent(world.shelf.works[1])
    response = world.northwind.api().post(
        "/api/v1/offers/",
        {"works": [w.pk for w in world.shelf.works], "uses": ["ai-train"]},
        format="json",
    )
    assert response.status_code == 422
    assert [e["work"] for e in response.json()["errors"]] == [world.shelf.works[1].pk]
    assert not Offer.objects.exists()


def test_a_selection_spanning_two_catalogue_owners_is_refused(world, tenant_factory):
    other = licensable_catalogue(tenant_factory().organisation)
    response = world.northwind.api().post(
        "/api/v1/offers/",
        {"catalogues": [world.shelf.catalogue.pk, other.catalogue.pk], "uses": ["ai-train"]},
        format="json",
    )
    assert response.status_code == 422
    assert response.json()["code"] == "invalid_selection"


def test_uses_the_works_do_not_consent_to_cannot_be_requested(world):
    response = world.northwind.api().post(
        "/api/v1/offers/",
        {"catalogues": [world.shelf.catalogue.pk], "uses": ["synthetic-likeness"]},
        format="json",
    )
    assert response.status_code == 422


def test_a_creator_cannot_ask_for_a_licence(world):
    response = world.harbour.api().post(
        "/api/v1/offers/", {"catalogues": [world.shelf.catalogue.pk], "uses": ["ai-train"]},
        format="json",
    )  # fmt: skip
    assert response.status_code == 403


def test_the_answering_party_rejects_and_the_proposer_withdraws(world):
    first = _request(world)
    rejected = world.harbour.api().post(
        f"/api/v1/offers/{first['id']}/reject/",
        {"version": 1, "message": "Not at that price."},
        format="json",
    )
    assert rejected.status_code == 200
    assert rejected.json()["status"] == "rejected"
    assert rejected.json()["thread"][0]["version"]["number"] == 1

    second = _request(world)
    assert (
        world.harbour.api()
        .post(f"/api/v1/offers/{second['id']}/withdraw/", {}, format="json")
        .status_code
        == 403
    )
    withdrawn = world.northwind.api().post(
        f"/api/v1/offers/{second['id']}/withdraw/", {"message": "Plans changed."}, format="json"
    )
    assert withdrawn.json()["status"] == "withdrawn"
    late = world.harbour.api().post(
        f"/api/v1/offers/{second['id']}/accept/", {"version": 1}, format="json"
    )
    assert late.status_code == 409
    event = OfferEvent.objects.get(offer_id=second["id"], kind="withdrawn")
    assert (event.actor_party, event.message) == ("licensee", "Plans changed.")


def test_offers_past_their_deadline_expire_and_cannot_be_accepted(world):
    offer = _request(world, respond_by=(timezone.now() + timedelta(hours=1)).isoformat())
    later = timezone.now() + timedelta(hours=2)
    assert offers_expire_due(now=timezone.now()) == 0
    assert offers_expire_due(now=later) == 1
    assert offers_expire_due(now=later) == 0
    assert Offer.objects.get(pk=offer["id"]).status == Offer.Status.EXPIRED
    titles = set(Notification.objects.filter(offer_id=offer["id"]).values_list("title", flat=True))
    assert f"Offer {offer['id']} was expired" in titles
    response = world.harbour.api().post(
        f"/api/v1/offers/{offer['id']}/accept/", {"version": 1}, format="json"
    )
    assert response.status_code == 409


def test_a_deadline_in_the_past_is_refused(world):
    response = world.northwind.api().post(
        "/api/v1/offers/",
        {
            "catalogues": [world.shelf.catalogue.pk],
            "uses": ["ai-train"],
            "respond_by": (timezone.now() - timedelta(minutes=1)).isoformat(),
        },
        format="json",
    )
    assert response.status_code == 400
    assert "respond_by" in response.json()["errors"]


def test_the_other_party_is_notified_in_the_app_and_by_email(world):
    offer = _request(world, message="Hello")
    notification = Notification.objects.get(organisation=world.harbour.organisation)
    assert notification.kind == Notification.Kind.YOUR_TURN
    assert notification.link == f"/marketplace/offers/{offer['id']}/"
    badge = world.harbour.api().get("/api/v1/notifications/?unread=true").json()
    assert badge["count"] == 1
    assert world.northwind.api().get("/api/v1/notifications/").json()["count"] == 0

    assert notification_email_send(notification_id=notification.pk) is True
    assert notification_email_send(notification_id=notification.pk) is False  # once only
    (email,) = mail.outbox
    assert email.to == [world.harbour.owner.email]
    assert "Northwind AI asks for a licence" in email.subject
    assert f"/marketplace/offers/{offer['id']}/" in email.body

    read = world.harbour.api().post(f"/api/v1/notifications/{notification.pk}/read/")
    assert read.json() == {"marked_read": 1}
    assert world.harbour.api().get("/api/v1/notifications/?unread=true").json()["count"] == 0
