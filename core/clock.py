"""The platform's one clock. Product code reads the time only here (``make lint`` bans
``timezone.now()``, ``datetime.now()``, ``date.today()`` and ``time.time()`` elsewhere), so
tests that pin the time, the sandbox clock and every date rule agree.

Dates are UTC dates: the platform keeps its books in UTC, whatever a process's local zone.

Outside production the clock may run ahead of the real time by the sandbox offset
(``core.models.SandboxClock``, moved forward by ``manage.py sandbox_clock`` or the demo's
banner). Each web request and each Celery task reads the offset once at its start, so every
step of one request or task sees one consistent clock; a long-running process re-reads it
after ``SANDBOX_CLOCK_REFRESH_SECONDS``. In production the offset is always zero and is never
read.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from typing import Any

from django.conf import settings
from django.utils import timezone

_cache = threading.local()


def real_now() -> dt.datetime:
    """The wall clock (aware, UTC), ignoring the sandbox: for transport-level checks only
    (signature tolerances, rate limits), never for a date rule."""
    return timezone.now()  # noqa: TID251  (the one place that reads it)


def now() -> dt.datetime:
    """The platform's current instant (aware, UTC)."""
    return real_now() + sandbox_offset()


def today() -> dt.date:
    """The platform's current date in UTC."""
    return now().astimezone(dt.UTC).date()


def month_start(day: dt.date | None = None) -> dt.date:
    """The first day of ``day``'s month (today's by default)."""
    return (day or today()).replace(day=1)


def previous_month_start(day: dt.date | None = None) -> dt.date:
    """The first day of the month before ``day``'s (today's by default)."""
    return (month_start(day) - dt.timedelta(days=1)).replace(day=1)


def sandbox_enabled() -> bool:
    return bool(getattr(settings, "SANDBOX_CLOCK_ENABLED", False))


def sandbox_offset() -> dt.timedelta:
    """How far the sandbox clock runs ahead (zero in production, and before it is moved)."""
    if not sandbox_enabled():
        return dt.timedelta(0)
    loaded_at = getattr(_cache, "loaded_at", None)
    refresh = float(getattr(settings, "SANDBOX_CLOCK_REFRESH_SECONDS", 5))
    if loaded_at is None or time.monotonic() - loaded_at > refresh:
        _cache.offset = _read_offset(getattr(_cache, "offset", dt.timedelta(0)))
        _cache.loaded_at = time.monotonic()
    offset: dt.timedelta = _cache.offset
    return offset


def _read_offset(previous: dt.timedelta) -> dt.timedelta:
    """The stored offset; ``previous`` when it cannot be read (no table yet during the first
    migration, or a transaction that has already failed). Inside a transaction the read runs
    in a savepoint, so a failed read never breaks the caller's transaction."""
    from django.db import DatabaseError, connection, transaction

    from core.models import SandboxClock

    try:
        if connection.in_atomic_block:
            if connection.needs_rollback:
                return previous
            with transaction.atomic():
                row = SandboxClock.objects.filter(pk=1).values_list("offset", flat=True).first()
        else:
            row = SandboxClock.objects.filter(pk=1).values_list("offset", flat=True).first()
    except (DatabaseError, RuntimeError):  # RuntimeError: a context with no database access
        return previous
    return row or dt.timedelta(0)


def refresh() -> None:
    """Forget the cached offset: the next read of the clock loads it again."""
    _cache.loaded_at = None


def _refresh_on_signal(**_: Any) -> None:
    refresh()


def connect_refresh_signals() -> None:
    """Every web request and every Celery task starts by reading the offset afresh."""
    from celery.signals import task_prerun
    from django.core.signals import request_started

    request_started.connect(_refresh_on_signal, dispatch_uid="core.clock.request")
    task_prerun.connect(_refresh_on_signal, dispatch_uid="core.clock.task")
