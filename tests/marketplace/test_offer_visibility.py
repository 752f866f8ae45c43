"""An offer never reveals a work the licensee cannot see (issue 15, finding 4): `POST
/api/v1/offers/` with any work id answered with the work's title, consent state and the names of
its pending co-holders. A hidden work (split sheet awaiting a co-holder, or no consent for any
use) now answers exactly like a work that does not exist."""

from __future__ import annotations

import pytest

from catalog.models import RightsShare, Work
from marketplace.models import Offer
from tests.marketplace.factories import creator_org, withdraw_consent, work_in

pytestmark = pytest.mark.django_db

SECRET_TITLE = "Unannounced Sequel"
CO_HOLDER = "Zelda Quill"


def _offer_for(world, work_id: int):
    return world.northwind.api().post(
        "/api/v1/offers/", {"works": [work_id], "uses": ["ai-train"]}, format="json"
    )


def _hidden_works(world) -> dict[str, Work]:
    pending = work_in(
        world.shelf.catalogue,
        title=SECRET_TITLE,
        splits=[(creator_org(CO_HOLDER), 5_000), (world.harbour.organisation, 5_000)],
    )
    RightsShare.objects.filter(work=pending, holder__name=CO_HOLDER).update(confirmed_at=None)
    unconsented = work_in(world.shelf.catalogue, title=SECRET_TITLE + " II")
    withdraw_consent(unconsented)
    return {"pending co-holder": pending, "no consent": unconsented}


def _shape(response, work_id: int) -> tuple[int, str, str]:
    body = response.json()
    return response.status_code, body["code"], body["detail"].replace(str(work_id), "<id>")


def test_a_hidden_work_answers_exactly_like_a_missing_one(world):
    missing_id = Work.objects.order_by("-pk").values_list("pk", flat=True).first() + 1000
    missing = _shape(_offer_for(world, missing_id), missing_id)
    assert missing[0] == 422
    for why, work in _hidden_works(world).items():
        response = _offer_for(world, work.pk)
        assert _shape(response, work.pk) == missing, why
        text = response.content.decode()
        assert SECRET_TITLE not in text and CO_HOLDER not in text, why
    assert not Offer.objects.exists()


def test_a_licensee_counter_cannot_probe_hidden_works_either(world):
    offer = (
        world.northwind.api()
        .post(
            "/api/v1/offers/",
            {"catalogues": [world.shelf.catalogue.pk], "uses": ["ai-train"]},
            format="json",
        )
        .json()
    )
    # The licensor counters, then the licensee names a hidden work in its answer.
    first = world.harbour.api().post(
        f"/api/v1/offers/{offer['id']}/counter/",
        {"version": 1, "terms": {"upfront_fee_minor": 130_000}},
        format="json",
    )
    assert first.status_code == 201, first.json()
    hidden = _hidden_works(world)["pending co-holder"]
    answer = world.northwind.api().post(
        f"/api/v1/offers/{offer['id']}/counter/",
        {"version": 2, "works": [hidden.pk]},
        format="json",
    )
    assert answer.status_code == 422
    text = answer.content.decode()
    assert SECRET_TITLE not in text and CO_HOLDER not in text
    assert f"Unknown works: [{hidden.pk}]" in answer.json()["detail"]
