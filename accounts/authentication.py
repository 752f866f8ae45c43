"""API key authentication: `Authorization: Bearer trk_<prefix>_<secret>`."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import AnonymousUser
from rest_framework import authentication, exceptions

from accounts.models import ApiKey
from accounts.services import API_KEY_PREFIX, api_key_authenticate


class ApiKeyUser(AnonymousUser):
    """The request's `user` when an API key acts for its organisation (no person involved)."""

    def __init__(self, api_key: ApiKey) -> None:
        self.api_key = api_key

    @property
    # django-stubs declares these as attributes of AbstractBaseUser; Django itself reads them
    # as properties (as on AnonymousUser), which mypy calls an incompatible override.
    def is_authenticated(self) -> bool:  # type: ignore[override]
        return True

    @property
    def is_anonymous(self) -> bool:  # type: ignore[override]
        return False

    def __str__(self) -> str:
        return f"api-key:{self.api_key.prefix}"


def bearer_token(request: Any) -> str | None:
    header = request.META.get("HTTP_AUTHORIZATION", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.startswith(API_KEY_PREFIX):
        return None
    return token.strip()


class ApiKeyAuthentication(authentication.BaseAuthentication):
    def authenticate(self, request: Any) -> tuple[ApiKeyUser, ApiKey] | None:
        token = bearer_token(request)
        if token is None:
            return None
        api_key = api_key_authenticate(plaintext=token)
        if api_key is None:
            raise exceptions.AuthenticationFailed("Invalid or revoked API key.")
        return ApiKeyUser(api_key), api_key

    def authenticate_header(self, request: Any) -> str:
        return 'Bearer realm="api"'
