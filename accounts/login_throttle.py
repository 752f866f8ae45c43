"""One login throttle for the site's sign-in and the admin's (django-axes): failures are
counted per account *and* client address, so nobody can lock another person out from their
own address, and the address comes from the configured trusted-proxy header only
(``TRUSTED_PROXY_HEADER``; otherwise the connection's address, so a forged
``X-Forwarded-For`` changes nothing). The account's owner is emailed when it is locked out."""

from __future__ import annotations

import ipaddress
from typing import Any

import structlog
from django.conf import settings
from django.core.cache import cache
from django.core.mail import send_mail
from django.http import HttpRequest

from accounts.models import AuditEvent, User
from accounts.services import audit_event_record

logger = structlog.get_logger(__name__)


def client_address(request: HttpRequest) -> str:
    """The client's address for the throttle: from ``TRUSTED_PROXY_HEADER`` when one is set
    (each of the ``TRUSTED_PROXY_COUNT`` proxies appends the address it was reached from, so
    the client is that many entries from the end; what the client itself sent before them is
    ignored), else the connection's own address."""
    remote = str(request.META.get("REMOTE_ADDR") or "")
    header = settings.TRUSTED_PROXY_HEADER
    if not header:
        return remote
    entries = [part.strip() for part in str(request.META.get(header) or "").split(",")]
    count = max(settings.TRUSTED_PROXY_COUNT, 1)
    if len(entries) < count:
        return remote
    try:
        return str(ipaddress.ip_address(entries[-count]))
    except ValueError:
        return remote


def login_username(request: HttpRequest, credentials: dict[str, Any] | None) -> str:
    """The account a sign-in names (an email, compared without case or spaces)."""
    raw = (credentials or {}).get("username") or (credentials or {}).get("email")
    if raw is None:
        raw = request.POST.get("username", "")
    return str(raw).strip().lower()


def login_locked_out_notify(sender: Any, request: HttpRequest, username: str, **_: Any) -> None:
    """Tell the account's owner (never the caller) that sign-in is paused."""
    user = User.objects.filter(email__iexact=username).first() if username else None
    if user is None or not user.email:
        return
    # Once per lock-out, though every refused attempt during it signals again.
    if not cache.add(
        f"login-lockout-notified:{user.pk}",
        1,
        timeout=int(settings.AXES_COOLOFF_TIME.total_seconds()),
    ):
        return
    logger.warning("login_locked_out", user_id=user.pk)
    for organisation_id in user.memberships.values_list("organisation_id", flat=True):
        audit_event_record(
            organisation_id=organisation_id,
            action=AuditEvent.Action.SIGN_IN_LOCKED_OUT,
            detail={"email": user.email},
        )
    minutes = int(settings.AXES_COOLOFF_TIME.total_seconds() // 60)
    send_mail(
        subject="TrainRight: sign-in paused after failed attempts",
        message=(
            f"Someone tried to sign in to your TrainRight account {settings.AXES_FAILURE_LIMIT} "
            f"times with a wrong password, so sign-in from that address is paused for "
            f"{minutes} minutes. If this was you, wait and try again. If not, your password "
            "held; consider changing it."
        ),
        from_email=None,
        recipient_list=[user.email],
    )
