"""The one validator of a work's own fields: the API and web forms (through
`catalog.services`) and the catalogue importer (per row) call these functions.

Each `<field>_clean` takes what a client sent and returns the stored value, or raises
ValueError whose text is the field's message. What needs the database (an identifier another
work already has) stays with the caller: the services ask the ORM, the importer asks in SQL.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Mapping
from typing import Any

from django.core.exceptions import ValidationError

from catalog.identifiers import MATCHING_SCHEMES, URL, normalise_identifier
from catalog.models import Work

IDENTIFIER_FIELDS = (*MATCHING_SCHEMES, URL)
MAX_TITLE_LENGTH = 500
MAX_LANGUAGE_LENGTH = 35
MAX_SIZE_BYTES = 2**63 - 1  # PostgreSQL bigint
MAX_METADATA_DEPTH = 32
MAX_METADATA_KEYS = 1_000
MAX_METADATA_BYTES = 64 * 1024
# The message Django's and DRF's own text fields give, so a NUL reads the same everywhere.
NUL_MESSAGE = "Null characters are not allowed."
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_NUL = "\x00"


def text_clean(value: Any, *, max_length: int | None = None) -> str:
    """Text without surrounding space; None reads as empty."""
    if value is None:
        return ""
    if not isinstance(value, str):
        raise ValueError("Enter text.")
    if _NUL in value:
        raise ValueError(NUL_MESSAGE)
    text = value.strip()
    if max_length is not None and len(text) > max_length:
        raise ValueError(f"At most {max_length:,} characters.")
    return text


def title_clean(value: Any) -> str:
    title = text_clean(value, max_length=MAX_TITLE_LENGTH)
    if not title:
        raise ValueError("A work needs a title.")
    return title


def kind_clean(value: Any) -> str:
    kind = text_clean(value)
    if kind not in Work.Kind.values:
        raise ValueError(f"{kind!r} is not one of {', '.join(sorted(Work.Kind.values))}.")
    return kind


def language_clean(value: Any) -> str:
    try:
        return text_clean(value, max_length=MAX_LANGUAGE_LENGTH)
    except ValueError as error:
        if str(error) == NUL_MESSAGE:
            raise
        raise ValueError("A BCP 47 tag of at most 35 characters, e.g. en-GB.") from None


def content_sha256_clean(value: Any) -> str:
    digest = text_clean(value).lower()
    if digest and not _SHA256.fullmatch(digest):
        raise ValueError("A SHA-256 is 64 hexadecimal characters.")
    return digest


def size_bytes_clean(value: Any, *, from_text: bool = False) -> int | None:
    """A whole number of bytes (a bigint); None when not known. `from_text`: a CSV cell, where
    digits stand for the number."""
    if from_text and isinstance(value, str):
        digits = value.strip()
        if not digits:
            return None
        if digits.isascii() and digits.isdigit() and len(digits) <= 20:
            value = int(digits)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError("The size is a whole number of bytes, 0 or more.")
    if value > MAX_SIZE_BYTES:
        raise ValueError(f"The size is at most {MAX_SIZE_BYTES:,} bytes.")
    return value


def identifier_clean(scheme: str, value: Any) -> str:
    """The stored form of an identifier; empty when none is given."""
    text = text_clean(value)
    return normalise_identifier(scheme, text) if text else ""


def _metadata_problem(value: Any, depth: int, keys: list[int]) -> str | None:
    """What is wrong inside a metadata value, if anything (iterative over siblings,
    recursive only as deep as MAX_METADATA_DEPTH)."""
    if depth > MAX_METADATA_DEPTH:
        return f"Metadata is nested at most {MAX_METADATA_DEPTH} levels deep."
    if isinstance(value, str):
        return NUL_MESSAGE if _NUL in value else None
    if isinstance(value, bool) or value is None or isinstance(value, int):
        return None
    if isinstance(value, float):
        return None if math.isfinite(value) else "Metadata numbers are finite."
    if isinstance(value, dict):
        keys[0] += len(value)
        if keys[0] > MAX_METADATA_KEYS:
            return f"Metadata has at most {MAX_METADATA_KEYS:,} keys."
        children = []
        for key, child in value.items():
            if not isinstance(key, str):
                return "Metadata keys are text."
            if _NUL in key:
                return NUL_MESSAGE
            children.append(child)
    elif isinstance(value, list):
        children = value
    else:
        return "Metadata holds only JSON values."
    for child in children:
        problem = _metadata_problem(child, depth + 1, keys)
        if problem:
            return problem
    return None


def metadata_clean(value: Any) -> dict[str, Any]:
    """A JSON object, bounded in depth, keys and encoded size, without NUL; None reads as {}."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ValueError("Metadata is a JSON object.")
    problem = _metadata_problem(value, 1, [0])
    if problem:
        raise ValueError(problem)
    if len(json.dumps(value, ensure_ascii=False).encode()) > MAX_METADATA_BYTES:
        raise ValueError(f"Metadata is at most {MAX_METADATA_BYTES // 1024} KiB of JSON.")
    return value


def metadata_from_text(text: str) -> dict[str, Any]:
    """Metadata written as JSON text (a CSV cell), checked like any other."""
    if _NUL in text:
        raise ValueError(NUL_MESSAGE)
    if len(text.encode()) > MAX_METADATA_BYTES:
        raise ValueError(f"Metadata is at most {MAX_METADATA_BYTES // 1024} KiB of JSON.")
    try:
        parsed = json.loads(text, parse_constant=_refuse_constant)
    except RecursionError:
        raise ValueError(f"Metadata is nested at most {MAX_METADATA_DEPTH} levels deep.") from None
    except ValueError:
        raise ValueError("Not valid JSON.") from None
    return metadata_clean(parsed)


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON.")


CLEANERS: dict[str, Callable[[Any], Any]] = {
    "title": title_clean,
    "kind": kind_clean,
    "language": language_clean,
    "content_sha256": content_sha256_clean,
    "size_bytes": size_bytes_clean,
    "metadata": metadata_clean,
}


def work_fields_clean(fields: Mapping[str, Any]) -> dict[str, Any]:
    """The given description fields, cleaned. Raises ValidationError naming each bad field."""
    cleaned: dict[str, Any] = {}
    errors: dict[str, str] = {}
    for name, clean in CLEANERS.items():
        if name in fields:
            try:
                cleaned[name] = clean(fields[name])
            except ValueError as error:
                errors[name] = str(error)
    if errors:
        raise ValidationError(errors)
    return cleaned


def identifiers_clean(identifiers: Mapping[str, Any]) -> tuple[dict[str, str], dict[str, str]]:
    """(cleaned, errors) for the given identifiers, each checked on its own."""
    cleaned: dict[str, str] = {}
    errors: dict[str, str] = {}
    for scheme in IDENTIFIER_FIELDS:
        if scheme in identifiers:
            try:
                cleaned[scheme] = identifier_clean(scheme, identifiers[scheme])
            except ValueError as error:
                errors[scheme] = str(error)
    return cleaned, errors
