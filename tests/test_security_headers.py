"""Headers every page keeps (issue 15, finding 8: there was no Content-Security-Policy): a
policy allowing only our own files (no inline script or style), Stripe's hosted pages as form
targets, and the other headers a browser should get. The browser tests (tests/browser/,
tests/demo_stack/) fail on any policy violation Chromium reports."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

pytestmark = pytest.mark.django_db

TEMPLATES = Path(__file__).resolve().parents[1] / "frontend" / "templates"


def _policy(response) -> dict[str, list[str]]:
    header = response["Content-Security-Policy"]
    return {part.split()[0]: part.split()[1:] for part in header.split(";") if part.strip()}


@pytest.mark.parametrize("path", ["/", "/login/", "/signup/", "/api/docs/", "/admin/login/"])
def test_pages_allow_only_their_own_scripts_and_styles(client, settings, path):
    settings.STRIPE_API_BASE = "http://127.0.0.1:12111"
    response = client.get(path, follow=True)
    policy = _policy(response)
    assert policy["script-src"] == ["'self'"]
    assert policy["style-src"] == ["'self'"]
    assert policy["object-src"] == ["'none'"] and policy["frame-ancestors"] == ["'none'"]
    assert policy["form-action"] == ["'self'", "http://127.0.0.1:12111"]
    assert "camera=()" in response["Permissions-Policy"]
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "same-origin"


def test_in_production_forms_may_lead_only_to_stripes_hosted_pages(client, settings):
    settings.STRIPE_API_BASE = ""
    policy = _policy(client.get("/login/"))
    assert policy["form-action"] == [
        "'self'",
        "https://checkout.stripe.com",
        "https://connect.stripe.com",
    ]


def test_the_swagger_page_loads_its_script_from_a_url(client):
    page = client.get("/api/docs/").content.decode()
    assert '<html lang="en">' in page
    [script_url] = re.findall(r'<script src="(/api/docs/\?[^"]*script[^"]*)"', page)
    script = client.get(script_url.replace("&amp;", "&"))
    assert script.status_code == 200 and b"SwaggerUIBundle" in script.content


def test_only_redoc_may_use_inline_styles(client):
    policy = _policy(client.get("/api/redoc/"))
    assert policy["style-src"] == ["'self'", "'unsafe-inline'"]
    assert policy["script-src"] == ["'self'"]


def test_no_template_has_an_inline_script_or_event_handler():
    offenders = []
    for template in sorted(TEMPLATES.rglob("*.html")):
        text = template.read_text(encoding="utf-8")
        if (
            re.search(r"<script(?![^>]*\bsrc=)[^>]*>", text)
            or re.search(r"\son[a-z]+=\"", text)
            or re.search(r"\sstyle=\"", text)
            or "<style" in text
        ):
            offenders.append(str(template.relative_to(TEMPLATES)))
    assert offenders == []
