"""Bulk import: every bad row reported and nothing imported, re-imports update, splits and
consent land with their history; a 2,000-row file through the real Celery worker."""

from __future__ import annotations

import io
import json
import time
from pathlib import Path

import pytest
from django.core.files.base import ContentFile
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from accounts.models import Organisation
from catalog.importers import work_import_run
from catalog.models import Consent, RightsShare, Work, WorkImport
from catalog.selectors import works_not_licensable
from tests.catalog.factories import CatalogueFactory, isbn13

EXAMPLES = Path(__file__).resolve().parents[2] / "docs" / "examples"
HEADER = "title,kind,language,isbn13,isrc,metadata,ai-train,ai-index,shares\n"


@pytest.fixture
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    return tmp_path


@pytest.fixture
def holders(db, creator):
    """The demo's rights holders, by slug; Harbour Press is the `creator` tenant."""
    creator.organisation.slug = "harbour-press"
    creator.organisation.save(update_fields=["slug"])
    return {
        slug: Organisation.objects.create(
            name=name, slug=slug, kind="creator", creator_category="author"
        )
        for slug, name in (
            ("ana-rivera", "Ana Rivera"),
            ("ben-ode", "Ben Ode"),
            ("chloe-marsh", "Chloe Marsh"),
        )
    }


def _import(catalogue, text: str, name: str = "works.csv", **options) -> WorkImport:
    work_import = WorkImport(catalogue=catalogue, format=name.rsplit(".", 1)[1], **options)
    work_import.file.save(name, ContentFile(text.encode()), save=False)
    work_import.save()
    return work_import_run(import_id=work_import.pk)


def _row(n: int, *, shares: str = "ana-rivera:author:7000;harbour-press:publisher:3000") -> str:
    return f'Work {n},book,en,{isbn13(n)},,"{{""n"": {n}}}",yes,no,{shares}\n'


@pytest.mark.django_db
def test_a_file_with_three_bad_rows_reports_them_and_imports_nothing(creator, holders, media):
    catalogue = CatalogueFactory(owner=creator.organisation)
    rows = [_row(n) for n in range(1, 11)]
    rows[2] = "Bad check digit,book,en,978-0-306-40615-8,,,yes,no,ana-rivera:author:10000\n"
    rows[5] = _row(6, shares="ana-rivera:author:7000;harbour-press:publisher:2000")
    rows[8] = _row(9, shares="nobody-here:author:10000")
    result = _import(catalogue, HEADER + "".join(rows))

    assert result.status == WorkImport.Status.REJECTED
    problems = list(result.problems.values_list("row_number", "column", "reason"))
    assert [(row, column) for row, column, _ in problems] == [
        (4, "isbn13"),
        (7, "shares"),
        (10, "shares"),
    ]
    assert "check digit should be 7, not 8" in problems[0][2]
    assert "total 9,000 basis points" in problems[1][2]
    assert 'No rights-holder organisation with the slug "nobody-here"' in problems[2][2]
    assert result.rows_invalid == 3 and result.rows_total == 10
    assert not Work.objects.exists()
    assert not RightsShare.objects.exists()


@pytest.mark.django_db
def test_importing_the_example_files_then_again_updates_instead_of_duplicating(
    creator, holders, media
):
    catalogue = CatalogueFactory(owner=creator.organisation)
    first = _import(catalogue, (EXAMPLES / "works.csv").read_text(), "works.csv")
    assert first.status == WorkImport.Status.SUCCEEDED, list(first.problems.values())
    assert (first.works_created, first.works_updated) == (4, 0)
    salt = Work.objects.get(isbn13="9780306406157")
    assert salt.metadata["author"] == "Ana Rivera"
    assert sorted(salt.rights_shares.values_list("holder__slug", "share_bp")) == [
        ("ana-rivera", 7000),
        ("harbour-press", 3000),
    ]
    owner_line = salt.rights_shares.get(holder=creator.organisation)
    assert owner_line.confirmed_at is not None
    assert salt.rights_shares.get(holder=holders["ana-rivera"]).confirmed_at is None
    assert dict(salt.consents.values_list("use", "granted")) == {
        "ai-train": True,
        "ai-finetune": True,
    }
    lights = Work.objects.get(isrc="GBHPR2400017")
    assert dict(lights.consents.values_list("use", "granted"))["synthetic-likeness"] is False

    # Ana confirms; re-importing the same data (as JSON Lines) changes nothing...
    salt.rights_shares.filter(holder=holders["ana-rivera"]).update(confirmed_at=timezone.now())
    again = _import(catalogue, (EXAMPLES / "works.jsonl").read_text(), "works.jsonl")
    assert again.status == WorkImport.Status.SUCCEEDED, list(again.problems.values())
    assert (again.works_created, again.works_updated) == (0, 4)
    assert Work.objects.count() == 4
    assert works_not_licensable(work_ids=[salt.pk], uses=["ai-train"]) == {}

    # ... and a changed split asks Ana again, with the change on the record.
    changed = (
        (EXAMPLES / "works.csv")
        .read_text()
        .replace(
            "ana-rivera:author:7000;harbour-press:publisher:3000",
            "ana-rivera:author:6000;harbour-press:publisher:4000",
        )
    )
    third = _import(catalogue, changed)
    assert third.status == WorkImport.Status.SUCCEEDED
    assert sorted(salt.rights_shares.values_list("share_bp", flat=True)) == [4000, 6000]
    assert works_not_licensable(work_ids=[salt.pk], uses=["ai-train"]) == {
        salt.pk: ["Salt Roads: split sheet awaiting confirmation from Ana Rivera"]
    }
    events = RightsShare.pgh_event_model.objects.filter(work_id=salt.pk, share_bp=6000)
    assert events.exists()
    assert {e.pgh_context.metadata["via"] for e in events} == {"import"}


