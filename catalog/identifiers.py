"""Standard identifiers of works: validation (check digits included) and normal form.

`normalise_identifier(scheme, value)` returns the form we store and compare (no hyphens or
spaces; ISRC and ISWC upper-case; DOI lower-case, as DOIs are case-insensitive) or raises
`ValueError` with a message a creator can act on. An ISBN-10 is accepted and stored as its
ISBN-13 (prefix 978), so one book has one key whichever form a file uses.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit, urlunsplit

from django.core.exceptions import ValidationError
from django.core.validators import URLValidator

ISBN13 = "isbn13"
ISRC = "isrc"
ISWC = "iswc"
DOI = "doi"
URL = "url"
SCHEMES = (ISBN13, ISRC, ISWC, DOI, URL)
# The identifiers a work is matched on when re-imported or reported (a URL is not unique).
MATCHING_SCHEMES = (ISBN13, ISRC, ISWC, DOI)
SCHEME_LABELS = {ISBN13: "ISBN-13", ISRC: "ISRC", ISWC: "ISWC", DOI: "DOI", URL: "URL"}
_ALIASES = {"isbn": ISBN13, "isbn-13": ISBN13, "isbn_13": ISBN13}

_SEPARATORS = re.compile(r"[\s\-‐‑‒–—.]")
_ISRC = re.compile(r"^[A-Z]{2}[A-Z0-9]{3}[0-9]{2}[0-9]{5}$")
_ISWC = re.compile(r"^T[0-9]{10}$")
_DOI = re.compile(r"^10\.[0-9]{4,9}(\.[0-9]+)*/\S+$")
_DOI_PREFIXES = ("https://doi.org/", "http://doi.org/", "https://dx.doi.org/", "http://dx.doi.org/")
MAX_DOI_LENGTH = 255
MAX_URL_LENGTH = 1000
_url_validator = URLValidator(schemes=["http", "https"])


def _strip_label(value: str, label: str) -> str:
    if value.upper().startswith(label):
        return value[len(label) :].lstrip(" :")
    return value


def _isbn13_check_digit(first_twelve: str) -> int:
    total = sum(int(d) * (3 if i % 2 else 1) for i, d in enumerate(first_twelve))
    return (10 - total % 10) % 10


def _isbn10_check_char(first_nine: str) -> str:
    total = sum(int(d) * (10 - i) for i, d in enumerate(first_nine))
    check = (11 - total % 11) % 11
    return "X" if check == 10 else str(check)


def normalise_isbn13(value: str) -> str:
    raw = _strip_label(value.strip(), "ISBN")
    compact = _SEPARATORS.sub("", raw).upper()
    if len(compact) == 10 and re.fullmatch(r"[0-9]{9}[0-9X]", compact):
        expected = _isbn10_check_char(compact[:9])
        if compact[9] != expected:
            raise ValueError(
                f"ISBN-10 {value!r}: the check digit should be {expected}, not {compact[9]}."
            )
        body = "978" + compact[:9]
        return body + str(_isbn13_check_digit(body))
    if not re.fullmatch(r"[0-9]{13}", compact):
        raise ValueError(f"ISBN-13 {value!r}: expected 13 digits (hyphens and spaces allowed).")
    if not compact.startswith(("978", "979")):
        raise ValueError(f"ISBN-13 {value!r}: must start with 978 or 979.")
    expected_digit = _isbn13_check_digit(compact[:12])
    if int(compact[12]) != expected_digit:
        raise ValueError(
            f"ISBN-13 {value!r}: the check digit should be {expected_digit}, not {compact[12]}."
        )
    return compact


def normalise_isrc(value: str) -> str:
    compact = _SEPARATORS.sub("", _strip_label(value.strip(), "ISRC")).upper()
    if not _ISRC.fullmatch(compact):
        raise ValueError(
            f"ISRC {value!r}: expected CC-XXX-YY-NNNNN (country, registrant, year, designation)."
        )
    return compact


def _iswc_check_digit(nine_digits: str) -> int:
    total = 1 + sum((i + 1) * int(d) for i, d in enumerate(nine_digits))
    return (10 - total % 10) % 10


def normalise_iswc(value: str) -> str:
    compact = _SEPARATORS.sub("", _strip_label(value.strip(), "ISWC")).upper()
    if not _ISWC.fullmatch(compact):
        raise ValueError(f"ISWC {value!r}: expected T-DDD.DDD.DDD-C (T, nine digits, check).")
    expected = _iswc_check_digit(compact[1:10])
    if int(compact[10]) != expected:
        raise ValueError(
            f"ISWC {value!r}: the check digit should be {expected}, not {compact[10]}."
        )
    return compact


def normalise_doi(value: str) -> str:
    doi = value.strip()
    for prefix in _DOI_PREFIXES:
        if doi.lower().startswith(prefix):
            doi = doi[len(prefix) :]
            break
    doi = _strip_label(doi, "DOI").lower()
    if not _DOI.fullmatch(doi):
        raise ValueError(f"DOI {value!r}: expected 10.<registrant>/<suffix>, e.g. 10.1000/xyz123.")
    if len(doi) > MAX_DOI_LENGTH:
        raise ValueError(f"DOI {value!r}: longer than {MAX_DOI_LENGTH} characters.")
    return doi


def normalise_url(value: str) -> str:
    url = value.strip()
    if len(url) > MAX_URL_LENGTH:
        raise ValueError(f"URL {value!r}: longer than {MAX_URL_LENGTH} characters.")
    try:
        _url_validator(url)
    except ValidationError:
        raise ValueError(f"URL {value!r}: expected an http:// or https:// address.") from None
    parts = urlsplit(url)
    return urlunsplit(parts._replace(scheme=parts.scheme.lower(), netloc=parts.netloc.lower()))


_NORMALISERS = {
    ISBN13: normalise_isbn13,
    ISRC: normalise_isrc,
    ISWC: normalise_iswc,
    DOI: normalise_doi,
    URL: normalise_url,
}


def canonical_scheme(scheme: str) -> str:
    """The scheme's canonical name (`isbn13`, `isrc`, `iswc`, `doi`, `url`), or ValueError."""
    name = _ALIASES.get(scheme.strip().lower(), scheme.strip().lower())
    if name not in _NORMALISERS:
        raise ValueError(f"Unknown identifier scheme {scheme!r}: use one of {', '.join(SCHEMES)}.")
    return name


def normalise_identifier(scheme: str, value: str) -> str:
    """The stored form of `value` under `scheme`; ValueError with a clear message if invalid."""
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{SCHEME_LABELS.get(scheme, scheme)}: a value is required.")
    return _NORMALISERS[canonical_scheme(scheme)](value)


def format_identifier(scheme: str, value: str) -> str:
    """How a stored identifier reads to a person (hyphenated where the standard hyphenates)."""
    if not value:
        return ""
    if scheme == ISRC and len(value) == 12:
        return f"{value[:2]}-{value[2:5]}-{value[5:7]}-{value[7:]}"
    if scheme == ISWC and len(value) == 11:
        return f"{value[0]}-{value[1:4]}.{value[4:7]}.{value[7:10]}-{value[10]}"
    return value
