"""The finance API and console: finance staff only (404 to everyone else), the exceptions queue
worked over HTTP, period close checks shown, reports and exports downloaded."""

from __future__ import annotations

import csv
import io

import pytest
from django.utils import timezone
from openpyxl import load_workbook
from rest_framework.test import APIClient

from accounts.models import Organisation
from finance.models import ExceptionKind, ReconciliationException
from finance.reconciliation import reconciliation_run_for_period
from ledger.services import accounting_period_for
from tests.finance.test_reconciliation import finance_user, scenario  # noqa: F401

pytestmark = pytest.mark.django_db

FINANCE_PAGES = [
    "/finance/console/",
    "/finance/settlement/",
    "/finance/collections/",
    "/finance/payouts/",
    "/finance/reconciliation/",
    "/finance/exceptions/",
    "/finance/periods/",
    "/finance/reports/",
    "/finance/reports/receivables/?period=2026-03&currency=USD",
    "/finance/exports/",
]


@pytest.fixture
def finance_api(finance_user):  # noqa: F811
    client = APIClient()
    client.force_login(finance_user)
    return client


def test_everyone_but_finance_staff_gets_404(tenant_factory, client):
    creator = tenant_factory(Organisation.Kind.CREATOR)
    for api in (creator.api(), creator.session()):
        assert api.get("/api/v1/finance/reconciliation-runs/").json()["results"] == []
        assert api.get("/api/v1/finance/reports/trial_balance/").status_code == 404
        response = api.post("/api/v1/finance/reconciliation-runs/", {"period": "2026-03"})
        assert response.status_code == 404
    client.force_login(creator.owner)
    for url in FINANCE_PAGES:
        assert client.get(url).status_code == 404, url


def test_finance_pages_render(finance_user, client):  # noqa: F811
    client.force_login(finance_user)
    for url in FINANCE_PAGES:
        response = client.get(url)
        assert response.status_code == 200, url
    page = client.get("/finance/periods/2026-03/").content.decode()
    assert "Reconciliation clean" in page and "No completed reconciliation run covers" in page


def test_the_queue_is_worked_over_the_api(scenario, finance_user, finance_api):  # noqa: F811
    period = accounting_period_for(day=timezone.now().date())
    reconciliation_run_for_period(period=period, actor=finance_user)
    listed = finance_api.get("/api/v1/finance/reconciliation-exceptions/?status=open").json()
    assert listed["count"] == 3
    ghost = ReconciliationException.objects.get(kind=ExceptionKind.MISSING_IN_STRIPE)
    url = f"/api/v1/finance/reconciliation-exceptions/{ghost.pk}/"

    assigned = finance_api.post(f"{url}assign/", {"assignee_id": finance_user.pk}, format="json")
    assert assigned.json()["status"] == "assigned"
    commented = finance_api.post(f"{url}comment/", {"body": "No transfer."}, format="json")
    assert [c["body"] for c in commented.json()["comments"]] == ["No transfer."]
    refused = finance_api.post(
        f"{url}resolve/", {"resolution": "adjust_to_stripe", "reason": "x"}, format="json"
    )
    assert refused.status_code == 422 and "Reverse" in refused.json()["detail"]
    resolved = finance_api.post(
        f"{url}resolve/",
        {"resolution": "reverse_ledger", "reason": "The transfer never happened."},
        format="json",
    )
    assert resolved.json()["status"] == "resolved" and resolved.json()["adjusting_entry"]

    periods = finance_api.get("/api/v1/finance/periods/").json()["results"]
    current = next(p for p in periods if p["period_label"] == period.label)
    checks = {c["name"]: c["passed"] for c in current["checks"]}
    assert checks["Reconciliation clean"] is False
    closing = finance_api.post(f"/api/v1/finance/periods/{current['id']}/close/")
    assert closing.status_code == 409 and "2 unresolved" in closing.json()["detail"]


def test_reports_download_as_csv_and_xlsx(finance_user, client):  # noqa: F811
    client.force_login(finance_user)
    response = client.get("/finance/downloads/trial_balance.csv?currency=USD")
    assert response.streaming
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert rows[0][:2] == ["currency", "code"]
    xlsx = client.get("/finance/downloads/journal.xlsx?period=2026-03")
    workbook = load_workbook(io.BytesIO(b"".join(xlsx.streaming_content)), read_only=True)
    assert next(workbook.active.values)[:3] == ("date", "entry", "account_code")
    assert client.get("/finance/downloads/journal.pdf").status_code == 404
    api = APIClient()
    api.force_login(finance_user)
    report = api.get("/api/v1/finance/reports/commission/?period=2026-13")
    assert report.status_code == 422
