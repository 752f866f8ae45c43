import pytest

from accounts.models import ApiKey, IdempotencyRecord

pytestmark = pytest.mark.django_db


def _create_key(client, org_id, name, key):
    return client.post(
        "/api/v1/api-keys/",
        {"organisation": org_id, "name": name},
        format="json",
        HTTP_IDEMPOTENCY_KEY=key,
    )


def test_same_key_same_body_replays_without_doing_the_work_again(creator):
    client = creator.session()
    first = _create_key(client, creator.organisation.id, "ci", "k-1")
    second = _create_key(client, creator.organisation.id, "ci", "k-1")
    assert first.status_code == second.status_code == 201
    replayed = second.json()
    assert {
        k: v for k, v in replayed.items() if k not in ("secret", "secret_shown_once", "detail")
    } == {k: v for k, v in first.json().items() if k != "secret"}
    assert second["Idempotent-Replayed"] == "true"
    assert ApiKey.objects.filter(organisation=creator.organisation, name="ci").count() == 1


def test_same_key_different_body_is_422(creator):
    client = creator.session()
    _create_key(client, creator.organisation.id, "ci", "k-2")
    response = _create_key(client, creator.organisation.id, "other", "k-2")
    assert response.status_code == 422
    assert response.json()["code"] == "idempotency_key_reused"
    assert not ApiKey.objects.filter(name="other").exists()


def test_keys_are_scoped_per_caller(creator, developer):
    a = _create_key(creator.session(), creator.organisation.id, "ci", "shared")
    b = _create_key(developer.session(), developer.organisation.id, "ci", "shared")
    assert a.status_code == b.status_code == 201
    assert a.json()["id"] != b.json()["id"]


def test_a_key_still_in_flight_answers_409(creator):
    client = creator.session()
    _create_key(client, creator.organisation.id, "ci", "busy")
    # The first request is still running as far as the record can tell.
    IdempotencyRecord.objects.filter(key="busy").update(completed_at=None)
    response = _create_key(client, creator.organisation.id, "ci", "busy")
    assert response.status_code == 409
    assert response.json()["code"] == "idempotency_key_in_use"
    assert ApiKey.objects.filter(name="ci").count() == 1


def test_records_are_purged_after_retention(creator, settings):
    from datetime import timedelta

    from django.utils import timezone

    from accounts.tasks import idempotency_records_purge

    _create_key(creator.session(), creator.organisation.id, "ci", "old")
    IdempotencyRecord.objects.update(created_at=timezone.now() - timedelta(hours=49))
    assert idempotency_records_purge() == 1
    assert not IdempotencyRecord.objects.exists()
