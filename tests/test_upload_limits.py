"""Upload limits (issue 15, finding 8: no upload size limit, and a rejected 50 MB file stayed
on disk): every upload has a size limit with a clear error, and the file of a rejected or
failed catalogue import is deleted."""

from __future__ import annotations

import gzip

import pytest
from django.core.files.base import ContentFile
from django.core.files.uploadedfile import SimpleUploadedFile

from catalog.importers import work_import_run
from catalog.models import WorkImport
from tests.catalog.factories import CatalogueFactory
from tests.usage.test_usage_api import lines_for, parties, post, upload_url  # noqa: F401
from usage.models import UsageReport

pytestmark = pytest.mark.django_db


@pytest.fixture
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    return tmp_path


def _stored_files(root) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def test_a_catalogue_file_over_the_limit_is_refused_before_it_is_stored(creator, media, settings):
    settings.CATALOGUE_IMPORT_MAX_BYTES = 1_000
    catalogue = CatalogueFactory(owner=creator.organisation)
    big = SimpleUploadedFile("works.csv", b"title,kind\n" + b"x,book\n" * 200, "text/csv")
    response = creator.api().post(
        "/api/v1/imports/", {"catalogue": catalogue.pk, "file": big}, format="multipart"
    )
    assert response.status_code == 400
    assert "at most 1,000 bytes" in str(response.json()["errors"])
    assert not WorkImport.objects.exists() and _stored_files(media) == []

    page = creator.session().post(
        f"/catalogues/{catalogue.pk}/imports/new/",
        {"file": SimpleUploadedFile("works.csv", b"title,kind\n" + b"x,book\n" * 200)},
        format="multipart",
    )
    assert page.status_code == 200
    assert "at most 1,000 bytes" in page.content.decode()
    assert _stored_files(media) == []


@pytest.mark.parametrize(
    "content", [b"title,colour\nx,red\n", b"\xff\xfe" + "title".encode("utf-16-le")]
)
def test_a_rejected_imports_file_is_deleted(creator, media, content):
    catalogue = CatalogueFactory(owner=creator.organisation)
    work_import = WorkImport(catalogue=catalogue, format="csv")
    work_import.file.save("works.csv", ContentFile(content), save=False)
    work_import.save()
    assert _stored_files(media)
    done = work_import_run(import_id=work_import.pk)
    assert done.status == WorkImport.Status.REJECTED
    assert done.problems.exists()  # what to fix stays
    assert _stored_files(media) == []


def test_a_usage_report_over_the_limit_answers_413_and_stores_nothing(parties, settings):  # noqa: F811
    world, licensee, _ = parties
    settings.USAGE_REPORT_MAX_BYTES = 200
    body = lines_for(world, *range(1, 40))
    response = post(licensee.api(), upload_url(world, report_id="big"), body)
    assert response.status_code == 413
    assert response.json()["code"] == "payload_too_large"
    assert "at most 200 bytes" in response.json()["detail"]
    # The limit is on the body as sent: the same lines gzipped fit.
    squeezed = gzip.compress(body.encode(), mtime=0)
    settings.USAGE_REPORT_MAX_BYTES = len(squeezed)
    assert not UsageReport.objects.exists()
    fits = post(
        licensee.api(),
        upload_url(world, report_id="big"),
        squeezed,
        HTTP_CONTENT_ENCODING="gzip",
    )
    assert fits.status_code == 201, fits.content
    assert UsageReport.objects.get().line_count == 39
