import pytest

from accounts.models import ApiKey, Membership
from tests.factories import MembershipFactory, UserFactory

pytestmark = pytest.mark.django_db


def test_owner_creates_key_shown_once_and_it_authenticates(creator):
    response = creator.session().post(
        "/api/v1/api-keys/", {"organisation": creator.organisation.id, "name": "pipeline"}
    )
    assert response.status_code == 201
    secret = response.json()["secret"]
    assert secret.startswith("trk_")
    stored = ApiKey.objects.get(pk=response.json()["id"])
    assert secret not in stored.secret_hash
    listing = creator.session().get("/api/v1/api-keys/").json()["results"]
    assert all("secret" not in row for row in listing)

    from rest_framework.test import APIClient

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    assert client.get("/api/v1/organisations/").status_code == 200
    stored.refresh_from_db()
    assert stored.last_used_at is not None


def test_revoked_key_is_refused(creator):
    key_id = ApiKey.objects.get(organisation=creator.organisation).id
    response = creator.session().post(f"/api/v1/api-keys/{key_id}/revoke/")
    assert response.status_code == 200
    assert response.json()["revoked_at"] is not None
    refused = creator.api().get("/api/v1/organisations/")
    assert refused.status_code == 401
    assert refused["Content-Type"] == "application/problem+json"


def test_a_member_who_is_not_owner_cannot_create_keys(creator):
    member = MembershipFactory(
        organisation=creator.organisation, user=UserFactory(), role=Membership.Role.MEMBER
    )
    from rest_framework.test import APIClient

    client = APIClient()
    client.force_login(member.user)
    response = client.post(
        "/api/v1/api-keys/", {"organisation": creator.organisation.id, "name": "x"}
    )
    assert response.status_code == 403
    assert ApiKey.objects.filter(organisation=creator.organisation).count() == 1


def test_creating_a_key_for_another_organisation_answers_404(creator, developer):
    response = creator.session().post(
        "/api/v1/api-keys/", {"organisation": developer.organisation.id, "name": "x"}
    )
    assert response.status_code == 404
    assert ApiKey.objects.filter(organisation=developer.organisation).count() == 1


def test_garbage_bearer_token_is_401_problem():
    from rest_framework.test import APIClient

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Bearer trk_deadbeef_nope")
    response = client.get("/api/v1/organisations/")
    assert response.status_code == 401
    assert response.json()["status"] == 401
