"""Walks every API route: an API key of organisation A asking for organisation B's objects gets
404 on every detail route and every action, and never sees them in a list. Routes added later
are covered automatically; a model exposed by an endpoint must be registered in
tests.factories.FACTORY_FOR_MODEL, or this test fails and says so."""

from __future__ import annotations

import re

import pytest
from django.urls import URLPattern, URLResolver, get_resolver

from tests.factories import FACTORY_FOR_MODEL

pytestmark = pytest.mark.django_db


def _walk(patterns, prefix=""):
    for entry in patterns:
        if isinstance(entry, URLResolver):
            yield from _walk(entry.url_patterns, prefix + str(entry.pattern))
        elif isinstance(entry, URLPattern):
            yield prefix + str(entry.pattern), entry


def _api_routes():
    for route, pattern in _walk(get_resolver().url_patterns):
        if route.startswith("api/v1/"):
            yield route, pattern


def _viewset_model(pattern):
    cls = getattr(pattern.callback, "cls", None)
    if cls is None:
        return None, None
    serializer = getattr(cls, "serializer_class", None)
    model = getattr(getattr(serializer, "Meta", None), "model", None)
    return cls, model


def _fill(route: str, pk: object) -> str:
    route = route.replace("^", "").replace("$", "").replace("\\.(?P<format>[a-z0-9]+)/?", "")
    route = re.sub(r"\(\?P<(pk|[a-z_]*id)>[^)]*\)", str(pk), route)
    route = re.sub(r"<(?:[a-z]+:)?(pk|[a-z_]*id)>", str(pk), route)
    return "/" + route


DETAIL = re.compile(r"\(\?P<pk>|<pk>|<(?:int:)?[a-z_]*_id>|\(\?P<[a-z_]*_id>")


def test_every_detail_route_answers_404_to_another_organisation(tenant_factory):
    a = tenant_factory()
    b = tenant_factory()
    client = a.api()
    checked = []
    for route, pattern in _api_routes():
        if not DETAIL.search(route) or "format" in route:
            continue
        _cls, model = _viewset_model(pattern)
        assert model is not None, f"{route}: cannot tell which model it exposes"
        assert model in FACTORY_FOR_MODEL, (
            f"{route} exposes {model.__name__}: register it in tests.factories.FACTORY_FOR_MODEL"
        )
        obj = FACTORY_FOR_MODEL[model](b.organisation)
        url = _fill(route, obj.pk)
        actions = getattr(pattern.callback, "actions", None) or {"get": "retrieve"}
        for method in list(actions):
            response = getattr(client, method)(url, {}, format="json")
            assert response.status_code == 404, (method, url, response.status_code)
            assert response["Content-Type"] == "application/problem+json"
            checked.append((method, url))
    assert checked, "no detail routes found: the walk is broken"


def test_lists_never_show_another_organisations_objects(tenant_factory):
    a = tenant_factory()
    b = tenant_factory()
    client = a.api()
    checked = 0
    for route, pattern in _api_routes():
        if DETAIL.search(route) or "format" in route:
            continue
        actions = getattr(pattern.callback, "actions", None) or {}
        if actions.get("get") != "list":
            continue
        _cls, model = _viewset_model(pattern)
        assert model in FACTORY_FOR_MODEL, f"{route}: register {model} in FACTORY_FOR_MODEL"
        foreign = FACTORY_FOR_MODEL[model](b.organisation)
        response = client.get(_fill(route, 0))
        assert response.status_code == 200, route
        ids = {row.get("id") for row in response.json()["results"]}
        assert foreign.pk not in ids, route
        checked += 1
    assert checked


def _foreign_key_filters(cls, model):
    """(query parameter, model it names) for each list filter on a foreign key."""
    from accounts.api.filters import TenantFilterBackend

    filterset_class = TenantFilterBackend().get_filterset_class(cls(), model._default_manager.all())
    if filterset_class is None:
        return []
    found = []
    for name, filter_ in filterset_class.base_filters.items():
        try:
            field = model._meta.get_field(filter_.field_name)
        except Exception:  # a method filter (q, status, ...): names no row
            continue
        if (field.is_relation and field.many_to_one) or field.one_to_one:
            found.append((name, field.related_model))
    return found


def test_a_filter_naming_another_organisations_object_answers_like_a_missing_one(
    tenant_factory,
):
    """Finding 5: a foreign id gave 200 and an empty list, a made-up id 400 (e.g.
    GET /api/v1/agreements/?licensor=<id>), so a list filter told what exists."""
    from accounts.models import Organisation

    a = tenant_factory()
    b = tenant_factory()
    client = a.api()
    compared = []
    for route, pattern in _api_routes():
        if DETAIL.search(route) or "format" in route:
            continue
        if (getattr(pattern.callback, "actions", None) or {}).get("get") != "list":
            continue
        cls, model = _viewset_model(pattern)
        for name, target in _foreign_key_filters(cls, model):
            if target is Organisation:
                foreign_id = b.organisation.pk
            elif target in FACTORY_FOR_MODEL:
                foreign_id = FACTORY_FOR_MODEL[target](b.organisation).pk
            else:
                continue  # a platform object (a settlement run): any id is as good as another
            url = _fill(route, 0)
            real = client.get(url, {name: foreign_id})
            made_up = client.get(url, {name: 2**62})
            assert real.status_code == made_up.status_code == 200, (url, name, made_up.json())
            assert real.json()["results"] == made_up.json()["results"] == [], (url, name)
            compared.append(f"{url}?{name}=")
    assert len(compared) >= 8, compared
