"""The creator, co-holder and licensee pages, driven through Django's test client."""

from __future__ import annotations

import hashlib

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from accounts.models import Organisation
from catalog.models import Consent, LicenceTerms, Work
from tests.catalog.factories import CatalogueFactory, make_work

pytestmark = pytest.mark.django_db


def _post(client, url, data, **extra):
    return client.post(url, data, format="multipart", **extra)


def test_a_creator_adds_a_work_with_a_co_holder_sets_consent_and_terms(creator, tenant_factory):
    ben = tenant_factory(Organisation.Kind.CREATOR, "Ben Ode")
    catalogue = CatalogueFactory(owner=creator.organisation, name="Backlist")
    web = creator.session()
    assert "Add a work" in web.get(f"/catalogues/{catalogue.pk}/").content.decode()

    short = _post(
        web,
        f"/catalogues/{catalogue.pk}/works/new/",
        {
            "title": "The Quiet Key",
            "kind": "book",
            "holder_0": creator.organisation.slug,
            "role_0": "publisher",
            "percent_0": "50",
            "holder_1": ben.organisation.slug,
            "role_1": "author",
            "percent_1": "40",
        },
    )
    assert short.status_code == 200
    assert "must total exactly 10,000 basis points" in short.content.decode()
    assert not Work.objects.exists()

    created = _post(
        web,
        f"/catalogues/{catalogue.pk}/works/new/",
        {
            "title": "The Quiet Key",
            "kind": "book",
            "isbn13": "978-0-306-40615-7",
            "holder_0": creator.organisation.slug,
            "role_0": "publisher",
            "percent_0": "50",
            "holder_1": ben.organisation.slug,
            "role_1": "author",
            "percent_1": "50",
            "consent_ai-train": "yes",
            "file": SimpleUploadedFile("key.txt", b"Once upon a quiet key."),
        },
    )
    work = Work.objects.get()
    assert created.status_code == 302 and created["Location"] == f"/works/{work.pk}/"
    assert work.content_sha256 == hashlib.sha256(b"Once upon a quiet key.").hexdigest()
    assert work.size_bytes == 22
    detail = web.get(f"/works/{work.pk}/").content.decode()
    assert "awaiting confirmation from Ben Ode" in detail

    terms = _post(
        web,
        f"/works/{work.pk}/terms/",
        {
            "currency": "USD",
            "upfront_fee": "600.00",
            "upfront_fee_basis": "per_work",
            "rate_tokens_trained_minor": "0.3",
            "minimum_guarantee": "0",
            "term_months": "12",
            "territories": "WORLD",
            "revenue_share": "2.5",
        },
    )
    assert terms.status_code == 302
    own = LicenceTerms.objects.get(work=work)
    assert (own.upfront_fee_minor, str(own.rate_tokens_trained_minor), own.revenue_share_bp) == (
        60_000,
        "0.3000000000",
        250,
    )
    toggled = _post(
        web, f"/works/{work.pk}/consent/ai-index/", {"consent": "yes"}, HTTP_HX_REQUEST="true"
    )
    assert 'data-testid="work-consent"' in toggled.content.decode()
    assert Consent.objects.get(work=work, use="ai-index").granted is True


def test_the_live_split_total(creator):
    web = creator.session()
    fragment = _post(web, "/splits/check/", {"percent_0": "70", "percent_1": "20"}).content
    assert "10 % still to assign" in fragment.decode()
    done = _post(web, "/splits/check/", {"percent_0": "70", "percent_1": "30"}).content.decode()
    assert "Shares total 100 %" in done
    over = _post(web, "/splits/check/", {"percent_0": "70", "percent_1": "40"}).content.decode()
    assert "over 100 %" in over


def test_a_co_holder_confirms_on_its_page_and_cannot_edit(creator, tenant_factory):
    ben = tenant_factory(Organisation.Kind.CREATOR, "Ben Ode")
    work = make_work(
        CatalogueFactory(owner=creator.organisation),
        title="The Quiet Key",
        shares=[(creator.organisation, 5000), (ben.organisation, 5000)],
        confirmed=False,
    )
    web = ben.session()
    inbox = web.get("/confirmations/").content.decode()
    assert "Works awaiting your confirmation" in inbox and "The Quiet Key" in inbox
    assert web.get(f"/works/{work.pk}/edit/").status_code == 403
    assert _post(web, f"/works/{work.pk}/consent/ai-train/", {"consent": "yes"}).status_code == 403
    from catalog.services import split_sheet_fingerprint

    confirmed = _post(
        web,
        f"/works/{work.pk}/confirm/",
        {
            "holder": ben.organisation.pk,
            "fingerprint": split_sheet_fingerprint(work=work),
            "next": "https://elsewhere.example/",
        },
    )
    assert confirmed.status_code == 302
    assert confirmed["Location"] == "/confirmations/"  # never an open redirect
    assert not work.rights_shares.filter(confirmed_at__isnull=True).exists()
    assert "Nothing is waiting for you" in web.get("/confirmations/").content.decode()


def test_another_organisation_gets_404_on_every_creator_page(creator, tenant_factory):
    stranger = tenant_factory(Organisation.Kind.CREATOR, "Stranger").session()
    catalogue = CatalogueFactory(owner=creator.organisation)
    work = make_work(catalogue)
    for url in (
        f"/catalogues/{catalogue.pk}/",
        f"/catalogues/{catalogue.pk}/terms/",
        f"/catalogues/{catalogue.pk}/works/new/",
        f"/catalogues/{catalogue.pk}/imports/new/",
        f"/works/{work.pk}/",
        f"/works/{work.pk}/history/",
        f"/works/{work.pk}/edit/",
    ):
        assert stranger.get(url).status_code == 404, url


def test_catalogue_default_consent_toggle_and_dashboard_panel(creator):
    catalogue = CatalogueFactory(owner=creator.organisation)
    make_work(catalogue)
    web = creator.session()
    fragment = _post(
        web,
        f"/catalogues/{catalogue.pk}/consent/ai-train/",
        {"granted": "on"},
        HTTP_HX_REQUEST="true",
    )
    assert 'id="catalogue-consent"' in fragment.content.decode()
    assert Consent.objects.get(catalogue=catalogue, use="ai-train").granted
    panel = web.get("/catalog/panel/").content.decode()
    assert "1 catalogue" in panel and "1 licensable" in panel
    history = web.get(f"/catalogues/{catalogue.pk}/history/").content.decode()
    assert "Consent for ai-train" in history
