"""Throttling per API key (sessions are people clicking, not pipelines)."""

from __future__ import annotations

from typing import Any

from rest_framework.throttling import SimpleRateThrottle

from accounts.models import ApiKey


class ApiKeyRateThrottle(SimpleRateThrottle):
    scope = "api_key"

    def get_cache_key(self, request: Any, view: Any) -> str | None:
        if not isinstance(request.auth, ApiKey):
            return None
        return self.cache_format % {"scope": self.scope, "ident": request.auth.prefix}
