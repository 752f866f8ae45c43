"""The marketplace's Celery tasks: scheduled by beat, registered, and run by a real worker."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.conf import settings
from django.core import mail
from django.utils import timezone

from config.celery import app
from marketplace.models import Notification, Offer
from marketplace.tasks import notification_email_send_task, offers_expire_due_task
from tests.gateway.helpers import wait_for
from tests.marketplace.factories import requested_offer


def test_beat_runs_the_expiry_jobs_and_they_are_registered_tasks():
    app.loader.import_default_modules()
    scheduled = {entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()}
    for task in (
        "marketplace.tasks.offers_expire_due_task",
        "marketplace.tasks.agreements_expire_due_task",
    ):
        assert task in scheduled
        assert task in app.tasks


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_a_real_worker_sends_the_turn_email_and_expires_due_offers(world, celery_worker_real):
    offer = requested_offer(world.northwind.organisation, world.shelf)
    # The request queued its email on commit; the worker sends it, once.
    notification = Notification.objects.get(organisation=world.harbour.organisation)
    wait_for(
        lambda: Notification.objects.filter(pk=notification.pk, emailed_at__isnull=False).exists(),
        what="the turn email",
    )
    assert notification_email_send_task.delay(notification.pk).get(timeout=20) is False
    assert [m.to for m in mail.outbox] == [[world.harbour.owner.email]]

    Offer.objects.filter(pk=offer.pk).update(expires_at=timezone.now() - timedelta(minutes=1))
    assert offers_expire_due_task.delay().get(timeout=20) == 1
    assert Offer.objects.get(pk=offer.pk).status == Offer.Status.EXPIRED
