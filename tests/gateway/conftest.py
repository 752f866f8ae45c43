"""Gateway test fixtures: Stripe (emulated, or its test mode for the contract suite), payees,
a licensee, and signed webhook deliveries to our endpoint."""

from __future__ import annotations

import pytest
from django.conf import settings

from accounts.models import Organisation
from tests.conftest import STRIPE_ITSELF


@pytest.fixture
def stripe_api(request, db):
    """Stripe for the contract suite: its test mode under `make test-stripe`, otherwise the
    emulator. Contract tests use nothing but the gateway, so they run unchanged on both."""
    if STRIPE_ITSELF:
        key = settings.STRIPE_SECRET_KEY
        if not key.startswith("sk_test_") or key == "sk_test_emulator":
            pytest.skip("make test-stripe needs STRIPE_SECRET_KEY=sk_test_... (Stripe test mode)")
        return None
    return request.getfixturevalue("emulated_stripe")


@pytest.fixture
def payee(tenant_factory):
    return tenant_factory(Organisation.Kind.CREATOR, "Ana Rivera").organisation


@pytest.fixture
def licensee(tenant_factory):
    return tenant_factory(Organisation.Kind.AI_DEVELOPER, "Northwind AI").organisation
