"""The whole negotiation as an AI developer's procurement tooling and a publisher's systems do
it over the API: request → counter → counter → accept → checkout through Stripe (emulated, real
HTTP) → the signed webhook reaches our endpoint and a real Celery worker → active agreement →
certificate downloaded and verified."""

from __future__ import annotations

import hashlib
import json

import pytest

from ledger.models import EntryKind, JournalEntry
from marketplace.models import Agreement, CheckoutAttempt
from tests.gateway.helpers import wait_for

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def _ok(response, status=200):
    assert response.status_code == status, response.content
    return response.json()


def test_full_negotiation_to_a_verified_certificate_over_the_api(
    world, live_server, celery_worker_real, emulated_stripe
):
    emulated_stripe.deliver_webhooks_to(live_server.url)
    licensee, licensor = world.northwind.api(), world.harbour.api()

    offer = _ok(
        licensee.post(
            "/api/v1/offers/",
            {
                "catalogues": [world.shelf.catalogue.pk],
                "uses": ["ai-train"],
                "terms": {"upfront_fee_minor": 90_000, "term_months": 24},
                "message": "Two years, for our next model.",
            },
            format="json",
        ),
        201,
    )
    url = f"/api/v1/offers/{offer['id']}"
    _ok(
        licensor.post(
            f"{url}/counter/",
            {
                "version": 1,
                "terms": {"upfront_fee_minor": 150_000, "rate_tokens_trained_minor": "0.3"},
            },
            format="json",
        ),
        201,
    )
    _ok(
        licensee.post(
            f"{url}/counter/",
            {"version": 2, "terms": {"upfront_fee_minor": 120_000}},
            format="json",
        ),
        201,
    )
    agreement = _ok(licensor.post(f"{url}/accept/", {"version": 3}, format="json"), 201)
    assert agreement["status"] == "awaiting_payment"
    assert agreement["terms"]["term_months"] == 24
    assert agreement["terms"]["rate_tokens_trained_minor"] == "0.3000000000"
    assert agreement["upfront_fee_total_minor"] == 120_000

    attempt = _ok(
        licensee.post(
            f"/api/v1/agreements/{agreement['id']}/checkout/",
            {"save_payment_method": True},
            format="json",
        ),
        201,
    )
    # The payer pays on Stripe's page; Stripe then tells our webhook, and only that counts.
    emulated_stripe.control.complete_checkout(attempt["stripe_session_id"])
    wait_for(
        lambda: Agreement.objects.filter(pk=agreement["id"], status="active").exists(),
        what="checkout.session.completed to reach the webhook and the worker",
    )
    assert CheckoutAttempt.objects.get(pk=attempt["id"]).status == "paid"
    active = _ok(licensee.get(f"/api/v1/agreements/{agreement['id']}/"))
    assert active["status"] == "active" and active["has_certificate"]

    download = licensee.get(f"/api/v1/agreements/{agreement['id']}/certificate/")
    assert download.status_code == 200
    assert "attachment" in download["Content-Disposition"]
    document = download.content
    manifest = json.loads(document)["certificate"]
    assert manifest["agreement_id"] == agreement["id"]
    assert len(manifest["works"]) == 2

    training_file = b"salt roads text"
    verified = _ok(
        licensee.post(
            "/api/v1/certificates/verify/",
            {"certificate": document.decode(), "sha256": hashlib.sha256(training_file).hexdigest()},
            format="json",
        )
    )
    assert (verified["status"], verified["valid"], verified["covered"]) == ("valid", True, True)
    assert verified["covered_works"][0]["title"] == "Salt Roads"
    assert verified["ends_on"] == active["ends_on"]

    # The licensee's payment is posted by the worker too (the fee's collection entry). Waiting
    # for it also lets the worker finish with the database before the test flushes it.
    wait_for(
        lambda: JournalEntry.objects.filter(kind=EntryKind.COLLECTION).exists(),
        timeout=30,
        what="the upfront fee's payment posted by the worker",
    )
