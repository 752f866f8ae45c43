"""The base class of every domain error: a message for people and a stable code for tools."""

from __future__ import annotations


class DomainError(Exception):
    code = "domain_error"
    # The request broke a rule (an API answers 422 with the code); False when something else
    # failed, e.g. Stripe, which stays a server error.
    client_fault = True

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code:
            self.code = code
