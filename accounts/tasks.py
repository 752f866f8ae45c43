from __future__ import annotations

from celery import shared_task
from django.conf import settings

from accounts.models import IdempotencyRecord
from core import clock


@shared_task(acks_late=True)
def idempotency_records_purge() -> int:
    """Drop idempotency records past their retention (the API promises at least 24 hours)."""
    cutoff = clock.now() - settings.IDEMPOTENCY_RETENTION
    deleted, _ = IdempotencyRecord.objects.filter(created_at__lt=cutoff).delete()
    return deleted
