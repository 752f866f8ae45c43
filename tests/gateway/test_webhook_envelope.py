"""Our webhook endpoint at the edges (issue 13, findings 5 and 6): a signature dated in the
future is refused like a stale one, and a correctly signed delivery that is not a well-formed
event answers 400 and is kept as a failed event with its reason, never a 500."""

from __future__ import annotations

import json
import time

import pytest
from django.conf import settings

from payments.events import stripe_events_due_for_retry
from payments.models import StripeEvent
from tests.gateway.helpers import post_webhook, signature_header

pytestmark = pytest.mark.django_db


def event_json(**fields) -> str:
    event = {
        "id": "evt_edge_1",
        "object": "event",
        "type": "edge.probed",  # no handler: stored and ignored, nothing else runs
        "created": 1_790_000_000,
        "livemode": False,
        "data": {"object": {"id": "obj_1", "object": "probe"}},
    }
    event.update(fields)
    return json.dumps(event)


# --- finding 6: timestamps in the future ----------------------------------------------------


@pytest.mark.parametrize("ahead", [3600, 301 + 5, 10**6])
def test_a_signature_dated_beyond_the_tolerance_in_the_future_is_refused(client, ahead):
    payload = event_json()
    signed = signature_header(payload, timestamp=int(time.time()) + ahead)

    response = post_webhook(client, payload, signed)

    assert response.status_code == 400, response.content
    assert response.json()["error"] == "signature_invalid"
    assert "future" in response.json()["detail"]
    assert not StripeEvent.objects.exists()


def test_a_signature_slightly_ahead_within_the_tolerance_is_accepted(client):
    assert settings.STRIPE_WEBHOOK_TOLERANCE == 300
    payload = event_json()
    response = post_webhook(
        client, payload, signature_header(payload, timestamp=int(time.time()) + 240)
    )
    assert response.status_code == 200, response.content
    assert StripeEvent.objects.get().stripe_event_id == "evt_edge_1"


# --- finding 5: well signed, badly formed ---------------------------------------------------

MALFORMED = [
    pytest.param("[1, 2]", "object", id="a JSON array"),
    pytest.param('"just a string"', "object", id="a JSON string"),
    pytest.param("null", "object", id="JSON null"),
    pytest.param("{not json", "JSON", id="not JSON at all"),
    pytest.param(event_json(type="x" * 300), "type", id="a 300-character type"),
    pytest.param(event_json(type=["account.updated"]), "type", id="a type that is a list"),
    pytest.param(event_json(id="evt_" + "x" * 1000), "id", id="a 1,000-character id"),
    pytest.param(event_json(id=5), "id", id="an id that is a number"),
    pytest.param(event_json(id=None), "id", id="no id"),
    pytest.param(event_json(created="abc"), "created", id="created is text"),
    pytest.param(event_json(created=10**20), "created", id="created is out of range"),
    pytest.param(event_json(created=True), "created", id="created is a boolean"),
    pytest.param(event_json(data={"object": {"id": "a\u0000b"}}), "NUL", id="NUL in data"),
    pytest.param(event_json(data=[1]), "data", id="data is not an object"),
    pytest.param(event_json(account="acct_" + "x" * 300), "account", id="a long account"),
]


@pytest.mark.parametrize(("payload", "named"), MALFORMED)
def test_a_signed_but_malformed_event_answers_400_and_is_kept_as_failed(client, payload, named):
    client.raise_request_exception = False  # a 500 must show as a 500, not as an exception

    response = post_webhook(client, payload, signature_header(payload))

    assert response.status_code == 400, response.content
    body = response.json()
    assert body["error"] == "event_malformed"
    assert named in body["detail"]
    record = StripeEvent.objects.get()
    assert record.status == StripeEvent.Status.FAILED
    assert record.error == body["detail"]
    assert record.next_attempt_at is None
    assert record.pk not in stripe_events_due_for_retry().values_list("pk", flat=True)
    assert record.payload == {"body": payload}  # what was delivered, as text

    # Stripe retries a 4xx: the same delivery again is answered the same, and kept once.
    again = post_webhook(client, payload, signature_header(payload))
    assert (again.status_code, again.json()["detail"]) == (400, body["detail"])
    assert StripeEvent.objects.count() == 1


def test_a_malformed_event_is_never_confused_with_a_good_one_of_the_same_id(client):
    bad = event_json(created="abc")
    assert post_webhook(client, bad, signature_header(bad)).status_code == 400
    good = event_json()
    response = post_webhook(client, good, signature_header(good))
    assert response.status_code == 200
    assert response.json() == {"received": "evt_edge_1", "duplicate": False}
    assert StripeEvent.objects.count() == 2


def test_processing_a_malformed_event_again_leaves_it_failed_with_its_reason(client):
    from payments.events import stripe_event_process

    payload = "[1, 2]"
    post_webhook(client, payload, signature_header(payload))
    record = StripeEvent.objects.get()
    again = stripe_event_process(event_pk=record.pk)
    assert (again.status, again.error) == ("failed", record.error)
