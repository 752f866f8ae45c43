"""The settlement API: runs for the platform's finance team only, statements for their holder
(and finance), with CSV and PDF downloads."""

from __future__ import annotations

import csv
import io

import pytest
from rest_framework.test import APIClient

from accounts.models import Membership, Organisation
from settlement.models import SettlementRun, Statement
from tests.factories import MembershipFactory, OrganisationFactory, api_key_for
from tests.money.settlement_world import OCTOBER, report_usage, worked_example
from tests.settlement.test_settlement_runs import settle

pytestmark = pytest.mark.django_db


@pytest.fixture
def finance() -> APIClient:
    platform = OrganisationFactory(name="TrainRight", kind=Organisation.Kind.PLATFORM)
    member = MembershipFactory(organisation=platform, role=Membership.Role.FINANCE)
    client = APIClient()
    client.force_login(member.user)
    return client


@pytest.fixture
def settled_world():
    world = worked_example()
    report_usage(
        world.agreement,
        OCTOBER,
        [(world.w1, "tokens_trained", 12_000_000), (world.w2, "tokens_trained", 4_000_000)],
    )
    settle(OCTOBER)
    return world


def _key_client(organisation: Organisation) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {api_key_for(organisation)}")
    return client


def test_finance_creates_a_run_and_watches_its_progress(finance):
    response = finance.post("/api/v1/settlement-runs/", {"period": "2026-10"}, format="json")
    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["period"], body["status"], body["percent_done"]) == ("2026-10", "created", 0)
    again = finance.post("/api/v1/settlement-runs/", {"period": "2026-10"}, format="json")
    assert again.json()["id"] == body["id"]  # one run per month
    listed = finance.get("/api/v1/settlement-runs/?status=created").json()
    assert [run["id"] for run in listed["results"]] == [body["id"]]

    future = finance.post("/api/v1/settlement-runs/", {"period": "2999-01"}, format="json")
    assert future.status_code == 422
    assert future["Content-Type"] == "application/problem+json"
    assert "period" in future.json()["errors"]


def test_a_completed_run_reports_full_progress(finance, settled_world):
    run = SettlementRun.objects.get()
    body = finance.get(f"/api/v1/settlement-runs/{run.pk}/").json()
    assert (body["status"], body["percent_done"], body["lines_rated"]) == ("completed", 100, 2)
    assert body["statements_total"] == 4
    started = finance.post(f"/api/v1/settlement-runs/{run.pk}/start/")
    assert started.status_code == 200 and started.json()["status"] == "completed"


def test_only_platform_finance_sees_and_runs_settlement(settled_world):
    run = SettlementRun.objects.get()
    harbour = _key_client(settled_world.harbour)
    assert harbour.get(f"/api/v1/settlement-runs/{run.pk}/").status_code == 404
    assert harbour.get("/api/v1/settlement-runs/").json()["results"] == []
    refused = harbour.post("/api/v1/settlement-runs/", {"period": "2026-09"}, format="json")
    assert refused.status_code == 403


def test_holders_read_their_own_statements_with_csv_and_pdf(settled_world, finance):
    harbour = _key_client(settled_world.harbour)
    listed = harbour.get("/api/v1/statements/").json()["results"]
    assert [(s["holder_name"], s["earned_minor"], s["period"]) for s in listed] == [
        ("Harbour Press", 1242, "2026-10")
    ]
    statement_id = listed[0]["id"]
    download = harbour.get(f"/api/v1/statements/{statement_id}/csv/")
    assert download.status_code == 200 and download["Content-Type"] == "text/csv"
    rows = list(csv.DictReader(io.StringIO(download.content.decode())))
    lines = [row for row in rows if row["line_kind"] == "usage"]
    assert [
        (row["work"], row["quantity"], row["rate_minor"], row["amount_minor"]) for row in lines
    ] == [
        ("Salt Roads", "12000000", "0.3", "972"),
        ("The Quiet Key", "4000000", "0.3", "270"),
    ]
    assert lines[0]["licensee"] == "Northwind AI" and lines[0]["uses"] == "ai-train"
    pdf = harbour.get(f"/api/v1/statements/{statement_id}/pdf/")
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")

    ana = _key_client(settled_world.ana)
    assert ana.get(f"/api/v1/statements/{statement_id}/").status_code == 404
    assert ana.get(f"/api/v1/statements/{statement_id}/csv/").status_code == 404
    assert len(finance.get("/api/v1/statements/").json()["results"]) == Statement.objects.count()
