"""The usage report API: JSON Lines (gzip accepted) and CSV bodies streamed in, 201 / 200 for a
duplicate / 422 with every bad line, both parties read, nobody else sees anything."""

from __future__ import annotations

import gzip
import json

import pytest
from rest_framework.test import APIClient

from accounts.models import Organisation
from tests.conftest import make_tenant
from tests.money.factories import UsageWorld, usage_world
from usage.models import UsageLine, UsageReport

pytestmark = pytest.mark.django_db


@pytest.fixture
def parties():
    licensee = make_tenant(Organisation.Kind.AI_DEVELOPER, "Northwind AI")
    licensor = make_tenant(Organisation.Kind.CREATOR, "Harbour Press")
    world = usage_world(licensee=licensee.organisation, licensor=licensor.organisation)
    return world, licensee, licensor


def upload_url(world: UsageWorld, **params: str) -> str:
    query = "&".join(f"{key}={value}" for key, value in {"period": "2026-10", **params}.items())
    return f"/api/v1/agreements/{world.agreement.pk}/usage-reports/?{query}"


def post(client: APIClient, url: str, body: bytes | str, **headers: str):
    data = body.encode() if isinstance(body, str) else body
    content_type = headers.pop("content_type", "application/x-ndjson")
    return client.post(url, data=data, content_type=content_type, **headers)


def lines_for(world: UsageWorld, *quantities: int) -> str:
    work = world.works[0].pk
    return "".join(
        json.dumps({"work_id": work, "metric": "tokens_trained", "quantity": q}) + "\n"
        for q in quantities
    )


def body_of(response) -> dict:
    if getattr(response, "streaming", False):
        return json.loads(b"".join(response.streaming_content))
    return response.json()


def test_the_licensee_reports_usage_and_a_duplicate_is_stored_once(parties):
    world, licensee, _ = parties
    client = licensee.api()
    url = upload_url(world, report_id="oct-run-7")

    first = post(client, url, lines_for(world, 100, 200))
    again = post(client, url, lines_for(world, 100, 200))

    assert first.status_code == 201, first.content
    assert again.status_code == 200
    assert again.json()["id"] == first.json()["id"]
    assert first.json() | {"submitted_at": None, "id": None, "content_sha256": None} == {
        "id": None,
        "agreement": world.agreement.pk,
        "report_id": "oct-run-7",
        "period": "2026-10",
        "period_start": "2026-10-01",
        "period_end": "2026-11-01",
        "version": 1,
        "is_current": True,
        "supersedes": None,
        "status": "accepted",
        "currency": "USD",
        "line_count": 2,
        "rejected_line_count": 0,
        "rejected_lines": [],
        "content_sha256": None,
        "source": "api",
        "submitted_at": None,
    }
    assert UsageReport.objects.filter(report_id="oct-run-7").count() == 1


def test_gzip_with_content_encoding_and_a_correction_as_version_two(parties):
    world, licensee, _ = parties
    client = licensee.api()
    url = upload_url(world, report_id="oct")
    assert post(client, url, lines_for(world, 1)).status_code == 201

    response = post(
        client,
        url,
        gzip.compress(lines_for(world, 5, 6).encode()),
        HTTP_CONTENT_ENCODING="gzip",
        content_type="application/jsonl",
    )

    assert response.status_code == 201, response.content
    assert (response.json()["version"], response.json()["line_count"]) == (2, 2)
    listed = client.get("/api/v1/usage-reports/?report_id=oct&is_current=true").json()
    assert [row["version"] for row in listed["results"]] == [2]


def test_a_report_with_bad_lines_is_rejected_with_each_line_and_nothing_is_stored(parties):
    world, licensee, _ = parties
    body = (
        lines_for(world, 1) + '{"work_id": 1, "metric": "tokens_trained"\n' + lines_for(world, -4)
    )
    response = post(licensee.api(), upload_url(world, report_id="bad"), body)

    assert response.status_code == 422
    assert response["Content-Type"] == "application/problem+json"
    problem = response.json()
    assert problem["code"] == "usage_report_rejected"
    assert [(e["line"], e["code"]) for e in problem["errors"]] == [
        (2, "malformed_json"),
        (3, "negative_quantity"),
    ]
    assert not UsageReport.objects.exists() and not UsageLine.objects.exists()


def test_partial_acceptance_stores_the_good_lines(parties):
    world, licensee, _ = parties
    response = post(
        licensee.api(),
        upload_url(world, report_id="partial", partial="true"),
        lines_for(world, 1, -2, 3),
    )
    assert response.status_code == 201
    report = response.json()
    assert (report["status"], report["line_count"], report["rejected_line_count"]) == (
        "partially_accepted",
        2,
        1,
    )
    assert report["rejected_lines"][0]["line"] == 2


def test_more_bad_lines_than_fit_a_page_are_all_streamed_back(parties):
    world, licensee, _ = parties
    response = post(
        licensee.api(), upload_url(world, report_id="many"), lines_for(world, *[-1] * 2_500)
    )
    assert response.status_code == 422
    assert response.streaming and response["Content-Type"] == "application/problem+json"
    problem = body_of(response)
    assert problem["status"] == 422 and problem["code"] == "usage_report_rejected"
    assert [e["line"] for e in problem["errors"]] == list(range(1, 2_501))


