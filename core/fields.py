"""Model fields that read the platform clock."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db import models

from core import clock


class ClockDateTimeField(models.DateTimeField):
    """A DateTimeField whose ``auto_now`` / ``auto_now_add`` stamps come from the platform
    clock (Django's own read the wall clock, which the sandbox clock does not move)."""

    def pre_save(self, model_instance: models.Model, add: bool) -> Any:
        if self.auto_now or (self.auto_now_add and add):
            value: dt.datetime = clock.now()
            setattr(model_instance, self.attname, value)
            return value
        return super().pre_save(model_instance, add)
