"""Recompute a completed settlement run from its frozen inputs and confirm that every
statement comes out identical (by its stored SHA-256): `manage.py settlement_recompute 2026-10`."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from settlement.models import SettlementRun
from settlement.services import SettlementError, settlement_run_recompute


class Command(BaseCommand):
    help = "Recompute a closed settlement period and check its statements are identical."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("period", help="The settled month, YYYY-MM.")

    def handle(self, *args: Any, period: str, **options: Any) -> None:
        try:
            period_start = dt.datetime.strptime(period, "%Y-%m").date()
        except ValueError as error:
            raise CommandError(f"{period!r} is not a month (YYYY-MM).") from error
        run = SettlementRun.objects.filter(period_start=period_start).first()
        if run is None:
            raise CommandError(f"No settlement run for {period}.")
        try:
            result = settlement_run_recompute(run=run)
        except SettlementError as error:
            raise CommandError(str(error)) from error
        if not result.identical:
            raise CommandError(
                f"{period}: recomputed figures differ. Statements of holders "
                f"{result.mismatched_holder_ids}; agreements {result.mismatched_agreement_ids}."
            )
        self.stdout.write(
            f"{period}: {result.statements_checked} statements and "
            f"{result.agreements_checked} agreements recomputed: identical."
        )