def test_csv_is_accepted_by_the_api_too(parties):
    world, licensee, _ = parties
    csv_body = f"metric,quantity,work_id\r\ntokens_trained,12,{world.works[1].pk}\r\n"
    response = post(
        licensee.api(), upload_url(world, report_id="csv"), csv_body, content_type="text/csv"
    )
    assert response.status_code == 201 and response.json()["line_count"] == 1


def test_the_licensor_reads_reports_and_lines_but_cannot_report(parties):
    world, licensee, licensor = parties
    created = post(licensee.api(), upload_url(world, report_id="r"), lines_for(world, 7, 8)).json()
    client = licensor.api()

    assert client.get(f"/api/v1/usage-reports/{created['id']}/").status_code == 200
    listed = client.get(f"/api/v1/agreements/{world.agreement.pk}/usage-reports/").json()
    assert [row["id"] for row in listed["results"]] == [created["id"]]
    lines = client.get(f"/api/v1/usage-reports/{created['id']}/lines/")
    assert lines.status_code == 200 and lines["Content-Type"] == "application/x-ndjson"
    assert [json.loads(row) for row in b"".join(lines.streaming_content).splitlines()] == [
        {
            "line": 1,
            "work_id": world.works[0].pk,
            "metric": "tokens_trained",
            "quantity": 7,
            "use": "",
        },
        {
            "line": 2,
            "work_id": world.works[0].pk,
            "metric": "tokens_trained",
            "quantity": 8,
            "use": "",
        },
    ]
    refused = post(client, upload_url(world, report_id="r2"), lines_for(world, 1))
    assert refused.status_code == 403


def test_another_organisation_sees_nothing(parties):
    world, licensee, _ = parties
    created = post(licensee.api(), upload_url(world, report_id="r"), lines_for(world, 1)).json()
    stranger = make_tenant(Organisation.Kind.AI_DEVELOPER, "Elsewhere AI").api()

    assert stranger.get(f"/api/v1/usage-reports/{created['id']}/").status_code == 404
    assert stranger.get(f"/api/v1/usage-reports/{created['id']}/lines/").status_code == 404
    assert (
        stranger.get(f"/api/v1/agreements/{world.agreement.pk}/usage-reports/").status_code == 404
    )
    assert post(stranger, upload_url(world, report_id="x"), lines_for(world, 1)).status_code == 404
    assert stranger.get("/api/v1/usage-reports/").json()["results"] == []


def test_bad_parameters_types_and_encodings_are_refused_before_reading(parties):
    world, licensee, _ = parties
    client = licensee.api()
    url = f"/api/v1/agreements/{world.agreement.pk}/usage-reports/"
    assert post(client, url + "?period=2026-10", lines_for(world, 1)).status_code == 400
    bad_period = post(client, url + "?report_id=a&period=2026-13", lines_for(world, 1))
    assert bad_period.status_code == 400 and "period" in bad_period.json()["errors"]
    assert (
        post(
            client, upload_url(world, report_id="a"), "{}", content_type="application/json"
        ).status_code
        == 415
    )
    assert (
        post(
            client,
            upload_url(world, report_id="a"),
            lines_for(world, 1),
            HTTP_CONTENT_ENCODING="br",
        ).status_code
        == 415
    )
    outside = post(client, upload_url(world, report_id="a", period="2027-01"), lines_for(world, 1))
    assert outside.status_code == 422
    assert outside.json()["errors"][0]["code"] in ("period_outside_term", "period_in_future")


def test_a_report_id_cannot_move_to_another_month(parties):
    world, licensee, _ = parties
    client = licensee.api()
    post(client, upload_url(world, report_id="oct"), lines_for(world, 1))
    response = post(
        client, upload_url(world, report_id="oct", period="2026-09"), lines_for(world, 2)
    )
    assert response.status_code == 409
    assert response.json()["current"]["period"] == "2026-10"


def test_a_session_user_of_the_licensee_can_report_too(parties):
    world, licensee, _ = parties
    response = post(licensee.session(), upload_url(world, report_id="web-api"), lines_for(world, 3))
    assert response.status_code == 201
    report = UsageReport.objects.get(report_id="web-api")
    assert report.submitted_by == licensee.owner


def test_the_idempotency_key_replays_the_first_answer(parties):
    world, licensee, _ = parties
    client = licensee.api()
    url = upload_url(world, report_id="idem")
    first = post(client, url, lines_for(world, 1), HTTP_IDEMPOTENCY_KEY="k-1")
    second = post(client, url, lines_for(world, 1), HTTP_IDEMPOTENCY_KEY="k-1")
    assert (first.status_code, second.status_code) == (201, 201)
    assert second["Idempotent-Replayed"] == "true"
    assert UsageReport.objects.filter(report_id="idem").count() == 1
