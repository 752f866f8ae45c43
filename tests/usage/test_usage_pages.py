"""Usage report pages: the licensee uploads a CSV and sees every bad line by number, or the
stored report; the licensor sees reports but no upload form; strangers get 404."""

from __future__ import annotations

import csv
import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from accounts.models import Organisation
from tests.conftest import make_tenant
from tests.money.factories import usage_world
from usage.models import UsageReport

pytestmark = pytest.mark.django_db


@pytest.fixture
def parties():
    licensee = make_tenant(Organisation.Kind.AI_DEVELOPER, "Northwind AI")
    licensor = make_tenant(Organisation.Kind.CREATOR, "Harbour Press")
    world = usage_world(licensee=licensee.organisation, licensor=licensor.organisation)
    return world, licensee, licensor


def signed_in(tenant) -> Client:
    client = Client()
    client.force_login(tenant.owner)
    return client


def upload(client: Client, world, text: str, **fields: str):
    data = {
        "report_id": "october",
        "period": "2026-10",
        "file": SimpleUploadedFile("usage.csv", text.encode(), content_type="text/csv"),
        **fields,
    }
    return client.post(f"/usage/agreements/{world.agreement.pk}/", data)


def test_an_uploaded_csv_with_bad_lines_shows_each_one_and_stores_nothing(parties):
    world, licensee, _ = parties
    w1 = world.works[0].pk
    text = (
        "work_id,metric,quantity\n"
        f"{w1},tokens_trained,10\n{w1},tokens_trained,-1\n99999999,retrievals,1\n"
    )

    response = upload(signed_in(licensee), world, text)

    assert response.status_code == 422
    page = response.content.decode()
    assert 'data-testid="usage-errors"' in page
    assert "quantity must not be negative: -1" in page
    assert "no work has work_id 99999999" in page
    errors = [(e["line"], e["code"]) for e in response.context["rejected_errors"]]
    assert errors == [(3, "negative_quantity"), (4, "unknown_work")]
    assert not UsageReport.objects.exists()


def test_a_good_csv_is_stored_and_its_page_shows_totals_and_versions(parties):
    world, licensee, _ = parties
    w1, w2 = world.works[0].pk, world.works[1].pk
    client = signed_in(licensee)
    text = f"work_id,metric,quantity\n{w1},tokens_trained,10\n{w2},tokens_trained,15\n"

    response = upload(client, world, text)

    report = UsageReport.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/usage/reports/{report.pk}/"
    page = client.get(response["Location"]).content.decode()
    assert "Version 1 of report october stored: 2 lines." in page
    assert 'data-testid="usage-totals"' in page and "25" in page
    download = client.get(f"/usage/reports/{report.pk}/lines.csv")
    rows = list(csv.reader(io.StringIO(b"".join(download.streaming_content).decode())))
    assert rows == [
        ["line", "work_id", "metric", "quantity", "use"],
        ["2", str(w1), "tokens_trained", "10", ""],
        ["3", str(w2), "tokens_trained", "15", ""],
    ]

    again = upload(client, world, text)
    assert again.status_code == 302
    followed = client.get(again["Location"]).content.decode()
    assert "it was stored once, nothing changed" in followed
    assert UsageReport.objects.count() == 1


def test_the_template_lists_every_work_and_priced_metric_and_uploads_as_is(parties):
    world, licensee, _ = parties
    client = signed_in(licensee)
    template = client.get(f"/usage/agreements/{world.agreement.pk}/template.csv")
    text = b"".join(template.streaming_content).decode()
    rows = list(csv.DictReader(io.StringIO(text)))
    assert {(int(r["work_id"]), r["metric"]) for r in rows} == {
        (work.pk, metric)
        for work in world.works
        for metric in ("tokens_trained", "retrievals", "revenue")
    }
    assert upload(client, world, text).status_code == 302


def test_the_licensor_sees_the_reports_but_no_upload_form(parties):
    world, licensee, licensor = parties
    upload(
        signed_in(licensee), world, f"work_id,metric,quantity\n{world.works[0].pk},retrievals,3\n"
    )
    client = signed_in(licensor)

    page = client.get(f"/usage/agreements/{world.agreement.pk}/")
    assert page.status_code == 200
    assert b'data-testid="usage-upload"' not in page.content
    assert b"october" in page.content
    assert upload(client, world, "work_id,metric,quantity\n").status_code == 403
    assert b"october" in client.get("/usage/").content


def test_strangers_get_404(parties):
    world, licensee, _ = parties
    upload(
        signed_in(licensee), world, f"work_id,metric,quantity\n{world.works[0].pk},retrievals,3\n"
    )
    report = UsageReport.objects.get()
    stranger = signed_in(make_tenant(Organisation.Kind.AI_DEVELOPER, "Elsewhere AI"))
    for url in (
        f"/usage/agreements/{world.agreement.pk}/",
        f"/usage/agreements/{world.agreement.pk}/template.csv",
        f"/usage/reports/{report.pk}/",
        f"/usage/reports/{report.pk}/lines.csv",
    ):
        assert stranger.get(url).status_code == 404, url
    assert b"october" not in stranger.get("/usage/").content


def test_form_errors_show_by_the_field(parties):
    world, licensee, _ = parties
    response = upload(signed_in(licensee), world, "x", period="October")
    assert response.status_code == 422
    assert b'id="id_period-error"' in response.content
