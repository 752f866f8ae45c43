"""The catalogue API end to end: catalogues, consent rows, terms, content upload, history,
import problems."""

from __future__ import annotations

import hashlib
import os

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from accounts.models import Organisation
from catalog.models import Consent, LicenceTerms, WorkImport
from catalog.services import HASH_CHUNK_BYTES
from tests.catalog.factories import CatalogueFactory, make_work

pytestmark = pytest.mark.django_db


def test_catalogues_are_created_for_your_own_creator_organisation(creator, developer):
    api = creator.api()
    created = api.post("/api/v1/catalogues/", {"name": "Backlist"}, format="json")
    assert created.status_code == 201
    body = created.json()
    assert body["owner"] == creator.organisation.pk
    assert body["default_consent"]["ai-train"] is False  # opt-in: nothing until granted
    assert body["rsl_url"].endswith(f"/licensing/catalogues/{body['id']}/rsl.xml")
    again = api.post("/api/v1/catalogues/", {"name": "Backlist"}, format="json")
    assert again.status_code == 400 and "name" in again.json()["errors"]
    renamed = api.patch(f"/api/v1/catalogues/{body['id']}/", {"name": "Front list"}, format="json")
    assert renamed.json()["name"] == "Front list"
    refused = developer.api().post("/api/v1/catalogues/", {"name": "Mine"}, format="json")
    assert refused.status_code == 400 and "owner" in refused.json()["errors"]


def test_consent_rows_set_change_and_fall_back_to_the_default(creator):
    catalogue = CatalogueFactory(owner=creator.organisation)
    work = make_work(catalogue)
    api = creator.api()
    default = api.post(
        "/api/v1/consents/",
        {"catalogue": catalogue.pk, "use": "ai-train", "granted": True},
        format="json",
    )
    assert default.status_code == 200 and default.json()["granted"] is True
    own = api.post(
        "/api/v1/consents/", {"work": work.pk, "use": "ai-train", "granted": False}, format="json"
    ).json()
    assert api.get(f"/api/v1/works/{work.pk}/").json()["effective_consent"]["ai-train"] is False
    flipped = api.patch(f"/api/v1/consents/{own['id']}/", {"granted": True}, format="json")
    assert flipped.json()["granted"] is True
    assert api.delete(f"/api/v1/consents/{own['id']}/").status_code == 204
    body = api.get(f"/api/v1/works/{work.pk}/").json()
    assert body["consent"]["ai-train"] is None and body["effective_consent"]["ai-train"] is True
    both = api.post(
        "/api/v1/consents/",
        {"work": work.pk, "catalogue": catalogue.pk, "use": "ai-train", "granted": True},
        format="json",
    )
    assert both.status_code == 400
    listed = api.get(f"/api/v1/consents/?catalogue={catalogue.pk}").json()["results"]
    assert [row["use"] for row in listed] == ["ai-train"]


def test_terms_default_and_override(creator):
    catalogue = CatalogueFactory(owner=creator.organisation)
    work = make_work(catalogue)
    api = creator.api()
    default = api.post(
        "/api/v1/terms/",
        {
            "catalogue": catalogue.pk,
            "currency": "usd",
            "upfront_fee_minor": 120_000,
            "rate_tokens_trained_minor": "0.3",
            "territories": ["world"],
        },
        format="json",
    )
    assert default.status_code == 200, default.json()
    assert default.json()["currency"] == "USD" and default.json()["territories"] == ["WORLD"]
    override = api.post(
        "/api/v1/terms/",
        {"work": work.pk, "upfront_fee_minor": 60_000, "upfront_fee_basis": "per_work"},
        format="json",
    ).json()
    assert override["rate_tokens_trained_minor"] == "0.3000000000"  # started from the default
    assert LicenceTerms.objects.filter(catalogue=catalogue).count() == 2
    bad = api.patch(f"/api/v1/terms/{override['id']}/", {"territories": ["Narnia"]}, format="json")
    assert bad.status_code == 400 and "territories" in bad.json()["errors"]
    assert api.delete(f"/api/v1/terms/{override['id']}/").status_code == 204
    assert not LicenceTerms.objects.filter(work=work).exists()


def test_content_upload_is_hashed_while_it_streams(creator, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    settings.FILE_UPLOAD_MAX_MEMORY_SIZE = 1024  # the upload goes through a temporary file
    work = make_work(CatalogueFactory(owner=creator.organisation))
    content = os.urandom(HASH_CHUNK_BYTES * 2 + 12_345)  # several chunks
    response = creator.api().post(
        f"/api/v1/works/{work.pk}/content/",
        {"file": SimpleUploadedFile("book.epub", content)},
        format="multipart",
    )
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["content_sha256"] == hashlib.sha256(content).hexdigest()
    assert body["size_bytes"] == len(content) and body["has_content_file"] is True
    work.refresh_from_db()
    with work.content_file.open("rb") as stored:
        assert hashlib.sha256(stored.read()).hexdigest() == body["content_sha256"]


def test_history_and_import_problems_endpoints(creator, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    catalogue = CatalogueFactory(owner=creator.organisation)
    work = make_work(catalogue)
    api = creator.api()
    api.post("/api/v1/consents/", {"work": work.pk, "use": "ai-input", "granted": True})
    history = api.get(f"/api/v1/works/{work.pk}/history/").json()["results"]
    # The test runs in one transaction, so the split and the consent share a timestamp and
    # their relative order is arbitrary; the consent change itself must be there.
    consent = [entry for entry in history if entry["subject"].startswith("Consent")]
    assert [c["subject"] for c in consent] == ["Consent for ai-input"]
    assert consent[0]["before"] == "catalogue default" and consent[0]["after"] == "granted"
    api.post("/api/v1/consents/", {"catalogue": catalogue.pk, "use": "ai-index", "granted": True})
    assert api.get(f"/api/v1/catalogues/{catalogue.pk}/history/").json()["count"] == 1

    work_import = WorkImport.objects.create(catalogue=catalogue, file="x.csv", format="csv")
    work_import.problems.create(row_number=3, column="isbn13", reason="bad check digit")
    problems = api.get(f"/api/v1/imports/{work_import.pk}/problems/").json()["results"]
    assert problems == [
        {"id": problems[0]["id"], "row_number": 3, "column": "isbn13", "reason": "bad check digit"}
    ]
    upload = SimpleUploadedFile("works.txt", b"title\n")
    refused = api.post(
        "/api/v1/imports/", {"catalogue": catalogue.pk, "file": upload}, format="multipart"
    )
    assert refused.status_code == 400 and "format" in refused.json()["errors"]


def test_co_holders_see_shared_works_but_not_consent_rows(creator, tenant_factory):
    ben = tenant_factory(Organisation.Kind.CREATOR, "Ben Ode")
    work = make_work(
        CatalogueFactory(owner=creator.organisation),
        shares=[(creator.organisation, 5000), (ben.organisation, 5000)],
        consent={"ai-train": True},
    )
    api = ben.api()
    assert [w["id"] for w in api.get("/api/v1/works/").json()["results"]] == [work.pk]
    consent = Consent.objects.get(work=work)
    assert api.get(f"/api/v1/consents/{consent.pk}/").status_code == 404
    mine = api.get("/api/v1/confirmations/").json()["results"]
    assert [(row["work"], row["holder"]) for row in mine] == [(work.pk, ben.organisation.pk)]
