"""RFC 9457 problem details for every API error, with field-level messages.

DRF exceptions pass through `problem_exception_handler`; Django-level 404/500 for API paths go
through `api_not_found`/`api_server_error` (wired in config.urls), so an API client never sees a
stack trace or an HTML page.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404, HttpRequest, JsonResponse
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler

from core.errors import DomainError

PROBLEM_CONTENT_TYPE = "application/problem+json"
PROBLEM_TYPE_BASE = "https://trainright.example/problems/"


class Conflict(exceptions.APIException):
    """409: the request is valid but the resource has moved on (e.g. a stale offer version)."""

    status_code = status.HTTP_409_CONFLICT
    default_detail = "The resource has changed since you last read it."
    default_code = "conflict"

    def __init__(self, detail: str | None = None, *, current: dict[str, Any] | None = None):
        super().__init__(detail)
        self.current = current


class Unprocessable(exceptions.APIException):
    status_code = status.HTTP_422_UNPROCESSABLE_ENTITY
    default_detail = "The request could not be processed."
    default_code = "unprocessable"

    def __init__(
        self,
        detail: str | None = None,
        *,
        errors: Any = None,
        code: str | None = None,
        extra: dict[str, Any] | None = None,
    ):
        super().__init__(detail, code)
        self.errors = errors
        self.extra = extra  # more members of the problem document (RFC 9457 extensions)


class PayloadTooLarge(exceptions.APIException):
    """413: the body is over the endpoint's limit; nothing was stored."""

    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = "The request body is too large."
    default_code = "payload_too_large"


_TITLES = {
    400: "Invalid request",
    401: "Authentication required",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    406: "Not acceptable",
    409: "Conflict",
    413: "Payload too large",
    415: "Unsupported media type",
    422: "Unprocessable request",
    429: "Too many requests",
    500: "Server error",
    503: "Service unavailable",
}


def status_title(status_code: int) -> str:
    return _TITLES.get(status_code, "Error")


def problem_body(
    *, status_code: int, detail: str, code: str, instance: str = "", errors: Any = None
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "type": PROBLEM_TYPE_BASE + code.replace("_", "-"),
        "title": _TITLES.get(status_code, "Error"),
        "status": status_code,
        "detail": detail,
        "code": code,
    }
    if instance:
        body["instance"] = instance
    if errors:
        body["errors"] = errors
    return body


def _flatten_detail(detail: Any) -> str:
    if isinstance(detail, list):
        return " ".join(_flatten_detail(d) for d in detail)
    if isinstance(detail, dict):
        return " ".join(f"{k}: {_flatten_detail(v)}" for k, v in detail.items())
    return str(detail)


def problem_exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(exc, DjangoValidationError):
        exc = exceptions.ValidationError(
            exc.message_dict if hasattr(exc, "error_dict") else {"non_field_errors": exc.messages}
        )
    elif isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, PermissionDenied):
        # The service's reason (who may do this) is for the caller, who is already one of the
        # organisation's: it reveals nothing a 404 would hide.
        exc = exceptions.PermissionDenied(str(exc) or None)
    elif isinstance(exc, DomainError) and exc.client_fault:
        # A rule refused the request and no view mapped it more precisely: 422 with its code.
        exc = Unprocessable(exc.message, code=exc.code)
    response = exception_handler(exc, context)
    if response is None:
        return None  # an unexpected error: Django's 500 handler answers with a problem document
    request = context.get("request")
    instance = request.path if request is not None else ""
    if isinstance(exc, exceptions.ValidationError):
        errors = exc.detail if isinstance(exc.detail, dict) else {"non_field_errors": exc.detail}
        body = problem_body(
            status_code=response.status_code,
            detail="One or more fields are invalid.",
            code="validation_error",
            instance=instance,
            errors=errors,
        )
    else:
        detail = getattr(exc, "detail", str(exc))
        code = getattr(detail, "code", None) or getattr(exc, "default_code", "error")
        body = problem_body(
            status_code=response.status_code,
            detail=_flatten_detail(detail),
            code=str(code),
            instance=instance,
            errors=getattr(exc, "errors", None),
        )
        current = getattr(exc, "current", None)
        if current is not None:
            body["current"] = current
        body.update({k: v for k, v in (getattr(exc, "extra", None) or {}).items() if k not in body})
    response.data = body
    response.content_type = PROBLEM_CONTENT_TYPE
    return response


def problem_response(*, status_code: int, detail: str, code: str, path: str) -> JsonResponse:
    return JsonResponse(
        problem_body(status_code=status_code, detail=detail, code=code, instance=path),
        status=status_code,
        content_type=PROBLEM_CONTENT_TYPE,
    )


def api_not_found(request: HttpRequest, exception: Exception | None = None) -> JsonResponse:
    return problem_response(
        status_code=404, detail="No such resource.", code="not_found", path=request.path
    )


def api_server_error(request: HttpRequest) -> JsonResponse:
    return problem_response(
        status_code=500,
        detail="Something went wrong on our side. It has been logged.",
        code="server_error",
        path=request.path,
    )