@pytest.mark.django_db
def test_set_based_checks_across_the_file_and_the_catalogue(creator, holders, media):
    catalogue = CatalogueFactory(owner=creator.organisation)
    _import(catalogue, HEADER + _row(1) + _row(2))
    rows = (
        _row(3)
        + _row(3)  # the same ISBN twice in the file
        + f"Two works,book,en,{isbn13(1)},,,,,harbour-press:publisher:10000\n"
    )
    existing_isrc = Work.objects.get(isbn13=isbn13(2))
    existing_isrc.isrc = "GBAYE1900001"
    existing_isrc.save(update_fields=["isrc"])
    rows += f"Mixed,book,en,{isbn13(1)},GB-AYE-19-00001,,,,harbour-press:publisher:10000\n"
    result = _import(catalogue, HEADER + rows)
    problems = sorted(result.problems.values_list("row_number", "column", "reason"))
    assert problems[0][:2] == (3, "isbn13") and "already appears in row 2" in problems[0][2]
    assert (5, "identifiers", "Names the same existing work as row 4.") in problems
    assert any(p[0] == 5 and p[1] == "isrc" and "belongs to the work" in p[2] for p in problems)
    assert {p[0] for p in problems} == {3, 5}
    assert Work.objects.count() == 2


@pytest.mark.django_db
def test_import_valid_rows_imports_the_good_ones_and_reports_the_rest(creator, holders, media):
    catalogue = CatalogueFactory(owner=creator.organisation)
    text = HEADER + _row(1) + "No kind,,en,,,,,,harbour-press:publisher:10000\n" + _row(3)
    result = _import(catalogue, text, import_valid_rows=True)
    assert result.status == WorkImport.Status.SUCCEEDED
    assert result.works_created == 2 and result.rows_invalid == 1
    assert {p.column for p in result.problems.all()} == {"kind", "identifiers"}


@pytest.mark.django_db
def test_an_unreadable_file_is_rejected_with_one_problem(creator, holders, media):
    catalogue = CatalogueFactory(owner=creator.organisation)
    result = _import(catalogue, "title,kind,colour\nx,book,red\n")
    assert result.status == WorkImport.Status.REJECTED
    assert list(result.problems.values_list("row_number", "column")) == [(1, "colour")]
    bad_json = _import(catalogue, '{"title": "x"\n', "w.jsonl")
    assert "Not valid JSON" in bad_json.problems.get().reason


@pytest.mark.worker
def test_a_2000_row_import_runs_on_the_real_worker_with_progress_to_100(
    celery_worker_real, creator, holders, media
):
    catalogue = CatalogueFactory(owner=creator.organisation)
    text = HEADER + "".join(_row(n) for n in range(1, 2001))
    upload = SimpleUploadedFile("works.csv", text.encode(), content_type="text/csv")
    response = creator.api().post(
        "/api/v1/imports/", {"catalogue": catalogue.pk, "file": upload}, format="multipart"
    )
    assert response.status_code == 201, response.json()
    url = f"/api/v1/imports/{response.json()['id']}/"
    seen = set()
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        body = creator.api().get(url).json()
        seen.add(body["progress"])
        if body["status"] in {"succeeded", "rejected", "failed"}:
            break
        time.sleep(0.2)
    assert body["status"] == "succeeded", body
    assert body["progress"] == 100 and body["works_created"] == 2000
    assert Work.objects.filter(catalogue=catalogue).count() == 2000
    assert Consent.objects.filter(work__catalogue=catalogue, use="ai-train").count() == 2000
    page = creator.session().get(f"/imports/{response.json()['id']}/progress/")
    assert "2000 works created" in page.content.decode()


def test_the_example_jsonl_is_valid_json_lines():
    lines = [json.loads(line) for line in io.StringIO((EXAMPLES / "works.jsonl").read_text())]
    assert {line["title"] for line in lines} >= {"Salt Roads", "The Quiet Key"}
