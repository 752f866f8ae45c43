"""API permissions every view has (``REST_FRAMEWORK["DEFAULT_PERMISSION_CLASSES"]``)."""

from __future__ import annotations

from typing import Any

from rest_framework.permissions import SAFE_METHODS, BasePermission
from rest_framework.request import Request

from accounts.roles import read_only
from accounts.tenancy import principal_for_request


class ViewersOnlyRead(BasePermission):
    """A viewer (a viewer key, or a person who is a viewer in every organisation) reads and
    never writes: any other method answers 403."""

    message = "Viewers have read-only access: ask an owner or an admin to change your role."

    def has_permission(self, request: Request, view: Any) -> bool:
        if request.method in SAFE_METHODS:
            return True
        return not read_only(principal=principal_for_request(request))
