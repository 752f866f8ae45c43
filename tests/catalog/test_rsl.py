"""The RSL 1.0 document of a catalogue says what consent and the price list say."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from decimal import Decimal

import pytest

from catalog.models import Consent, LicenceTerms
from core.money import major_text
from tests.catalog.factories import CatalogueFactory, default_terms, make_work

pytestmark = pytest.mark.django_db
NS = {"rsl": "https://rslstandard.org/rsl"}


@pytest.fixture
def mixed(creator):
    catalogue = CatalogueFactory(owner=creator.organisation, name="Harbour Press Backlist")
    for use in ("ai-train", "ai-finetune"):
        Consent.objects.create(catalogue=catalogue, use=use, granted=True)
    default_terms(
        catalogue,
        upfront_fee_minor=120_000,
        rate_tokens_trained_minor=Decimal("0.3"),
        attribution_required=True,
        territories=["GB", "US"],
    )
    works = {
        "salt": make_work(catalogue, title="Salt Roads"),
        "quiet": make_work(
            catalogue, title="The Quiet Key", consent={"ai-index": True, "ai-finetune": False}
        ),
        "hidden": make_work(
            catalogue, title="Kept Back", consent={"ai-train": False, "ai-finetune": False}
        ),
        "priced": make_work(catalogue, title="Priced Alone", url="https://harbour.example/p"),
    }
    LicenceTerms.objects.create(
        catalogue=catalogue,
        work=works["priced"],
        currency="EUR",
        upfront_fee_basis="per_work",
        upfront_fee_minor=50_000,
        rate_retrievals_minor=Decimal("0.25"),
        territories=["WORLD"],
    )
    return catalogue, works


def _parse(client, catalogue):
    response = client.get(f"/licensing/catalogues/{catalogue.pk}/rsl.xml")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/rsl+xml")
    return ET.fromstring(b"".join(response.streaming_content))


def _license(content):
    license_ = content.find("rsl:license", NS)
    usage = {
        element.tag.split("}")[1]: element.text.split(",")
        for element in license_
        if element.tag.endswith(("permits", "prohibits")) and element.get("type") == "usage"
    }
    payments = {
        p.get("type"): (
            p.find("rsl:amount", NS).text if p.find("rsl:amount", NS) is not None else None,
            p.find("rsl:amount", NS).get("currency")
            if p.find("rsl:amount", NS) is not None
            else None,
        )
        for p in license_.findall("rsl:payment", NS)
    }
    geo = [e.text for e in license_.findall("rsl:permits", NS) if e.get("type") == "geo"]
    return usage, payments, geo


def test_the_rsl_document_says_what_consent_and_terms_say(client, mixed):
    catalogue, works = mixed
    root = _parse(client, catalogue)  # public: no login
    assert root.tag == "{https://rslstandard.org/rsl}rsl"
    contents = {c.get("url"): c for c in root.findall("rsl:content", NS)}
    base = "http://testserver"
    assert set(contents) == {
        f"{base}/licensing/catalogues/{catalogue.pk}/*",
        f"{base}/licensing/works/{works['salt'].pk}/",
        f"{base}/licensing/works/{works['quiet'].pk}/",
        "https://harbour.example/p",
    }  # "Kept Back" has no consent: it is not in the document at all

    usage, payments, geo = _license(contents[f"{base}/licensing/catalogues/{catalogue.pk}/*"])
    assert usage == {"permits": ["ai-train"], "prohibits": ["ai-input", "ai-index"]}
    assert payments == {
        "purchase": ("1200.00", "USD"),
        "training": ("0.003", "USD"),
        "attribution": (None, None),
    }
    assert geo == ["GB,US"]

    salt = contents[f"{base}/licensing/works/{works['salt'].pk}/"]
    usage, payments, _ = _license(salt)
    assert usage == {"permits": ["ai-train"], "prohibits": ["ai-input", "ai-index"]}
    # The fee is per catalogue (stated on the catalogue's content); here it links the terms.
    assert payments["purchase"] == (None, None)
    custom = salt.find("rsl:license/rsl:payment[@type='purchase']/rsl:custom", NS).text
    assert custom == f"{base}/licensing/catalogues/{catalogue.pk}/terms/#work-{works['salt'].pk}"
    assert payments["training"] == ("0.003", "USD")

    usage, _, _ = _license(contents[f"{base}/licensing/works/{works['quiet'].pk}/"])
    # Fine-tuning withdrawn: RSL's ai-train covers it, so ai-train is prohibited, not permitted.
    assert usage == {"permits": ["ai-index"], "prohibits": ["ai-train", "ai-input"]}

    usage, payments, geo = _license(contents["https://harbour.example/p"])
    assert payments == {"purchase": ("500.00", "EUR"), "use": ("0.0025", "EUR")}
    assert geo == []
    for content in contents.values():
        usage = _license(content)[0]
        assert not set(usage.get("permits", [])) & set(usage.get("prohibits", []))
        terms = content.find("rsl:terms", NS).text
        assert terms.startswith(f"{base}/licensing/catalogues/{catalogue.pk}/terms/")


def test_a_catalogue_without_consent_prohibits_every_use(client, creator):
    catalogue = CatalogueFactory(owner=creator.organisation)
    make_work(catalogue, title="Private")
    root = _parse(client, catalogue)
    contents = root.findall("rsl:content", NS)
    assert len(contents) == 1
    usage, payments, _ = _license(contents[0])
    assert usage == {"prohibits": ["ai-train", "ai-input", "ai-index"]}
    assert payments == {}


def test_catalogue_pages_link_their_rsl_document(client, creator, mixed):
    catalogue, _ = mixed
    href = f"/licensing/catalogues/{catalogue.pk}/rsl.xml"
    rsl = f'<link rel="license" type="application/rsl+xml" href="{href}">'
    assert rsl in creator.session().get(f"/catalogues/{catalogue.pk}/").content.decode()
    public = client.get(f"/licensing/catalogues/{catalogue.pk}/terms/").content.decode()
    assert rsl in public
    assert "Kept Back" not in public and "Salt Roads" in public


@pytest.mark.parametrize(
    ("minor", "currency", "expected"),
    [
        (120_000, "USD", "1200.00"),
        (5, "USD", "0.05"),
        (Decimal("0.3"), "USD", "0.003"),
        (5000, "JPY", "5000"),
        (1234, "KWD", "1.234"),
    ],
)
def test_amounts_are_decimal_major_units(minor, currency, expected):
    assert major_text(minor, currency) == expected
