"""The base class of every domain error: a message for people and a stable code for tools."""

from __future__ import annotations

import re


class DomainError(Exception):
    code = "domain_error"
    # The request broke a rule (an API answers 422 with the code); False when something else
    # failed, e.g. Stripe, which stays a server error.
    client_fault = True

    def __init__(self, message: str, *args: object, code: str | None = None) -> None:
        # *args: Django's ValidationError, a second base of some domain errors, passes its
        # code and params on positionally (and then sets message and code itself).
        super().__init__(message, *args)
        self.message = message
        if code:
            self.code = code


MESSAGE_LIMIT = 2000
"""Characters of an error message kept when it is stored (the rest is cut, marked "…")."""

_UNSTORABLE = re.compile(r"[\x00-\x1f\x7f-\x9f\ud800-\udfff]")
_UNSTORABLE_IN_TEXT = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")


def _escaped(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def safe_message(message: object, *, limit: int = MESSAGE_LIMIT, multiline: bool = False) -> str:
    """An error message (or any text from outside) as it can be stored and shown: control
    characters and unpaired surrogates escaped (NUL becomes the four characters ``\\x00``:
    PostgreSQL stores no NUL in text or jsonb, and a surrogate is no UTF-8), and at most
    ``limit`` characters. ``multiline`` keeps newlines, carriage returns and tabs.

    Every place that stores a reason an import, a usage report or an inbound event failed
    passes it through here, so a hostile or mis-encoded file can never make the storing of
    its own rejection fail."""
    text = str(message)
    text = (_UNSTORABLE_IN_TEXT if multiline else _UNSTORABLE).sub(_escaped, text)
    if len(text) > limit:
        text = text[: max(0, limit - 1)] + "…"
    return text
