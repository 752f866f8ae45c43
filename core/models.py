"""The sandbox clock's one row: how far the platform's clock runs ahead of the real one."""

from __future__ import annotations

import datetime as dt

from django.db import models


class SandboxClock(models.Model):
    """Outside production the platform's time is the real time plus ``offset`` (never negative,
    never lowered: the clock only moves forward, like Stripe's test clocks). One row, id 1."""

    id = models.PositiveSmallIntegerField(primary_key=True, default=1)
    offset = models.DurationField(default=dt.timedelta)
    moved_at = models.DateTimeField(null=True, blank=True)
    moved_by = models.CharField(max_length=200, blank=True)

    class Meta:
        db_table = "core_sandbox_clock"
        constraints = [
            models.CheckConstraint(condition=models.Q(id=1), name="sandbox_clock_single_row"),
            models.CheckConstraint(
                condition=models.Q(offset__gte=dt.timedelta(0)), name="sandbox_clock_forward_only"
            ),
        ]

    def __str__(self) -> str:
        return f"sandbox clock +{self.offset}"
