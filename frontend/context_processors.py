from __future__ import annotations

from typing import Any

from django.http import HttpRequest

from accounts.selectors import persona_for
from accounts.tenancy import principal_for_request


def persona(request: HttpRequest) -> dict[str, Any]:
    """Which persona's navigation to show."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {"persona": None}
    return {"persona": persona_for(principal=principal_for_request(request))}


def sandbox_clock(request: HttpRequest) -> dict[str, Any]:
    """The sandbox clock's banner (outside production only): the platform's time, and whether
    this user may move it (an owner of an organisation, or platform finance)."""
    from core import clock
    from sandbox.services import MAX_ADVANCE_DAYS

    if not clock.sandbox_enabled():
        return {"sandbox_clock": None}
    offset = clock.sandbox_offset()
    user = getattr(request, "user", None)
    return {
        "sandbox_clock": {
            "now": clock.now(),
            "ahead_days": offset.days,
            "moved": offset.total_seconds() > 0,
            "max_days": MAX_ADVANCE_DAYS,
            "can_move": bool(user and user.is_authenticated and sandbox_clock_mover(user)),
        }
    }


def sandbox_clock_mover(user: Any) -> bool:
    from accounts.models import Membership

    return Membership.objects.filter(
        user=user, role__in=[Membership.Role.OWNER, Membership.Role.FINANCE]
    ).exists()
