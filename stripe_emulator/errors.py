"""Stripe's error envelope and the constructors for the errors the emulator raises."""

import time
from typing import Any


class StripeError(Exception):
    """An API error rendered as ``{"error": {...}}`` with an HTTP status.

    ``stored`` says whether the idempotency layer keeps this response: Stripe saves a result
    only once endpoint execution has begun, so parameter validation failures are not saved
    (a corrected retry with the same key may succeed), while e.g. card declines are.
    """

    def __init__(
        self,
        status: int,
        message: str,
        *,
        type: str = "invalid_request_error",
        code: str | None = None,
        param: str | None = None,
        stored: bool = False,
        extra: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type
        self.code = code
        self.param = param
        self.stored = stored
        self.extra = extra or {}
        self.headers = headers or {}

    def body(self, request_id: str | None = None) -> dict[str, Any]:
        """Stripe's shape: ``code`` (with its ``doc_url``) and ``param`` only when there is
        one, and for an API request the ``request_log_url`` of its Dashboard log entry."""
        error: dict[str, Any] = {}
        if self.code:
            error["code"] = self.code
            error["doc_url"] = f"https://stripe.com/docs/error-codes/{self.code.replace('_', '-')}"
        error["message"] = self.message
        if self.param:
            error["param"] = self.param
        if request_id:
            error["request_log_url"] = (
                f"https://dashboard.stripe.com/test/logs/{request_id}?t={int(time.time())}"
            )
        error["type"] = self.type
        return {"error": {**error, **self.extra}}


def invalid(message: str, param: str | None = None, code: str | None = None) -> StripeError:
    return StripeError(400, message, param=param, code=code)


def unknown_param(param: str) -> StripeError:
    return invalid(f"Received unknown parameter: {param}", param, "parameter_unknown")


def invalid_integer(raw: object, param: str) -> StripeError:
    return invalid(f"Invalid integer: {raw}", param, "parameter_invalid_integer")


def missing_param(param: str) -> StripeError:
    return invalid(f"Missing required param: {param}.", param, "parameter_missing")


def no_such(kind: str, object_id: str, param: str, status: int = 400) -> StripeError:
    """Unknown id: 404 when it is the path's resource, 400 when a body parameter names it."""
    return StripeError(
        status, f"No such {kind}: '{object_id}'", param=param, code="resource_missing"
    )
