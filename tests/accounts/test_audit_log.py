"""The audit log (issue 15): security-relevant acts are kept, append-only, for the
organisation's owners and admins: API keys created and revoked, invitations, lock-outs,
payout settings, consent."""

from __future__ import annotations

import pytest
from django.db import connection, transaction
from django.db.utils import InternalError, ProgrammingError

from accounts.models import AuditEvent, Membership, User
from accounts.services import invitation_create
from tests.catalog.factories import CatalogueFactory, make_work
from tests.factories import MembershipFactory

pytestmark = pytest.mark.django_db


def test_security_relevant_acts_are_logged_for_owners_and_admins_only(creator, client, settings):
    session = creator.session()
    key = session.post(
        "/api/v1/api-keys/",
        {"organisation": creator.organisation.pk, "name": "ci", "role": "viewer"},
        format="json",
    ).json()
    session.post(f"/api/v1/api-keys/{key['id']}/revoke/")
    invitation_create(
        organisation=creator.organisation,
        email="new@e.test",
        role="admin",
        invited_by=creator.owner,
    )
    session.put("/api/v1/payout-thresholds/usd/", {"minimum_minor": 5_000}, format="json")
    work = make_work(CatalogueFactory(owner=creator.organisation))
    session.post(
        "/api/v1/consents/", {"work": work.pk, "use": "ai-train", "granted": False}, format="json"
    )
    settings.AXES_FAILURE_LIMIT = 2
    for _ in range(3):
        client.post("/login/", {"username": creator.owner.email, "password": "wrong"})

    actions = [row["action"] for row in session.get("/api/v1/audit-events/").json()["results"]]
    assert set(actions) >= {
        "api_key_created",
        "api_key_revoked",
        "member_invited",
        "payout_threshold_set",
        "consent_changed",
        "sign_in_locked_out",
    }
    [created] = [
        row
        for row in session.get("/api/v1/audit-events/?action=api_key_created").json()["results"]
        if row["detail"]["name"] == "ci"
    ]
    assert created["actor"] == creator.owner.email
    assert created["detail"]["role"] == "viewer" and created["detail"]["key"].startswith("trk_")

    page = session.get("/account/audit/").content.decode()
    assert 'data-testid="audit-api_key_revoked"' in page

    member = MembershipFactory(organisation=creator.organisation, role=Membership.Role.MEMBER)
    client.force_login(member.user)
    assert client.get("/api/v1/audit-events/").json()["results"] == []
    assert 'data-testid="audit-api_key' not in client.get("/account/audit/").content.decode()


def test_the_log_is_append_only_in_postgresql(creator):
    creator.session().post(
        "/api/v1/api-keys/", {"organisation": creator.organisation.pk, "name": "x"}, format="json"
    )
    assert AuditEvent.objects.filter(organisation=creator.organisation).exists()
    for statement in (
        "UPDATE accounts_auditevent SET action = 'x'",
        "DELETE FROM accounts_auditevent",
    ):
        with (
            pytest.raises((InternalError, ProgrammingError)),
            transaction.atomic(),
            connection.cursor() as cursor,
        ):
            cursor.execute(statement)
    assert User.objects.exists()
