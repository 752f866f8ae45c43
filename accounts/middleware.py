"""A request id on every request: taken from `X-Request-ID` when a proxy set a sane one,
bound into every log line, and echoed in the response."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from urllib.parse import urlsplit

import structlog
from csp.middleware import CSPMiddleware, PolicyParts
from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseBase

from accounts.roles import read_only
from accounts.tenancy import principal_for_user

_SAFE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")
log = structlog.get_logger(__name__)


class RequestIdMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        incoming = request.META.get("HTTP_X_REQUEST_ID", "")
        request_id = incoming if _SAFE_REQUEST_ID.match(incoming) else uuid.uuid4().hex
        # HttpRequest declares no request_id; ours carries one for the views and the logs.
        request.request_id = request_id  # type: ignore[attr-defined]
        structlog.contextvars.clear_contextvars()
        structlog.contextvars.bind_contextvars(request_id=request_id)
        response = self.get_response(request)
        response["X-Request-ID"] = request_id
        log.info(
            "request",
            method=request.method,
            path=request.path,
            status=response.status_code,
        )
        return response


class ApiProblemMiddleware:
    """Every error under /api/ is a problem document, in every mode: with DEBUG on, Django
    would otherwise answer an unknown path or an unhandled exception with its HTML debug
    page (the 404/500 handlers in config.urls only apply with DEBUG off)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if not _is_api(request) or response.status_code < 400:
            return response
        content_type = response.get("Content-Type", "")
        if "json" in content_type:
            return response
        from accounts.api.problems import api_not_found, problem_response, status_title

        if response.status_code == 404:
            return api_not_found(request)
        problem = problem_response(
            status_code=response.status_code,
            detail=status_title(response.status_code),
            code=_CODES.get(response.status_code, "error"),
            path=request.path,
        )
        for header in ("Allow", "Retry-After", "WWW-Authenticate", "X-Request-ID"):
            if header in response:
                problem[header] = response[header]
        return problem

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if not _is_api(request):
            return None
        from django.http import Http404

        from accounts.api.problems import api_not_found, api_server_error

        if isinstance(exception, Http404):
            return api_not_found(request, exception)
        log.exception("api_unhandled_exception", path=request.path)
        return api_server_error(request)


_CODES = {
    400: "bad_request",
    401: "not_authenticated",
    403: "permission_denied",
    404: "not_found",
    405: "method_not_allowed",
    413: "request_too_large",
    500: "server_error",
}


def _is_api(request: HttpRequest) -> bool:
    return request.path.startswith("/api/")


def stripe_hosted_origins() -> list[str]:
    """Where our forms send the browser on to (Stripe Checkout and Connect onboarding): the
    configured Stripe base's origin (the emulator locally), or Stripe's hosted pages."""
    base = urlsplit(settings.STRIPE_API_BASE or "")
    if base.scheme and base.netloc:
        return [f"{base.scheme}://{base.netloc}"]
    return ["https://checkout.stripe.com", "https://connect.stripe.com"]


class ContentSecurityPolicyMiddleware(CSPMiddleware):
    """django-csp's middleware (the policy is ``CONTENT_SECURITY_POLICY`` in settings), with
    Stripe's hosted pages allowed as form targets: Chromium applies ``form-action`` to the
    redirect a form's answer makes, and "Pay with Stripe" and "Get paid" redirect there.
    It also sets ``Permissions-Policy`` (settings.PERMISSIONS_POLICY), which Django does not."""

    def process_response(
        self, request: HttpRequest, response: HttpResponseBase
    ) -> HttpResponseBase:
        if "Permissions-Policy" not in response:
            response["Permissions-Policy"] = settings.PERMISSIONS_POLICY
        return super().process_response(request, response)

    def get_policy_parts(
        self, request: HttpRequest, response: HttpResponseBase, report_only: bool = False
    ) -> PolicyParts:
        parts = super().get_policy_parts(request, response, report_only)
        update = dict(parts.update or {})
        update["form-action"] = [*update.get("form-action", []), *stripe_hosted_origins()]
        parts.update = update
        return parts


class ViewersOnlyReadMiddleware:
    """The pages' side of ``accounts.api.permissions.ViewersOnlyRead``: a person who is a viewer
    in every organisation gets 403 for any form they post (signing out excepted). The API
    checks in DRF, where API keys are known."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if (
            request.method not in ("GET", "HEAD", "OPTIONS")
            and not request.path.startswith(("/api/", "/logout/", "/login/", "/stripe/"))
            and getattr(request, "user", None) is not None
            and request.user.is_authenticated
        ) and read_only(principal=principal_for_user(request.user)):
            raise PermissionDenied(
                "Viewers have read-only access: ask an owner or an admin to change your role."
            )
        return self.get_response(request)
