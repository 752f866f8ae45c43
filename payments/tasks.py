from __future__ import annotations

from celery import shared_task
from django.db import OperationalError

from payments.events import stripe_event_process, stripe_events_claim_due


@shared_task(acks_late=True, autoretry_for=(OperationalError,), retry_backoff=True, max_retries=5)
def stripe_event_process_task(event_pk: int) -> str:
    """Process one stored Stripe event. A failing handler is recorded on the event (and retried
    by `stripe_events_retry_due`), not raised; only database outages retry the task itself."""
    return stripe_event_process(event_pk=event_pk).status


# At most this many events are requeued per run, so a backlog drains over a few runs.
STRIPE_EVENT_RETRY_BATCH = 500


@shared_task(acks_late=True)
def stripe_events_retry_due() -> int:
    """Queue the failed events whose retry is due, and events whose task was lost."""
    due = stripe_events_claim_due(limit=STRIPE_EVENT_RETRY_BATCH)
    for event_pk in due:
        stripe_event_process_task.delay(event_pk)
    return len(due)
