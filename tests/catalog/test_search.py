"""Licensee search: full text on title and metadata, filters, sorting, pagination; only works
with consent and a confirmed split sheet."""

from __future__ import annotations

import pytest

from catalog.models import Consent, LicenceTerms, Work
from catalog.selectors import licensable_work_search
from tests.catalog.factories import CatalogueFactory, creator, default_terms, make_work

pytestmark = pytest.mark.django_db


@pytest.fixture
def library(tenant_factory):
    harbour = tenant_factory("creator", "Harbour Press").organisation
    north = creator("North Label", "north-label")
    books = CatalogueFactory(owner=harbour, name="Backlist")
    Consent.objects.create(catalogue=books, use="ai-train", granted=True)
    default_terms(books, upfront_fee_minor=120_000)
    songs = CatalogueFactory(owner=north, name="Songs")
    Consent.objects.create(catalogue=songs, use="ai-input", granted=True)
    default_terms(songs, upfront_fee_minor=30_000, currency="EUR")
    works = {
        "salt": make_work(
            books, title="Salt Roads", language="en-GB", metadata={"author": "Ana Rivera"}
        ),
        "key": make_work(books, title="The Quiet Key", language="fr", metadata={"topic": "sea"}),
        "song": make_work(
            songs, title="Harbour Song", metadata={"performer": "Ana Rivera"}, isrc="GBAYE1900003"
        ),
        "secret": make_work(
            books, title="Salt Secret", consent={"ai-train": False}, metadata={"x": "salt"}
        ),
    }
    works["song"].kind = Work.Kind.AUDIO_RECORDING
    works["song"].save(update_fields=["kind"])
    LicenceTerms.objects.create(
        catalogue=books, work=works["key"], upfront_fee_minor=5_000, territories=["WORLD"]
    )
    return harbour, north, works


def _titles(queryset):
    return [w.title for w in queryset]


def test_full_text_matches_title_and_metadata_prefixes_and_never_unconsented(library):
    assert _titles(licensable_work_search(text="salt")) == ["Salt Roads"]
    assert _titles(licensable_work_search(text="riv ana", sort="title")) == [
        "Harbour Song",
        "Salt Roads",
    ]
    assert _titles(licensable_work_search(text="sea")) == ["The Quiet Key"]
    assert _titles(licensable_work_search(text="!!!", sort="title")) == [
        "Harbour Song",
        "Salt Roads",
        "The Quiet Key",
    ]


def test_filters_and_sorting(library):
    _harbour, north, works = library
    assert _titles(licensable_work_search(kind="audio_recording")) == ["Harbour Song"]
    assert _titles(licensable_work_search(language="en")) == ["Salt Roads"]
    assert _titles(licensable_work_search(use="ai-input")) == ["Harbour Song"]
    assert _titles(licensable_work_search(owner_id=north.pk)) == ["Harbour Song"]
    books = works["salt"].catalogue_id
    assert _titles(licensable_work_search(catalogue_id=books)) == ["Salt Roads", "The Quiet Key"]
    assert _titles(licensable_work_search(currency="usd", sort="fee")) == [
        "The Quiet Key",  # its own terms: 50.00
        "Salt Roads",  # the catalogue's: 1,200.00
    ]
    assert _titles(licensable_work_search(fee_min_minor=10_000, fee_max_minor=50_000)) == [
        "Harbour Song"
    ]
    assert _titles(licensable_work_search(sort="-fee")) == [
        "Salt Roads",
        "Harbour Song",
        "The Quiet Key",
    ]


def test_the_search_api_and_page_for_licensees(library, developer):
    api = developer.api()
    body = api.get("/api/v1/licensable-works/?q=salt").json()
    assert [row["title"] for row in body["results"]] == ["Salt Roads"]
    row = body["results"][0]
    assert row["permitted_uses"] == ["ai-train"]
    assert row["terms"]["upfront_fee_minor"] == 120_000 and row["terms"]["currency"] == "USD"
    assert api.get("/api/v1/licensable-works/?kind=nonsense").status_code == 400
    paged = api.get("/api/v1/licensable-works/?page_size=2&sort=title").json()
    assert paged["count"] == 3 and len(paged["results"]) == 2
    page = developer.session().get("/licensing/works/?q=ana&use=ai-input").content.decode()
    assert "Harbour Song" in page and "Salt Roads" not in page
    fragment = developer.session().get("/licensing/works/?q=salt", HTTP_HX_REQUEST="true")
    assert fragment.content.decode().lstrip().startswith('<div id="search-results"')
