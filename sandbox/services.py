"""Moving the sandbox clock forward, like advancing a Stripe test clock: the platform's clock
and the Stripe emulator's move together, and the periodic jobs the skipped time would have
run (month-end settlement, collections, payout retries, reconciliation imports, expiries)
run in order, once at each midnight crossed and once at the new time.

Refused in production (``SANDBOX_CLOCK_ENABLED`` is off there whatever the environment)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import structlog
from celery.schedules import crontab
from django.conf import settings

from core import clock
from core.services import PRODUCTION_REFUSAL, SandboxClockError, sandbox_clock_move
from payments import emulator

log = structlog.get_logger(__name__)

MAX_ADVANCE_DAYS = 400
"""The furthest one move may go: each day crossed runs the day's jobs."""


@dataclass
class SandboxAdvance:
    started_at: dt.datetime
    now: dt.datetime
    days_crossed: int = 0
    jobs_run: int = 0
    failures: list[str] = field(default_factory=list)


def _job_order(entry: dict[str, object]) -> tuple[int, int, int]:
    """Frequent (interval) jobs first, then the daily ones in their order of the day."""
    schedule = entry["schedule"]
    if isinstance(schedule, crontab):
        return (1, min(schedule.hour), min(schedule.minute))
    return (0, 0, 0)


def periodic_job_names() -> list[str]:
    """The beat schedule's tasks in the order one day would run them."""
    entries = sorted(settings.CELERY_BEAT_SCHEDULE.values(), key=_job_order)
    return [str(entry["task"]) for entry in entries]


def periodic_jobs_run(*, result: SandboxAdvance) -> None:
    """Run every periodic job once, here and now (the work they queue goes to the workers).
    A failing job is logged and reported; the others still run."""
    from config.celery import app

    app.loader.import_default_modules()  # every app's tasks, outside a worker too
    for name in periodic_job_names():
        outcome = app.tasks[name].apply(throw=False)
        result.jobs_run += 1
        if outcome.failed():
            result.failures.append(f"{name}: {outcome.result!r}")
            log.warning("sandbox_job_failed", task=name, error=repr(outcome.result))


def sandbox_clock_target(*, days: int | None = None, to: dt.date | None = None) -> dt.datetime:
    """The instant a move by ``days`` or to the date ``to`` (its midnight, UTC) arrives at."""
    if (days is None) == (to is None):
        raise SandboxClockError("Give either a number of days or a date.", code="sandbox_target")
    if days is not None:
        if days < 1:
            raise SandboxClockError("Move the clock forward by at least one day.")
        return clock.now() + dt.timedelta(days=days)
    assert to is not None
    return dt.datetime(to.year, to.month, to.day, tzinfo=dt.UTC)


def sandbox_clock_advance(*, to: dt.datetime, actor: str) -> SandboxAdvance:
    """Move the platform's clock (and the emulator's) forward to ``to``, running the periodic
    jobs at each midnight crossed and at ``to``."""
    if not clock.sandbox_enabled():
        raise SandboxClockError(PRODUCTION_REFUSAL, code="sandbox_clock_disabled")
    start = clock.now()
    if to <= start:
        raise SandboxClockError(
            f"The clock only moves forward: it is already {start:%Y-%m-%d %H:%M} UTC.",
            code="sandbox_clock_backwards",
        )
    if to - start > dt.timedelta(days=MAX_ADVANCE_DAYS):
        raise SandboxClockError(f"Move the clock at most {MAX_ADVANCE_DAYS} days at a time.")
    result = SandboxAdvance(started_at=start, now=start)
    midnight = dt.datetime.combine(start.date() + dt.timedelta(days=1), dt.time(), tzinfo=dt.UTC)
    steps: list[dt.datetime] = []
    while midnight < to:
        steps.append(midnight)
        midnight += dt.timedelta(days=1)
    steps.append(to)
    for step in steps:
        sandbox_clock_move(to=step, actor=actor)
        emulator.sandbox_clock_sync(to_unix=int(step.timestamp()))
        periodic_jobs_run(result=result)
    result.days_crossed = len(steps) - 1
    result.now = clock.now()
    log.info(
        "sandbox_clock_advanced",
        actor=actor,
        to=result.now.isoformat(),
        days_crossed=result.days_crossed,
        jobs_run=result.jobs_run,
        failures=len(result.failures),
    )
    return result
