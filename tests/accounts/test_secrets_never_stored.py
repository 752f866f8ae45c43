"""No secret is ever stored (issue 15, finding 1): `POST /api/v1/api-keys/` with an
`Idempotency-Key` kept the whole 201 body, secret included, for 48 hours, and a replay handed
the secret out again, even after the key was revoked. The replay now answers with the key's id
and prefix and says the secret was shown once; nothing in the database holds the secret."""

from __future__ import annotations

import pytest
from django.db import connection

pytestmark = pytest.mark.django_db


def _tables() -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT table_name FROM information_schema.tables "
            "WHERE table_schema = 'public' AND table_type = 'BASE TABLE' ORDER BY 1"
        )
        return [row[0] for row in cursor.fetchall()]


def _tables_holding(needle: str) -> list[str]:
    """Every table with a row whose text form (bytea as hex, JSON, arrays) contains
    ``needle`` or its bytes in hex: the whole database, dumped row by row."""
    hexed = needle.encode().hex()
    found = []
    with connection.cursor() as cursor:
        for table in _tables():
            cursor.execute(
                f'SELECT 1 FROM "{table}" t WHERE strpos(t::text, %s) > 0 '
                "OR strpos(t::text, %s) > 0 LIMIT 1",
                [needle, hexed],
            )
            if cursor.fetchone():
                found.append(table)
    return found


def _create(client, organisation_id: int, name: str, **headers):
    return client.post(
        "/api/v1/api-keys/",
        {"organisation": organisation_id, "name": name},
        format="json",
        **headers,
    )


def test_the_dump_finds_a_string_that_is_there(creator):
    # The probe itself works: a value we did store is found.
    _create(creator.session(), creator.organisation.id, "probe-name-4711")
    assert "accounts_apikey" in _tables_holding("probe-name-4711")


@pytest.mark.parametrize("idempotency_key", [None, "create-key-1"])
def test_no_trace_of_a_new_keys_secret_anywhere_in_the_database(creator, idempotency_key):
    headers = {"HTTP_IDEMPOTENCY_KEY": idempotency_key} if idempotency_key else {}
    response = _create(creator.session(), creator.organisation.id, "pipeline", **headers)
    assert response.status_code == 201
    secret = response.json()["secret"]
    assert secret and len(secret) > 20
    assert _tables_holding(secret) == []
    # The part after the public prefix is never stored either.
    assert _tables_holding(secret[-20:]) == []


def test_a_replay_gives_the_id_and_prefix_and_says_the_secret_was_shown_once(creator):
    client = creator.session()
    first = _create(client, creator.organisation.id, "ci", HTTP_IDEMPOTENCY_KEY="k-secret")
    replay = _create(client, creator.organisation.id, "ci", HTTP_IDEMPOTENCY_KEY="k-secret")
    assert first.status_code == replay.status_code == 201
    assert replay["Idempotent-Replayed"] == "true"
    body = replay.json()
    assert body["secret"] is None and body["secret_shown_once"] is True
    assert "shown once" in body["detail"]
    assert (body["id"], body["prefix"]) == (first.json()["id"], first.json()["prefix"])

    # Revoked, then replayed: still no secret.
    assert client.post(f"/api/v1/api-keys/{body['id']}/revoke/").status_code == 200
    again = _create(client, creator.organisation.id, "ci", HTTP_IDEMPOTENCY_KEY="k-secret")
    assert again.json()["secret"] is None
    assert first.json()["secret"] not in again.content.decode()
