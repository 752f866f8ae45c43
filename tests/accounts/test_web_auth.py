import pytest

from accounts.models import Membership, Organisation, User
from accounts.services import invitation_create

pytestmark = pytest.mark.django_db


def _signup(client, **overrides):
    data = {
        "full_name": "Ana Rivera",
        "email": "ana@example.test",
        "password": "salt-roads-1987!",
        "organisation_name": "Ana Rivera",
        "organisation_kind": "creator",
        "creator_category": "author",
    } | overrides
    return client.post("/signup/", data)


def test_creator_signs_up_and_lands_on_the_creator_dashboard(client):
    response = _signup(client)
    assert response.status_code == 302
    follow = client.get(response["Location"], follow=True)
    assert follow.redirect_chain[-1][0] == "/creator/"
    user = User.objects.get(email="ana@example.test")
    membership = user.memberships.get()
    assert membership.role == Membership.Role.OWNER
    assert membership.organisation.kind == Organisation.Kind.CREATOR


def test_bad_signup_shows_errors_by_the_field_and_creates_nothing(client):
    response = _signup(client, email="not-an-email", password="123")
    assert response.status_code == 200
    content = response.content.decode()
    assert 'id="id_email-error"' in content
    assert 'id="id_password-error"' in content
    assert not User.objects.exists()


def test_login_is_throttled_after_repeated_failures(client, settings):
    settings.LOGIN_THROTTLE_ATTEMPTS = 3
    User.objects.create_user(email="ben@example.test", password="right-password-42")
    for _ in range(3):
        assert (
            client.post(
                "/login/", {"username": "ben@example.test", "password": "wrong"}
            ).status_code
            == 200
        )
    blocked = client.post(
        "/login/", {"username": "ben@example.test", "password": "right-password-42"}
    )
    assert blocked.status_code == 429
    assert "_auth_user_id" not in client.session


def test_invited_finance_user_joins_the_platform_organisation(client):
    owner = User.objects.create_user(email="owner@trainright.test", password="x-long-password-1")
    platform = Organisation.objects.create(name="TrainRight", slug="trainright", kind="platform")
    Membership.objects.create(user=owner, organisation=platform, role="owner")
    issued = invitation_create(
        organisation=platform, email="fin@trainright.test", role="finance", invited_by=owner
    )
    response = client.post(
        f"/signup/?invite={issued.token}",
        {"full_name": "Fran Finance", "password": "ledger-balances-0!"},
    )
    assert response.status_code == 302
    assert client.get("/", follow=True).redirect_chain[-1][0] == "/finance/"
    reused = client.get(f"/signup/?invite={issued.token}")
    assert reused.status_code == 302  # used once, then refused


def test_finance_console_is_refused_to_a_creator(client):
    _signup(client)
    assert client.get("/finance/").status_code == 403
