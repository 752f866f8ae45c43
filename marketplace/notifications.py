"""In-app notifications, and the emails sent when it is the other party's turn.

A notification is written in the same transaction as the step it reports; its email is sent
afterwards by a Celery task (queued on commit), which stamps `emailed_at` so a retried task
sends nothing twice.
"""

from __future__ import annotations

import structlog
from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction

from accounts.models import Organisation
from accounts.tenancy import Principal
from core import clock
from core.tasks import task_queue
from marketplace.models import Agreement, Notification, Offer
from marketplace.selectors import notification_list, notification_recipients

log = structlog.get_logger(__name__)


def notification_create(
    *,
    organisation: Organisation,
    kind: str,
    title: str,
    body: str = "",
    link: str = "",
    offer: Offer | None = None,
    agreement: Agreement | None = None,
    email: bool = False,
) -> Notification:
    notification = Notification.objects.create(
        organisation=organisation,
        kind=kind,
        title=title[:200],
        body=body,
        link=link,
        offer=offer,
        agreement=agreement,
        email=email,
    )
    if email:
        transaction.on_commit(
            lambda: task_queue("marketplace.tasks.notification_email_send_task", notification.pk)
        )
    return notification


def notification_email_send(*, notification_id: int) -> bool:
    """Email a notification to its organisation's people, once. Returns whether it was sent."""
    with transaction.atomic():
        notification = (
            Notification.objects.select_for_update(of=("self",))
            .select_related("organisation")
            .filter(pk=notification_id)
            .first()
        )
        if notification is None or not notification.email or notification.emailed_at:
            return False
        recipients = notification_recipients(organisation=notification.organisation)
        if recipients:
            link = (
                f"{settings.SITE_URL.rstrip('/')}{notification.link}" if notification.link else ""
            )
            send_mail(
                subject=f"TrainRight: {notification.title}",
                message="\n\n".join(part for part in (notification.body, link) if part),
                from_email=settings.DEFAULT_FROM_EMAIL,
                recipient_list=recipients,
            )
        notification.emailed_at = clock.now()
        notification.save(update_fields=["emailed_at"])
    log.info("notification_emailed", notification=notification_id, recipients=len(recipients))
    return bool(recipients)


def notification_mark_read(*, principal: Principal, notification_id: int | None = None) -> int:
    """Mark one of the caller's notifications (or all of them) read; returns how many."""
    unread = notification_list(principal=principal, unread=True)
    if notification_id is not None:
        unread = unread.filter(pk=notification_id)
    return Notification.objects.filter(pk__in=unread.values("pk")).update(read_at=clock.now())
