"""Celery entry points of the catalogue: each loads by id and calls the importer."""

from __future__ import annotations

from celery import shared_task

from catalog.importers import work_import_run, work_imports_fail_stuck


@shared_task(acks_late=True)
def work_import_run_task(import_id: int) -> str:
    """Run a bulk import. Idempotent: a finished import is left as it is; one interrupted by
    a lost worker (redelivered, as acks are late) starts over, since its merge is atomic.
    A failure is recorded on the import (status and reason) rather than retried: the same
    file would fail the same way."""
    return work_import_run(import_id=import_id).status


@shared_task
def work_imports_fail_stuck_task() -> int:
    """The watchdog (beat): fail imports unfinished past IMPORT_WATCHDOG_TIMEOUT_SECONDS."""
    return len(work_imports_fail_stuck())
