"""A task queued the way services queue them (on commit) runs on a real worker through Redis."""

from datetime import timedelta

import pytest
from django.db import transaction
from django.utils import timezone

from accounts.models import IdempotencyRecord
from accounts.tasks import idempotency_records_purge

pytestmark = pytest.mark.worker


def test_task_queued_on_commit_runs_on_a_real_worker(celery_worker_real):
    IdempotencyRecord.objects.create(
        principal="org:1", key="stale", request_fingerprint="f", method="POST", path="/api/v1/x"
    )
    IdempotencyRecord.objects.update(created_at=timezone.now() - timedelta(days=3))
    results = []
    with transaction.atomic():
        transaction.on_commit(lambda: results.append(idempotency_records_purge.delay()))
        assert results == []  # nothing is queued before the commit
    assert results[0].get(timeout=20) == 1
    assert not IdempotencyRecord.objects.exists()
