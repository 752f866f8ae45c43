"""Base classes every API view builds on, so tenancy cannot be forgotten."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from rest_framework import viewsets

from accounts.tenancy import Principal, principal_for_request


class TenantScopedMixin:
    """`get_queryset` returns only what the caller's organisations may see.

    Subclasses implement `scoped_queryset(principal)` (normally a selector) instead of
    `get_queryset`; another organisation's object is then absent and answers 404.
    """

    request: Any

    @property
    def principal(self) -> Principal:
        return principal_for_request(self.request)

    def scoped_queryset(self, principal: Principal) -> QuerySet[Any]:
        raise NotImplementedError

    def get_queryset(self) -> QuerySet[Any]:
        return self.scoped_queryset(self.principal)


class TenantScopedReadOnlyViewSet(TenantScopedMixin, viewsets.ReadOnlyModelViewSet):
    pass


class TenantScopedGenericViewSet(TenantScopedMixin, viewsets.GenericViewSet):
    pass
