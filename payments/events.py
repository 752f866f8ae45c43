"""Inbound Stripe events: stored once, processed by registered handlers, retried when they fail.

The webhook view verifies the signature and calls `stripe_event_receive`, which stores the
event (unique Stripe event id, so a redelivery stores nothing new) and queues its processing
on commit; the view answers at once. `stripe_event_process` runs every handler registered
for the event's type inside one savepoint, under a row lock on the event, so a duplicate task
finds it already processed. Events with no handler are stored and marked ignored. A failing
handler leaves the event `failed` with the error; the beat job `stripe_events_retry_due`
retries it with growing delays, and staff can retry it from the admin. Its handlers are what
post the money the event reports, so a failure is also announced (``stripe_event_failed``:
finance records it as a ``posting_failed`` exception with a retry action), and so is a later
success (``stripe_event_recovered``: finance resolves that exception).

A delivery that is correctly signed but is not a well-formed event (not a JSON object, an id
or type that is not a short string, a `created` that is not a timestamp, text PostgreSQL cannot
store such as NUL) is answered 400 and kept as a `failed` event with the reason, under an id of
its own (`malformed_` and the body's SHA-256), and is never retried: the same body would fail
the same way. Stripe's redeliveries of it find that record.

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

import hashlib
import json
import re
import traceback
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import structlog
from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q, QuerySet
from django.dispatch import Signal

from core import clock
from core.errors import DomainError, safe_message
from core.tasks import task_queue
from payments import gateway
from payments.models import StripeEvent

log = structlog.get_logger(__name__)

StripeEventHandler = Callable[[StripeEvent], None]

stripe_event_failed = Signal()
"""Sent (``event``) when an event's handlers raised: the money it reports is not posted."""
stripe_event_recovered = Signal()
"""Sent (``event``) when an event that had failed is processed after all."""

_HANDLERS: dict[str, list[StripeEventHandler]] = {}

# First retry after this long, doubling per attempt up to the cap.
RETRY_FIRST_DELAY = timedelta(seconds=30)
RETRY_MAX_DELAY = timedelta(hours=6)
# An event still `received` this long after arriving lost its task (e.g. a worker crash).
STALE_RECEIVED_AFTER = timedelta(minutes=10)
# What the envelope of an event we store must be (the columns it goes into, and Stripe's form).
EVENT_ID_MAX = 255
EVENT_TYPE = re.compile(r"^[A-Za-z0-9_.-]{1,100}$")
ACCOUNT_MAX = 255
API_VERSION_MAX = 40
CREATED_MAX = 253_402_300_799  # 9999-12-31T23:59:59Z, the last second a datetime holds
MALFORMED_PREFIX = "malformed_"
MALFORMED_BODY_KEPT = 100_000  # characters of a malformed delivery's body kept as evidence
_UNSTORABLE = re.compile(r"[\x00\ud800-\udfff]")


