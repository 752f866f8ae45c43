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
