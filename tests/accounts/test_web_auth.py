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


def _sign_in(client, path, email, password, **meta):
    return client.post(path, {"username": email, "password": password}, **meta)


@pytest.mark.parametrize("path", ["/login/", "/admin/login/"])
def test_sign_in_is_throttled_on_the_site_and_the_admin(client, settings, mailoutbox, path):
    """Finding 3: /admin/login/ had no attempt limit (12 wrong passwords, then the right one
    signed in). One throttle now serves both, and the account's owner hears of a lock-out."""
    settings.AXES_FAILURE_LIMIT = 4
    User.objects.create_user(
        email="ben@example.test", password="right-password-42", is_staff=True, is_superuser=True
    )
    answers = [_sign_in(client, path, "ben@example.test", "wrong").status_code for _ in range(12)]
    assert answers[:3] == [200, 200, 200] and set(answers[3:]) == {429}
    blocked = _sign_in(client, path, "Ben@Example.test ", "right-password-42")
    assert blocked.status_code == 429
    assert "Too many failed attempts" in blocked.content.decode()
    assert "_auth_user_id" not in client.session
    [notice] = [m for m in mailoutbox if "sign-in paused" in m.subject]
    assert notice.to == ["ben@example.test"]


def test_a_locked_account_still_signs_in_from_another_address(client, settings):
    settings.AXES_FAILURE_LIMIT = 3
    User.objects.create_user(email="ana@example.test", password="right-password-42")
    for _ in range(5):
        _sign_in(client, "/login/", "ana@example.test", "wrong", REMOTE_ADDR="203.0.113.9")
    assert (
        _sign_in(
            client, "/login/", "ana@example.test", "right-password-42", REMOTE_ADDR="203.0.113.9"
        ).status_code
        == 429
    )
    # The attacker's address is paused, not the account: Ana signs in from her own.
    home = _sign_in(
        client, "/login/", "ana@example.test", "right-password-42", REMOTE_ADDR="198.51.100.7"
    )
    assert home.status_code == 302 and "_auth_user_id" in client.session


def test_a_forged_forwarded_for_header_does_not_dodge_the_throttle(client, settings):
    """Without a configured trusted-proxy header the connection's address counts, so
    rotating X-Forwarded-For values does not reset the count (nor blame someone else)."""
    settings.AXES_FAILURE_LIMIT = 3
    User.objects.create_user(email="cy@example.test", password="right-password-42")
    for n in range(5):
        _sign_in(client, "/login/", "cy@example.test", "wrong", HTTP_X_FORWARDED_FOR=f"192.0.2.{n}")
    locked = _sign_in(
        client, "/login/", "cy@example.test", "right-password-42", HTTP_X_FORWARDED_FOR="192.0.2.99"
    )
    assert locked.status_code == 429


def test_behind_a_trusted_proxy_the_clients_address_is_its_header(client, settings):
    settings.AXES_FAILURE_LIMIT = 3
    settings.TRUSTED_PROXY_HEADER = "HTTP_X_FORWARDED_FOR"
    settings.TRUSTED_PROXY_COUNT = 1
    User.objects.create_user(email="di@example.test", password="right-password-42")
    proxy = {"REMOTE_ADDR": "10.0.0.2"}  # every request comes through the proxy
    for _ in range(4):
        _sign_in(
            client,
            "/login/",
            "di@example.test",
            "wrong",
            HTTP_X_FORWARDED_FOR="203.0.113.5",
            **proxy,
        )
    # The attacker's own address is paused, whatever it puts in front of the proxy's entry.
    forged = _sign_in(
        client,
        "/login/",
        "di@example.test",
        "right-password-42",
        HTTP_X_FORWARDED_FOR="198.51.100.1, 203.0.113.5",
        **proxy,
    )
    assert forged.status_code == 429
    # Everyone else behind the same proxy is unaffected.
    ok = _sign_in(
        client,
        "/login/",
        "di@example.test",
        "right-password-42",
        HTTP_X_FORWARDED_FOR="198.51.100.1",
        **proxy,
    )
    assert ok.status_code == 302


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
