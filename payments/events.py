"""Inbound Stripe events: stored once, processed by registered handlers, retried when they fail.

The webhook view verifies the signature and calls `stripe_event_receive`, which stores the
event (unique Stripe event id, so a redelivery stores nothing new) and queues its processing
on commit; the view answers at once. `stripe_event_process` runs every handler registered
for the event's type inside one savepoint, under a row lock on the event, so a duplicate task
finds it already processed. Events with no handler are stored and marked ignored. A failing
handler leaves the event `failed` with the error; the beat job `stripe_events_retry_due`
retries it with growing delays, and staff can retry it from the admin.

Handlers must tolerate duplicates and any order: Stripe guarantees neither. When order
matters, a handler re-fetches the object's current state through the gateway rather than
trusting the event's snapshot (see payments.connect and payments.charges).

Other apps register handlers from their AppConfig.ready(), so payments never imports them:

    from payments.events import stripe_event_handler

    @stripe_event_handler("checkout.session.completed")
    def licence_fee_paid(event: StripeEvent) -> None:
        session = event.data_object  # a dict, as Stripe sent it
        ...
"""

from __future__ import annotations

import traceback
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import structlog
from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q, QuerySet

from core import clock
from core.tasks import task_queue
from payments import gateway
from payments.models import StripeEvent

log = structlog.get_logger(__name__)

StripeEventHandler = Callable[[StripeEvent], None]

_HANDLERS: dict[str, list[StripeEventHandler]] = {}

# First retry after this long, doubling per attempt up to the cap.
RETRY_FIRST_DELAY = timedelta(seconds=30)
RETRY_MAX_DELAY = timedelta(hours=6)
# An event still `received` this long after arriving lost its task (e.g. a worker crash).
STALE_RECEIVED_AFTER = timedelta(minutes=10)


def stripe_event_handler(*event_types: str) -> Callable[[StripeEventHandler], StripeEventHandler]:
    """Register the decorated function for these event types. Several handlers may share a
    type; they run in registration order, all in one savepoint (all or none)."""
    if not event_types:
        raise ValueError("Name at least one Stripe event type.")

    def register(handler: StripeEventHandler) -> StripeEventHandler:
        for event_type in event_types:
            registered = _HANDLERS.setdefault(event_type, [])
            if handler not in registered:
                registered.append(handler)
        return handler

    return register


def stripe_event_handlers_for(event_type: str) -> list[StripeEventHandler]:
    return list(_HANDLERS.get(event_type, ()))


# --- Receiving ---------------------------------------------------------------------------------
def stripe_event_receive(*, payload: bytes, signature: str | None) -> tuple[StripeEvent, bool]:
    """Verify and store a webhook delivery. Returns (event, created); raises
    gateway.WebhookSignatureInvalid (nothing stored) when the signature is wrong."""
    event = gateway.webhook_event_verify(payload=payload, signature=signature)
    return stripe_event_store(event=event)


def stripe_event_store(*, event: dict[str, Any]) -> tuple[StripeEvent, bool]:
    """Store an event once and queue its processing; a known event id changes nothing."""
    existing = StripeEvent.objects.filter(stripe_event_id=event["id"]).first()
    if existing is not None:
        return existing, False
    try:
        with transaction.atomic():
            record = StripeEvent.objects.create(
                stripe_event_id=event["id"],
                type=event["type"],
                account=event.get("account") or "",
                livemode=bool(event.get("livemode")),
                api_version=event.get("api_version") or "",
                stripe_created=datetime.fromtimestamp(int(event.get("created") or 0), tz=UTC),
                payload=event,
            )
            _queue(record.pk)
    except IntegrityError:  # the same event delivered twice at the same moment
        return StripeEvent.objects.get(stripe_event_id=event["id"]), False
    return record, True


def _queue(event_pk: int) -> None:
    transaction.on_commit(lambda: task_queue("payments.tasks.stripe_event_process_task", event_pk))


# --- Processing --------------------------------------------------------------------------------
def _retry_delay(attempts: int) -> timedelta:
    return min(RETRY_MAX_DELAY, RETRY_FIRST_DELAY * 2 ** max(0, attempts - 1))


def stripe_event_process(*, event_pk: int) -> StripeEvent:
    """Run the event's handlers once. Processed and ignored events are left alone, so a
    duplicate task or a redelivery does nothing."""
    with transaction.atomic():
        record = StripeEvent.objects.select_for_update().get(pk=event_pk)
        if record.status in (StripeEvent.Status.PROCESSED, StripeEvent.Status.IGNORED):
            return record
        handlers = stripe_event_handlers_for(record.type)
        if not handlers:
            record.mark_ignored()
            record.save()
            return record
        record.attempts += 1
        try:
            with transaction.atomic():
                for handler in handlers:
                    handler(record)
        except Exception as exc:  # any handler bug or outage: keep the error, retry later
            log.warning(
                "stripe_event_failed",
                stripe_event=record.stripe_event_id,
                type=record.type,
                attempts=record.attempts,
                error=repr(exc),
            )
            record.mark_failed(
                error="".join(traceback.format_exception(exc, limit=8))[-4000:],
                retry_at=clock.now() + _retry_delay(record.attempts),
            )
        else:
            record.mark_processed()
        record.save()
    return record


def stripe_events_due_for_retry(*, now: datetime | None = None) -> QuerySet[StripeEvent]:
    """Failed events whose next attempt is due (within the attempt limit), and events whose
    processing task was lost."""
    now = now or clock.now()
    not_before = Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now)
    return StripeEvent.objects.filter(
        Q(
            status=StripeEvent.Status.FAILED,
            next_attempt_at__lte=now,
            attempts__lt=settings.STRIPE_EVENT_MAX_ATTEMPTS,
        )
        | (
            Q(status=StripeEvent.Status.RECEIVED, received_at__lte=now - STALE_RECEIVED_AFTER)
            & not_before
        )
    ).order_by("received_at")


def stripe_events_claim_due(*, limit: int) -> list[int]:
    """The ids of up to `limit` events due for another try, each pushed back so that the next
    run does not queue it again while its task is still waiting (processing sets the real
    next attempt)."""
    now = clock.now()
    with transaction.atomic():
        due = list(
            stripe_events_due_for_retry(now=now)
            .select_for_update(skip_locked=True)
            .values_list("pk", flat=True)[:limit]
        )
        StripeEvent.objects.filter(pk__in=due).update(next_attempt_at=now + STALE_RECEIVED_AFTER)
    return due
