"""A correction never replaces a report with nothing, or cuts it by more than half, unless the
licensee says so; a duplicate answers the stored version as it is (issue 13, findings 3 and 7).
"""

from __future__ import annotations

import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from rest_framework.test import APIClient

from accounts.models import Organisation
from tests.conftest import make_tenant
from tests.money.factories import submit_usage, usage_world
from usage.models import UsageLine, UsageReport

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


def state() -> list[tuple]:
    versions = UsageReport.objects.order_by("version")
    rows = versions.values_list("version", "is_current", "line_count")
    return [*rows, ("lines", UsageLine.objects.count())]


EMPTY_BODIES = [
    pytest.param("", "application/x-ndjson", id="0-byte JSON Lines"),
    pytest.param("\n\n   \n", "application/x-ndjson", id="blank lines only"),
    pytest.param("work_id,metric,quantity\n", "text/csv", id="CSV header only"),
    pytest.param("work_id,metric,quantity\n,,\n\n", "text/csv", id="CSV header and blanks"),
]


@pytest.mark.parametrize(("body", "content_type"), EMPTY_BODIES)
def test_an_empty_body_never_silently_replaces_a_report(parties, body, content_type):
    world, licensee = parties
    client = licensee.api()
    assert post(client, url(world), lines(world, 100, 200)).status_code == 201
    before = state()

    response = post(client, url(world), body, content_type)

    assert response.status_code == 422, response.content
    assert response["Content-Type"] == "application/problem+json"
    problem = response.json()
    assert problem["code"] == "empty_report"
    assert problem["current_total"] == 300 and problem["new_total"] == 0
    assert "replace_with_empty=true" in problem["detail"]
    assert state() == before

    replaced = post(client, url(world, replace_with_empty="true"), body, content_type)

    assert replaced.status_code == 201, replaced.content
    assert (replaced.json()["version"], replaced.json()["line_count"]) == (2, 0)
    assert replaced.json()["is_current"] is True
    assert state() == [(1, False, 2), (2, True, 0), ("lines", 2)]


def test_a_first_version_with_no_lines_is_refused_too(parties):
    world, licensee = parties
    response = post(licensee.api(), url(world), "")
    assert response.status_code == 422
    assert response.json()["code"] == "empty_report"
    assert not UsageReport.objects.exists()


def test_a_correction_cutting_the_total_by_more_than_half_needs_confirmation(parties):
    world, licensee = parties
    client = licensee.api()
    assert post(client, url(world), lines(world, 600, 400)).status_code == 201
    before = state()

    refused = post(client, url(world), lines(world, 499))

    assert refused.status_code == 422, refused.content
    assert refused["Content-Type"] == "application/problem+json"
    problem = refused.json()
    assert problem["code"] == "large_reduction"
    assert (problem["current_total"], problem["new_total"]) == (1000, 499)
    assert "confirm_reduction=true" in problem["detail"]
    assert state() == before

    confirmed = post(client, url(world, confirm_reduction="true"), lines(world, 499))
    assert confirmed.status_code == 201, confirmed.content
    assert confirmed.json()["version"] == 2

    # An increase is always fine, and exactly half is not more than half.
    assert post(client, url(world), lines(world, 1_000)).status_code == 201
    assert post(client, url(world), lines(world, 500)).status_code == 201
    assert post(client, url(world), lines(world, 200, 50, 0)).status_code == 201
    assert post(client, url(world), lines(world, 124)).status_code == 422
    assert UsageReport.objects.get(is_current=True).version == 5


def test_the_rules_hold_in_the_service_for_every_caller(parties):
    world, _ = parties
    from usage.services import UsageReportNeedsConfirmation

    submit_usage(world, lines(world, 1_000), report_id="svc")
    with pytest.raises(UsageReportNeedsConfirmation) as raised:
        submit_usage(world, lines(world, 1), report_id="svc")
    assert raised.value.code == "large_reduction"
    assert (raised.value.current_total, raised.value.new_total) == (1_000, 1)
    assert UsageReport.objects.filter(report_id="svc").count() == 1


def test_the_schema_documents_both_parameters(parties):
    _, licensee = parties
    schema = licensee.api().get("/api/schema/?format=json").json()
    post_op = schema["paths"]["/api/v1/agreements/{agreement_id}/usage-reports/"]["post"]
    parameters = {parameter["name"]: parameter for parameter in post_op["parameters"]}
    assert parameters["replace_with_empty"]["in"] == "query"
    assert parameters["confirm_reduction"]["schema"]["type"] == "boolean"
    assert "empty_report" in post_op["description"] and "large_reduction" in post_op["description"]


def _upload(client: Client, world, text: str, **fields: str):
    data = {
        "report_id": "october",
        "period": "2026-10",
        "file": SimpleUploadedFile("usage.csv", text.encode(), content_type="text/csv"),
        **fields,
    }
    return client.post(f"/usage/agreements/{world.agreement.pk}/", data)


def test_the_web_form_asks_before_replacing_with_nothing_or_much_less(parties):
    world, licensee = parties
    client = Client()
    client.force_login(licensee.owner)
    work = world.works[0].pk
    header = "work_id,metric,quantity\n"
    assert _upload(client, world, f"{header}{work},tokens_trained,900\n").status_code == 302

    empty = _upload(client, world, header)
    assert empty.status_code == 422
    assert "replace_with_empty" in empty.context["form"].errors
    assert b'id="id_replace_with_empty-error"' in empty.content

    smaller = f"{header}{work},tokens_trained,100\n"
    cut = _upload(client, world, smaller)
    assert cut.status_code == 422
    assert "confirm_reduction" in cut.context["form"].errors
    assert "900" in cut.content.decode() and "100" in cut.content.decode()
    assert UsageReport.objects.count() == 1

    assert _upload(client, world, smaller, confirm_reduction="on").status_code == 302
    assert _upload(client, world, header, replace_with_empty="on").status_code == 302
    versions = UsageReport.objects.order_by("version")
    assert list(versions.values_list("line_count", "is_current")) == [
        (1, False),
        (1, False),
        (0, True),
    ]


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
