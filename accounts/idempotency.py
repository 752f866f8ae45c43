"""`Idempotency-Key` on every API POST.

The same key with the same body replays the first response without doing the work again; the
same key with a different body answers 422; a key whose first request is still running answers
409. The unique (principal, key) row is claimed before the view runs, so two concurrent requests
cannot both do the work. A 5xx releases the key: our writes are transactional, so nothing was
done, and the client's retry should be allowed to succeed.

A response carrying a secret (a new API key) names its secret fields (``secret_fields`` on the
response): they are stored as null, so a replay answers with the key's id and prefix, says the
secret was shown once, and no secret is ever kept here.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable

from django.db import IntegrityError, transaction
from django.http import HttpRequest, HttpResponse

from accounts.api.problems import problem_response
from accounts.authentication import bearer_token
from accounts.models import IdempotencyRecord
from accounts.services import api_key_authenticate
from core import clock

HEADER = "HTTP_IDEMPOTENCY_KEY"
MAX_KEY_LENGTH = 255
# Bodies larger than this (file uploads) are fingerprinted by size and type rather than read
# into memory here; their own endpoints de-duplicate on their content (e.g. a report id).
MAX_HASHED_BODY = 1024 * 1024


def _principal_identity(request: HttpRequest) -> str | None:
    token = bearer_token(request)
    if token is not None:
        api_key = api_key_authenticate(plaintext=token)
        return f"org:{api_key.organisation_id}" if api_key else None
    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated:
        return f"user:{user.pk}"
    return None


def _fingerprint(request: HttpRequest) -> str:
    digest = hashlib.sha256()
    digest.update(request.method.encode() if request.method else b"")
    digest.update(request.get_full_path().encode())
    digest.update(request.content_type.encode() if request.content_type else b"")
    length = int(request.META.get("CONTENT_LENGTH") or 0)
    if length <= MAX_HASHED_BODY:
        digest.update(request.body)
    else:
        digest.update(str(length).encode())
    return digest.hexdigest()


SECRET_SHOWN_ONCE = (
    "The secret was shown once, in the first response to this request, and is not stored. "
    "If it was lost, revoke this key and create another."
)


def _storable_body(response: HttpResponse) -> bytes:
    """The body to keep for replays: the response's own, less any secret it names."""
    secret_fields = getattr(response, "secret_fields", ())
    if not secret_fields:
        return bytes(response.content)
    body = json.loads(response.content)
    for name in secret_fields:
        body[name] = None
    body["secret_shown_once"] = True
    body["detail"] = SECRET_SHOWN_ONCE
    return json.dumps(body).encode()


class IdempotencyMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        key = request.META.get(HEADER)
        if request.method != "POST" or not key or not request.path.startswith("/api/"):
            return self.get_response(request)
        if len(key) > MAX_KEY_LENGTH:
            return problem_response(
                status_code=400,
                detail=f"Idempotency-Key must be at most {MAX_KEY_LENGTH} characters.",
                code="idempotency_key_invalid",
                path=request.path,
            )
        principal = _principal_identity(request)
        if principal is None:
            return self.get_response(request)  # the view answers 401 itself
        fingerprint = _fingerprint(request)
        try:
            with transaction.atomic():
                record = IdempotencyRecord.objects.create(
                    principal=principal,
                    key=key,
                    request_fingerprint=fingerprint,
                    method=request.method,
                    path=request.path[:500],
                )
        except IntegrityError:
            return self._replay(request, principal=principal, key=key, fingerprint=fingerprint)
        try:
            response = self.get_response(request)
        except Exception:
            IdempotencyRecord.objects.filter(pk=record.pk).delete()
            raise
        if response.status_code >= 500 or getattr(response, "streaming", False):
            IdempotencyRecord.objects.filter(pk=record.pk).delete()
            return response
        IdempotencyRecord.objects.filter(pk=record.pk).update(
            status_code=response.status_code,
            content_type=response.get("Content-Type", ""),
            response_body=_storable_body(response),
            completed_at=clock.now(),
        )
        return response

    def _replay(
        self, request: HttpRequest, *, principal: str, key: str, fingerprint: str
    ) -> HttpResponse:
        record = IdempotencyRecord.objects.filter(principal=principal, key=key).first()
        if record is None:  # released by a 5xx a moment ago: let this request do the work
            return self.__call__(request)
        if record.request_fingerprint != fingerprint:
            return problem_response(
                status_code=422,
                detail="This Idempotency-Key was used with a different request body or path.",
                code="idempotency_key_reused",
                path=request.path,
            )
        if record.completed_at is None:
            return problem_response(
                status_code=409,
                detail="A request with this Idempotency-Key is still being processed.",
                code="idempotency_key_in_use",
                path=request.path,
            )
        response = HttpResponse(
            bytes(record.response_body or b""),
            status=record.status_code or 200,
            content_type=record.content_type or "application/json",
        )
        response["Idempotent-Replayed"] = "true"
        return response
