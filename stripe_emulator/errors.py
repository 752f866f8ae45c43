"""Stripe's error envelope and the constructors for the errors the emulator raises."""

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

    def body(self) -> dict[str, Any]:
        error = {"type": self.type, "code": self.code, "param": self.param}
        error["message"] = self.message
        if self.code:
            error["doc_url"] = f"https://stripe.com/docs/error-codes/{self.code.replace('_', '-')}"
        return {"error": {**error, **self.extra}}


def invalid(message: str, param: str | None = None, code: str | None = None) -> StripeError:
    return StripeError(400, message, param=param, code=code)


def missing_param(param: str) -> StripeError:
    return invalid(f"Missing required param: {param}.", param, "parameter_missing")


def no_such(kind: str, object_id: str, param: str, status: int = 400) -> StripeError:
    """Unknown id: 404 when it is the path's resource, 400 when a body parameter names it."""
    return StripeError(
        status, f"No such {kind}: '{object_id}'", param=param, code="resource_missing"
    )
