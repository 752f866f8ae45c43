"""No import is left running for ever (issue 13, finding 4): whatever a file holds, the reason
it was refused can be stored (one sanitiser for every import and usage-report error path), and
a periodic watchdog fails any import stuck in a non-terminal state past the timeout."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from django.conf import settings
from django.core.files.base import ContentFile

from catalog.importers import work_import_run, work_imports_fail_stuck
from catalog.models import WorkImport, WorkImportProblem
from core import clock
from core.errors import safe_message
from tests.catalog.factories import CatalogueFactory
from tests.money.factories import submit_usage, usage_world
from usage.models import UsageReport

pytestmark = pytest.mark.django_db

HEADER = "title,kind,language,isbn13,ai-train,shares\n"
ROW = "Salt Roads,book,en,9780306406157,yes,harbour-press:publisher:10000\n"


@pytest.fixture
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    return tmp_path


def _import(catalogue, content: bytes, name: str = "works.csv") -> WorkImport:
    work_import = WorkImport(catalogue=catalogue, format=name.rsplit(".", 1)[1])
    work_import.file.save(name, ContentFile(content), save=False)
    work_import.save()
    return work_import


def _fresh(work_import: WorkImport) -> WorkImport:
    return WorkImport.objects.get(pk=work_import.pk)  # the status is protected: no refresh


def _stored_text(work_import: WorkImport) -> str:
    work_import = _fresh(work_import)
    problems = WorkImportProblem.objects.filter(work_import=work_import)
    return work_import.failure_reason + "".join(
        f"{problem.column}{problem.reason}" for problem in problems
    )


def test_the_sanitiser_escapes_control_characters_and_caps_the_length():
    assert safe_message("a\x00b\x07c\x7f\x9f") == "a\\x00b\\x07c\\x7f\\x9f"
    assert safe_message("line\nnext\ttab") == "line\\x0anext\\x09tab"
    assert safe_message("line\nnext\x00", multiline=True) == "line\nnext\\x00"
    assert safe_message("lone \ud800 surrogate") == "lone \\ud800 surrogate"
    assert safe_message("é ✓ plain text") == "é ✓ plain text"
    capped = safe_message("x" * 5_000)
    assert len(capped) == 2_000 and capped.endswith("…")
    assert safe_message("y" * 50, limit=10) == "y" * 9 + "…"
    assert safe_message(ValueError("bad\x00")) == "bad\\x00"


@pytest.mark.parametrize("encoding", ["utf-16-le", "utf-16-be"])
def test_a_utf16_csv_without_a_byte_order_mark_is_rejected_not_stuck(creator, media, encoding):
    catalogue = CatalogueFactory(owner=creator.organisation)
    work_import = _import(catalogue, (HEADER + ROW).encode(encoding))

    result = work_import_run(import_id=work_import.pk)

    assert result.status == WorkImport.Status.REJECTED
    stored = _stored_text(result)
    assert "\x00" not in stored
    assert "UTF-8" in result.failure_reason
    assert WorkImportProblem.objects.filter(work_import=result).count() == 1


def test_nul_characters_in_cells_and_field_names_are_stored_escaped(creator, media):
    catalogue = CatalogueFactory(owner=creator.organisation)
    rows = [
        {"title": "Salt\x00Roads", "kind": "book", "shares": "harbour-press:publisher:10000"},
        {"ti\x00tle": "x", "kind": "book", "shares": "harbour-press:publisher:10000"},
        {"title": "ok", "kind": "bo\x00ok", "shares": "nobody\x00:author:10000"},
    ]
    content = "".join(json.dumps(row) + "\n" for row in rows).encode()
    work_import = _import(catalogue, content, name="works.jsonl")

    result = work_import_run(import_id=work_import.pk)

    assert result.status == WorkImport.Status.REJECTED
    stored = _stored_text(result)
    assert "\x00" not in stored
    assert "\\x00" in stored


def test_a_failing_import_stores_a_sanitised_reason(creator, media, monkeypatch):
    """The catch-all path: whatever the exception says is stored escaped and capped."""
    catalogue = CatalogueFactory(owner=creator.organisation)
    work_import = _import(catalogue, (HEADER + ROW).encode())
    work_import.file.storage.delete(work_import.file.name)  # the stored file went missing

    with pytest.raises(FileNotFoundError):
        work_import_run(import_id=work_import.pk)

    work_import = _fresh(work_import)
    assert work_import.status == WorkImport.Status.FAILED
    assert work_import.failure_reason.startswith("The import stopped:")
    assert len(work_import.failure_reason) <= 2_000


def test_a_partially_accepted_usage_report_stores_its_bad_lines_escaped():
    world = usage_world()
    work = world.works[0].pk
    content = (
        json.dumps({"work_id": work, "metric": "tokens_trained", "quantity": 5})
        + "\n"
        + json.dumps({"work_id": work, "metric": "tokens_trained", "quantity": 1, "x\x00": 1})
        + "\n"
    )
    submission = submit_usage(world, content, partial=True)

    report = UsageReport.objects.get(pk=submission.report.pk)
    assert report.status == UsageReport.Status.PARTIALLY_ACCEPTED
    (error,) = report.errors
    assert error["code"] == "unknown_field"
    assert "\x00" not in error["field"] + error["reason"]
    assert error["field"] == "x\\x00"


# --- the watchdog ----------------------------------------------------------------------------


def _stuck(catalogue, status: str, *, hours_ago: float) -> WorkImport:
    work_import = _import(catalogue, (HEADER + ROW).encode())
    since = clock.now() - dt.timedelta(hours=hours_ago)
    WorkImport.objects.filter(pk=work_import.pk).update(
        status=status, created_at=since, started_at=None if status == "pending" else since
    )
    return work_import


def test_the_watchdog_fails_imports_stuck_past_the_timeout_with_a_reason(creator, media):
    catalogue = CatalogueFactory(owner=creator.organisation)
    timeout = dt.timedelta(seconds=settings.IMPORT_WATCHDOG_TIMEOUT_SECONDS)
    hours = timeout.total_seconds() / 3600
    stuck = [
        _stuck(catalogue, status, hours_ago=hours + 0.1)
        for status in ("pending", "validating", "importing")
    ]
    recent = _stuck(catalogue, "validating", hours_ago=hours - 0.1)
    finished = _stuck(catalogue, "succeeded", hours_ago=hours * 3)

    failed = work_imports_fail_stuck()

    assert sorted(failed) == sorted(work_import.pk for work_import in stuck)
    for work_import in map(_fresh, stuck):
        assert work_import.status == WorkImport.Status.FAILED
        assert "no progress" in work_import.failure_reason
        assert work_import.finished_at is not None
    assert (_fresh(recent).status, _fresh(finished).status) == ("validating", "succeeded")
    assert work_imports_fail_stuck() == []  # nothing left to fail

    # A redelivered task finds the import finished and leaves it alone.
    assert work_import_run(import_id=stuck[1].pk).status == WorkImport.Status.FAILED


def test_the_watchdog_is_a_registered_beat_job_and_the_setting_is_documented():
    from config.celery import app

    app.loader.import_default_modules()
    entry = settings.CELERY_BEAT_SCHEDULE["fail-stuck-imports"]
    assert entry["task"] == "catalog.tasks.work_imports_fail_stuck_task"
    assert entry["task"] in app.tasks
    assert settings.IMPORT_WATCHDOG_TIMEOUT_SECONDS > settings.CELERY_BROKER_VISIBILITY_TIMEOUT
    readme = (settings.BASE_DIR / "README.md").read_text()
    assert "`IMPORT_WATCHDOG_TIMEOUT_SECONDS`" in readme
