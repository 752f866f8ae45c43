"""Roles (issue 15, finding 6: a plain member could accept an offer and change consent and
prices). Owner, admin, member, viewer and finance, and a role for every API key: binding acts
need an owner or an admin, a viewer only reads (every unsafe API route and every form answers
403), and the README's table is the code's (``accounts.roles.role_matrix_markdown``)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.urls import get_resolver
from rest_framework.permissions import AllowAny
from rest_framework.test import APIClient

from accounts.models import ApiKey, Membership, Organisation
from accounts.roles import ROLE_MATRIX, Act, role_matrix_markdown
from accounts.services import invitation_create
from tests.accounts.test_tenancy_walk import _fill, _walk
from tests.factories import MembershipFactory, api_key_for
from tests.marketplace.conftest import world  # noqa: F401  (the worked example's parties)
from tests.marketplace.factories import licensable_catalogue

pytestmark = pytest.mark.django_db

README = Path(__file__).resolve().parents[1] / "README.md"
PEOPLE = [
    Membership.Role.OWNER,
    Membership.Role.ADMIN,
    Membership.Role.MEMBER,
    Membership.Role.VIEWER,
]


def _person(organisation: Organisation, role: str) -> APIClient:
    client = APIClient()
    client.force_login(MembershipFactory(organisation=organisation, role=role).user)
    return client


def _key(organisation: Organisation, role: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {api_key_for(organisation, role=role)}")
    return client


def test_the_readme_table_is_the_codes():
    assert role_matrix_markdown() in README.read_text(encoding="utf-8")


@pytest.mark.parametrize("role", PEOPLE)
def test_only_owners_and_admins_accept_an_offer(world, role):  # noqa: F811
    offer = (
        world.northwind.api()
        .post(
            "/api/v1/offers/",
            {"catalogues": [world.shelf.catalogue.pk], "uses": ["ai-train"]},
            format="json",
        )
        .json()
    )
    answer = _person(world.harbour.organisation, role).post(
        f"/api/v1/offers/{offer['id']}/accept/", {"version": 1}, format="json"
    )
    allowed = role in ROLE_MATRIX[Act.ACCEPT_OFFER]
    assert answer.status_code == (201 if allowed else 403), answer.content
    if not allowed:
        detail = answer.json()["detail"]
        assert "Only an owner or admin of Harbour Press" in detail or "read-only" in detail


@pytest.mark.parametrize("role", ["admin", "member", "viewer"])
def test_an_api_key_accepts_only_in_the_admin_role(world, role):  # noqa: F811
    offer = (
        world.northwind.api()
        .post(
            "/api/v1/offers/",
            {"catalogues": [world.shelf.catalogue.pk], "uses": ["ai-train"]},
            format="json",
        )
        .json()
    )
    answer = _key(world.harbour.organisation, role).post(
        f"/api/v1/offers/{offer['id']}/accept/", {"version": 1}, format="json"
    )
    assert answer.status_code == (201 if role == "admin" else 403), answer.content


@pytest.mark.parametrize("role", PEOPLE)
def test_consent_and_prices_need_an_owner_or_an_admin(creator, role):
    shelf = licensable_catalogue(creator.organisation)
    client = _person(creator.organisation, role)
    consent = client.post(
        "/api/v1/consents/",
        {"catalogue": shelf.catalogue.pk, "use": "ai-index", "granted": True},
        format="json",
    )
    terms = client.post(
        "/api/v1/terms/",
        {
            "catalogue": shelf.catalogue.pk,
            "upfront_fee_minor": 1,
            "currency": "USD",
            "term_months": 12,
            "territories": ["WORLD"],
            "permitted_uses": ["ai-train"],
        },
        format="json",
    )
    allowed = role in ROLE_MATRIX[Act.CONSENT_AND_PRICES]
    assert (consent.status_code < 300) is allowed, consent.content
    assert (terms.status_code < 300) is allowed or terms.status_code == 400, terms.content
    if not allowed:
        assert terms.status_code == 403


@pytest.mark.parametrize("role", PEOPLE)
def test_payout_settings_and_api_keys_need_an_owner_or_an_admin(creator, role):
    client = _person(creator.organisation, role)
    threshold = client.put(
        f"/api/v1/payout-thresholds/usd/?organisation={creator.organisation.pk}",
        {"minimum_minor": 5_000},
        format="json",
    )
    key = client.post(
        "/api/v1/api-keys/",
        {"organisation": creator.organisation.pk, "name": "ci", "role": "viewer"},
        format="json",
    )
    allowed = role in (Membership.Role.OWNER, Membership.Role.ADMIN)
    assert (threshold.status_code == 200) is allowed, threshold.content
    assert (key.status_code == 201) is allowed, key.content
    if allowed:
        assert key.json()["role"] == "viewer"


def test_a_member_cannot_invite_and_an_admin_cannot_make_an_owner(creator):
    from django.core.exceptions import PermissionDenied

    member = MembershipFactory(organisation=creator.organisation, role="member").user
    admin = MembershipFactory(organisation=creator.organisation, role="admin").user
    with pytest.raises(PermissionDenied):
        invitation_create(
            organisation=creator.organisation, email="x@e.test", role="member", invited_by=member
        )
    invitation_create(
        organisation=creator.organisation, email="y@e.test", role="member", invited_by=admin
    )
    with pytest.raises(PermissionDenied, match="Only an owner may make another owner"):
        invitation_create(
            organisation=creator.organisation, email="z@e.test", role="owner", invited_by=admin
        )


def _unsafe_api_routes():
    for route, pattern in _walk(get_resolver().url_patterns):
        if not route.startswith("api/v1/") or "format" in route:
            continue
        cls = getattr(pattern.callback, "cls", None)
        if cls is not None and AllowAny in getattr(cls, "permission_classes", ()):
            continue  # public (certificate verification): no organisation acts
        actions = getattr(pattern.callback, "actions", None)
        methods = list(actions) if actions else ["post", "put", "patch", "delete"]
        for method in methods:
            if method not in ("get", "head", "options"):
                yield route, method


@pytest.mark.parametrize("as_key", [False, True])
def test_a_viewer_reads_but_every_unsafe_api_route_answers_403(creator, as_key):
    client = (
        _key(creator.organisation, ApiKey.Role.VIEWER)
        if as_key
        else _person(creator.organisation, Membership.Role.VIEWER)
    )
    assert client.get("/api/v1/catalogues/").status_code == 200
    tried = 0
    for route, method in _unsafe_api_routes():
        url = re.sub(r"\(\?P<currency>[^)]*\)", "usd", _fill(route, 1))
        response = getattr(client, method)(url, {}, format="json")
        assert response.status_code in (403, 405), (method, url, response.status_code)
        if response.status_code == 403:
            tried += 1
    assert tried >= 20


def test_a_viewer_gets_403_for_a_form_and_may_still_sign_out(client, creator):
    viewer = MembershipFactory(organisation=creator.organisation, role="viewer").user
    client.force_login(viewer)
    assert client.get("/creator/").status_code == 200
    assert client.post("/catalogues/new/", {"name": "Mine"}).status_code == 403
    assert client.post("/logout/").status_code == 302
