"""Celery entry points of the marketplace: each loads by id (or runs a sweep) and calls a
service; the services are idempotent, so a retried or duplicated task changes nothing twice."""

from __future__ import annotations

from celery import shared_task

from marketplace.agreements import agreements_expire_due
from marketplace.negotiation import offers_expire_due
from marketplace.notifications import notification_email_send


@shared_task(acks_late=True)
def offers_expire_due_task() -> int:
    """Beat: expire open offers whose answer deadline has passed."""
    return offers_expire_due()


@shared_task(acks_late=True)
def agreements_expire_due_task() -> int:
    """Beat: expire agreements past the end of their term."""
    return agreements_expire_due()


@shared_task(
    acks_late=True,
    autoretry_for=(OSError,),
    retry_backoff=30,
    retry_backoff_max=1800,
    max_retries=8,
)
def notification_email_send_task(notification_id: int) -> bool:
    """Email a notification (SMTP errors, all OSErrors, are retried with growing delays)."""
    return notification_email_send(notification_id=notification_id)
