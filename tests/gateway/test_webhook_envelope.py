"""Our webhook endpoint at the edges (issue 13, finding 6): a signature dated in the future is
refused like a stale one."""

from __future__ import annotations

import json
import time

import pytest
from django.conf import settings

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


# --- finding 6: timestamps in the future ----------------------------------------------------------


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
