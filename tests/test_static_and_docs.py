"""Static files and the API docs are served by the application itself, in every mode: the
demo (DEBUG, runserver) gets the same WhiteNoise serving as production, and Swagger UI and
Redoc come from our own static files (drf-spectacular-sidecar), never from a CDN."""

from __future__ import annotations

import mimetypes
import re

import pytest

pytestmark = pytest.mark.django_db

ASSETS = {
    "/static/vendor/pico/pico.min.css": "text/css",
    "/static/frontend/app.css": "text/css",
    "/static/vendor/htmx/htmx.min.js": "javascript",
    "/static/vendor/chart.js/chart.umd.js": "javascript",
}


@pytest.mark.parametrize("debug", [True, False])
def test_every_asset_a_page_links_is_served_with_its_type(settings, client, creator, debug):
    settings.DEBUG = debug
    client.force_login(creator.owner)
    page = client.get("/creator/").content.decode()
    linked = set(re.findall(r'(?:href|src)="(/static/[^"]+)"', page))
    assert {"/static/vendor/pico/pico.min.css", "/static/vendor/htmx/htmx.min.js"} <= linked
    for url in linked | set(ASSETS):
        response = client.get(url)
        assert response.status_code == 200, url
        expected = ASSETS.get(url) or ("text/css" if url.endswith(".css") else "javascript")
        assert expected in response["Content-Type"], (url, response["Content-Type"])
        body = b"".join(response.streaming_content) if response.streaming else response.content
        assert len(body) > 100, url


@pytest.mark.parametrize("docs", ["/api/docs/", "/api/redoc/"])
def test_api_docs_load_only_from_this_host(client, docs):
    page = client.get(docs)
    assert page.status_code == 200
    html = page.content.decode()
    references = re.findall(r'(?:href|src)="([^"]+)"', html)
    assert references, "the docs page links its script and styles"
    for reference in references:
        assert reference.startswith("/"), f"{docs} loads {reference} from another host"
        assert client.get(reference).status_code == 200, reference
    assert "cdn" not in html.lower()


def test_every_asset_linked_from_every_demo_page_is_served(client):
    """Each persona of the demo, signed in, follows every link of its pages (one level from
    the dashboard's navigation, and the pages those reach); every stylesheet, script and image
    they link answers 200 with its type."""
    from frontend.demo import DEMO_LOGINS, seed_demo

    seed_demo()
    checked: dict[str, str] = {}
    for login in DEMO_LOGINS:
        client.force_login(_user(login.email))
        seen: set[str] = set()
        frontier = ["/"]
        for _depth in range(2):
            found: list[str] = []
            for url in frontier:
                if url in seen:
                    continue
                seen.add(url)
                response = client.get(url, follow=True)
                if "text/html" not in response.get("Content-Type", ""):
                    continue
                html = response.content.decode()
                for asset in re.findall(r'(?:href|src)="(/static/[^"]+)"', html):
                    checked.setdefault(asset, url)
                found += [
                    link
                    for link in re.findall(r'href="(/[^"#?]*)"', html)
                    if not link.startswith(("/static/", "/admin/", "/api/", "/logout"))
                ]
            frontier = found
        assert len(seen) > 5, f"{login.email} reached only {sorted(seen)}"
    assert len(checked) >= 3
    for asset, page in checked.items():
        response = client.get(asset)
        assert response.status_code == 200, f"{asset} (linked from {page})"
        kind = mimetypes.guess_type(asset)[0] or ""
        assert kind.split("/")[-1] in response["Content-Type"], (asset, response["Content-Type"])


def _user(email: str):
    from accounts.models import User

    return User.objects.get(email=email)
