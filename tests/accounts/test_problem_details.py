import pytest

pytestmark = pytest.mark.django_db

PROBLEM = "application/problem+json"


def test_unknown_api_path_is_a_problem_document(creator):
    response = creator.api().get("/api/v1/no-such-thing/")
    assert response.status_code == 404
    assert response["Content-Type"] == PROBLEM
    body = response.json()
    assert body["status"] == 404
    assert body["title"] == "Not found"
    assert {"type", "detail"} <= body.keys()


def test_wrong_method_is_405_problem(creator):
    response = creator.api().delete("/api/v1/organisations/")
    assert response.status_code == 405
    assert response["Content-Type"] == PROBLEM


def test_validation_errors_name_the_fields(creator):
    response = creator.session().post("/api/v1/api-keys/", {"organisation": "abc"})
    assert response.status_code == 400
    assert response["Content-Type"] == PROBLEM
    errors = response.json()["errors"]
    assert "organisation" in errors
    assert "name" in errors


def test_unauthenticated_is_problem(client):
    response = client.get("/api/v1/organisations/")
    assert response.status_code in (401, 403)
    assert response["Content-Type"] == PROBLEM


def test_an_unexpected_error_on_an_api_path_is_a_problem_not_a_trace(rf):
    from frontend.views.errors import server_error

    response = server_error(rf.get("/api/v1/organisations/"))
    assert response.status_code == 500
    assert response["Content-Type"] == PROBLEM
    assert b"Traceback" not in response.content


@pytest.mark.parametrize("debug", [True, False])
@pytest.mark.parametrize(
    "path", ["/api/v1/no-such-thing/", "/api/v1/offers/0.5/", "/api/no-version/"]
)
def test_unknown_api_paths_are_problems_in_every_mode(settings, client, debug, path):
    """With DEBUG on (the demo) Django would answer with its HTML debug page."""
    settings.DEBUG = debug
    response = client.get(path)
    assert response.status_code == 404
    assert response["Content-Type"] == PROBLEM
    assert response.json()["code"] == "not_found"
    assert b"<html" not in response.content.lower()


@pytest.mark.urls("tests.accounts.raising_urls")
@pytest.mark.parametrize("debug", [True, False])
@pytest.mark.parametrize("path", ["/api/v1/_test/plain-failure/", "/api/v1/_test/api-failure/"])
def test_unexpected_api_errors_are_problems_in_every_mode(settings, creator, debug, path):
    from django.test import Client

    settings.DEBUG = debug
    client = Client(raise_request_exception=False)
    client.force_login(creator.owner)
    response = client.get(path)
    assert response.status_code == 500
    assert response["Content-Type"] == PROBLEM
    assert response.json()["code"] == "server_error"
    assert b"boom" not in response.content and b"Traceback" not in response.content


def test_pages_keep_their_html_error_pages(settings, client):
    settings.DEBUG = False
    response = client.get("/no-such-page/")
    assert response.status_code == 404
    assert response["Content-Type"].startswith("text/html")


def test_a_domain_error_no_view_mapped_is_a_422_with_its_code(rf):
    from accounts.api.problems import problem_exception_handler
    from payments.gateway import GatewayUnavailable
    from payouts.collections import CollectionError
    from settlement.services import SettlementError

    request = rf.get("/api/v1/somewhere/")
    response = problem_exception_handler(
        SettlementError("Only a completed run can be recomputed."), {"request": request}
    )
    assert response.status_code == 422
    assert response.data["code"] == "settlement_error"
    assert response.data["detail"] == "Only a completed run can be recomputed."
    coded = problem_exception_handler(CollectionError("Paid.", code="paid"), {"request": request})
    assert coded.data["code"] == "paid"
    # Stripe failing is not the client's fault: left to the 500 handler (logged, no detail).
    assert problem_exception_handler(GatewayUnavailable("down"), {"request": request}) is None
