"""Queue a Celery task by its name, so a service never imports the tasks module that calls it
(tasks call services; services only name the work they want done).

Each app's ``AppConfig.ready`` imports its tasks module, so the name always resolves to the
registered task and the task's own options (retries, ``acks_late``) apply."""

from __future__ import annotations

from typing import Any

from celery import current_app


def task_queue(name: str, *args: Any, countdown: float | None = None) -> None:
    """Send the task registered as ``name`` with ``args`` (after ``countdown`` seconds)."""
    current_app.signature(name, args=args).apply_async(countdown=countdown)
