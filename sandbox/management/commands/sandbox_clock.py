"""`manage.py sandbox_clock` shows the platform's clock; `advance --days N` or
`advance --to YYYY-MM-DD` moves it forward (never back) and runs the jobs the skipped time
would have run. Refused in production."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from core import clock
from core.services import PRODUCTION_REFUSAL, SandboxClockError
from sandbox.services import sandbox_clock_advance, sandbox_clock_target


class Command(BaseCommand):
    help = "Show or move forward the sandbox clock (not in production)."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action")
        sub.add_parser("show", help="print the platform's clock")
        advance = sub.add_parser("advance", help="move the clock forward")
        target = advance.add_mutually_exclusive_group(required=True)
        target.add_argument("--days", type=int, help="move forward this many days")
        target.add_argument(
            "--to", type=dt.date.fromisoformat, help="move to this date (YYYY-MM-DD, 00:00 UTC)"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if not clock.sandbox_enabled():
            raise CommandError(PRODUCTION_REFUSAL)
        if options.get("action") == "advance":
            try:
                target = sandbox_clock_target(days=options["days"], to=options["to"])
                result = sandbox_clock_advance(to=target, actor="manage.py sandbox_clock")
            except SandboxClockError as error:
                raise CommandError(error.message) from error
            self.stdout.write(
                f"Clock moved from {result.started_at:%Y-%m-%d %H:%M} to "
                f"{result.now:%Y-%m-%d %H:%M} UTC: {result.days_crossed} midnight(s) crossed, "
                f"{result.jobs_run} periodic job(s) run."
            )
            for failure in result.failures:
                self.stderr.write(f"  job failed: {failure}")
            return
        offset = clock.sandbox_offset()
        self.stdout.write(
            f"Platform clock: {clock.now():%Y-%m-%d %H:%M:%S} UTC "
            f"({offset.days} day(s) {offset.seconds // 3600} h ahead of the real time)"
        )
