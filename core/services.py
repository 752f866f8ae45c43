"""Writes of the core: moving the sandbox clock's offset (the jobs the skipped time would have
run are the sandbox app's business, above every domain app)."""

from __future__ import annotations

import datetime as dt

from django.db import transaction

from core import clock
from core.errors import DomainError
from core.models import SandboxClock

PRODUCTION_REFUSAL = (
    "The sandbox clock is off in production (DJANGO_ENV=production): the platform's clock "
    "is the real time there and cannot be moved."
)


class SandboxClockError(DomainError):
    code = "sandbox_clock"


def sandbox_clock_move(*, to: dt.datetime, actor: str) -> SandboxClock:
    """Set the platform's clock to ``to`` (aware), which must not be before the clock's
    current time: the offset only grows (checked again by PostgreSQL under a row lock)."""
    if not clock.sandbox_enabled():
        raise SandboxClockError(PRODUCTION_REFUSAL, code="sandbox_clock_disabled")
    if to.tzinfo is None:
        raise SandboxClockError("The new time needs a time zone.", code="sandbox_clock_naive")
    with transaction.atomic():
        row, _ = SandboxClock.objects.select_for_update().get_or_create(pk=1)
        offset = to - clock.real_now()
        if offset < row.offset:
            current = clock.real_now() + row.offset
            raise SandboxClockError(
                f"The clock only moves forward: it is already {current:%Y-%m-%d %H:%M} UTC.",
                code="sandbox_clock_backwards",
            )
        row.offset = offset
        row.moved_at = clock.real_now()
        row.moved_by = actor[:200]
        row.save()
    clock.refresh()
    return row
