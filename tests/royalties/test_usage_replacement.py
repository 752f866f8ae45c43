"""A duplicate answers the stored version as it is (issue 13, finding 7)."""

from __future__ import annotations

import json

import pytest
from rest_framework.test import APIClient

from accounts.models import Organisation
from royalties.models.usage import UsageReport
from tests.conftest import make_tenant
from tests.royalties.factories import submit_usage, usage_world

pytestmark = pytest.mark.django_db


@pytest.fixture
def parties():
    licensee = make_tenant(Organisation.Kind.AI_DEVELOPER, "Northwind AI")
    licensor = make_tenant(Organisation.Kind.CREATOR, "Harbour Press")
    world = usage_world(licensee=licensee.organisation, licensor=licensor.organisation)
    return world, licensee


def url(world, **params: str) -> str:
    params = {"period": "2026-10", "report_id": "oct", **params}
    query = "&".join(f"{key}={value}" for key, value in params.items())
    return f"/api/v1/agreements/{world.agreement.pk}/usage-reports/?{query}"


def lines(world, *quantities: int) -> str:
    work = world.works[0].pk
    return "".join(
        json.dumps({"work_id": work, "metric": "tokens_trained", "quantity": q}) + "\n"
        for q in quantities
    )


def post(client: APIClient, target: str, body: str, content_type: str = "application/x-ndjson"):
    return client.post(target, data=body.encode(), content_type=content_type)


# --- finding 7: a duplicate of the current version says it is current ------------------------


def test_a_duplicate_of_the_current_version_answers_that_it_is_current(parties):
    world, licensee = parties
    client = licensee.api()
    first = post(client, url(world), lines(world, 100))
    again = post(client, url(world), lines(world, 100))

    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json()["id"] == first.json()["id"]
    assert again.json()["is_current"] is True
    assert UsageReport.objects.get().is_current


def test_a_duplicate_of_an_older_version_answers_that_it_is_not(parties):
    world, licensee = parties
    client = licensee.api()
    v1 = post(client, url(world), lines(world, 100)).json()
    v2 = post(client, url(world), lines(world, 150)).json()

    late_v1 = post(client, url(world), lines(world, 100))
    late_v2 = post(client, url(world), lines(world, 150))

    assert (late_v1.json()["id"], late_v1.json()["is_current"]) == (v1["id"], False)
    assert (late_v2.json()["id"], late_v2.json()["is_current"]) == (v2["id"], True)
    assert submit_usage(world, lines(world, 150), report_id="oct").report.is_current