class StripeEventMalformed(DomainError):
    """A correctly signed delivery that is not an event we can store and route."""

    code = "event_malformed"


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
    gateway.WebhookSignatureInvalid (nothing stored) when the signature is wrong, and
    StripeEventMalformed when it is right but the body is no well-formed event (kept as a
    failed event with the reason)."""
    gateway.webhook_signature_verify(payload=payload, signature=signature)
    try:
        event = stripe_event_check(_parsed(payload))
    except StripeEventMalformed as malformed:
        stripe_event_store_malformed(payload=payload, reason=malformed.message)
        raise
    return stripe_event_store(event=event)


def _parsed(payload: bytes) -> Any:
    try:
        return json.loads(payload)
    except (ValueError, RecursionError) as error:
        raise StripeEventMalformed(f"The body is not JSON: {error}.") from None


def _json_kind(value: Any) -> str:
    kinds = {list: "a JSON array", str: "a JSON string", bool: "a JSON boolean"}
    if value is None:
        return "JSON null"
    return kinds.get(type(value), "a JSON number")


def _unstorable_at(value: Any) -> str | None:
    """Where (a dotted path) the value holds text PostgreSQL cannot store in jsonb: NUL, or
    an unpaired surrogate. Iterative, so no nesting depth can overflow the stack."""
    stack: list[tuple[str, Any]] = [("", value)]
    while stack:
        path, item = stack.pop()
        if isinstance(item, str):
            if _UNSTORABLE.search(item):
                return path or "the body"
        elif isinstance(item, dict):
            for key, child in item.items():
                if _UNSTORABLE.search(key):
                    return f"{path}.{key!r}".lstrip(".")
                stack.append((f"{path}.{key}".lstrip("."), child))
        elif isinstance(item, list):
            stack.extend((f"{path}[{index}]", child) for index, child in enumerate(item))
    return None


def stripe_event_check(event: Any) -> dict[str, Any]:
    """The event, if its envelope is one we can store and route; else StripeEventMalformed
    saying what is wrong (never echoing the bad value: it may be huge or unprintable)."""
    if not isinstance(event, dict):
        raise StripeEventMalformed(f"The body is {_json_kind(event)}, not an event object.")
    event_id = event.get("id")
    if not isinstance(event_id, str) or not 0 < len(event_id) <= EVENT_ID_MAX:
        raise StripeEventMalformed(
            f"The event's id must be a string of 1 to {EVENT_ID_MAX} characters."
        )
    event_type = event.get("type")
    if not isinstance(event_type, str) or not EVENT_TYPE.match(event_type):
        raise StripeEventMalformed(
            "The event's type must be a string of 1 to 100 letters, digits, dots, hyphens "
            "and underscores."
        )
    created = event.get("created")
    if created is not None and (
        type(created) is not int or not 0 <= created <= CREATED_MAX  # bool is no timestamp
    ):
        raise StripeEventMalformed("The event's created must be a Unix timestamp (seconds).")
    for name, longest in (("account", ACCOUNT_MAX), ("api_version", API_VERSION_MAX)):
        value = event.get(name)
        if value is not None and (not isinstance(value, str) or len(value) > longest):
            raise StripeEventMalformed(
                f"The event's {name} must be a string of at most {longest} characters."
            )
    data = event.get("data", {})
    if not isinstance(data, dict) or not isinstance(data.get("object", {}), dict):
        raise StripeEventMalformed("The event's data must be an object holding an object.")
    where = _unstorable_at(event)
    if where is not None:
        raise StripeEventMalformed(
            f"The event holds a NUL character or an unpaired surrogate (at {where}), "
            "which cannot be stored."
        )
    return event


def stripe_event_store_malformed(*, payload: bytes, reason: str) -> StripeEvent:
    """Keep a correctly signed but malformed delivery as a failed event, once per body, with
    the reason and the body as text (escaped where it holds what cannot be stored). It is
    never retried: it has no type to route, and the same body fails the same way."""
    event_id = MALFORMED_PREFIX + hashlib.sha256(payload).hexdigest()
    existing = StripeEvent.objects.filter(stripe_event_id=event_id).first()
    if existing is not None:
        return existing
    body = safe_message(
        payload.decode("utf-8", "replace"), limit=MALFORMED_BODY_KEPT, multiline=True
    )
    try:
        with transaction.atomic():
            return StripeEvent.objects.create(
                stripe_event_id=event_id,
                type="",
                stripe_created=clock.now(),
                payload={"body": body},
                status=StripeEvent.Status.FAILED,
                error=safe_message(reason),
            )
    except IntegrityError:  # the same delivery twice at the same moment
        return StripeEvent.objects.get(stripe_event_id=event_id)


def stripe_event_store(*, event: dict[str, Any]) -> tuple[StripeEvent, bool]:
    """Store an event once and queue its processing; a known event id changes nothing.
    Raises StripeEventMalformed (nothing stored) for an envelope we cannot store."""
    stripe_event_check(event)
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
        if record.stripe_event_id.startswith(MALFORMED_PREFIX):
            return record  # no event to process: it stays failed with its reason
        handlers = stripe_event_handlers_for(record.type)
        if not handlers:
            record.mark_ignored()
            record.save()
            return record
        had_failed = record.status == StripeEvent.Status.FAILED
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
            record.save()
            _announce(stripe_event_failed, record)
        else:
            record.mark_processed()
            record.save()
            if had_failed:
                _announce(stripe_event_recovered, record)
    return record


def _announce(signal: Signal, record: StripeEvent) -> None:
    """Tell the receivers (finance) in a savepoint of their own: a receiver's failure is
    logged and never changes what processing recorded."""
    try:
        with transaction.atomic():
            signal.send(sender=StripeEvent, event=record)
    except Exception as exc:  # a receiver's bug must not undo the event's own outcome
        log.error(
            "stripe_event_signal_failed",
            stripe_event=record.stripe_event_id,
            signal="failed" if signal is stripe_event_failed else "recovered",
            error=repr(exc),
        )


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
