"""The OpenAPI document is valid, and schemathesis, fuzzing every operation in it as an
authenticated organisation, finds no 5xx and no response that breaks the schema."""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from config.wsgi import application

schema = schemathesis.openapi.from_wsgi("/api/schema/?format=json", application)


@pytest.fixture
def api_key(db, tenant_factory):
    """A key of a fresh organisation. Requests go through the raw WSGI app here, so keep Django
    from closing the test's transactional connection at the end of each request, as its own
    test client does."""
    from django.core.signals import request_finished, request_started
    from django.db import close_old_connections

    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        yield tenant_factory().api_key
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


def test_schema_is_a_valid_openapi_3_document(client):
    from openapi_spec_validator import validate

    response = client.get("/api/schema/?format=json")
    assert response.status_code == 200
    document = response.json()
    assert document["openapi"].startswith("3.")
    validate(document)


@schema.parametrize()
@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.filter_too_much,
        HealthCheck.function_scoped_fixture,
    ],
)
def test_api_answers_within_its_schema_and_never_5xx(case, api_key):
    key = api_key
    case.call_and_validate(
        headers={"Authorization": f"Bearer {key}"},
        checks=[
            not_a_server_error,
            status_code_conformance,
            content_type_conformance,
            response_schema_conformance,
        ],
    )
