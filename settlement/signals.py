"""Signals other apps connect to. Imports flow from payouts and finance down to settlement,
never back, so settlement announces what happened and payouts acts on it."""

from django.dispatch import Signal

settlement_run_completed = Signal()
"""Sent with ``run`` (a SettlementRun) once a run is complete and its statements are made."""
