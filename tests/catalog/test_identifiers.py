"""Identifier validation: check digits, normal forms and the messages a creator reads."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from catalog.identifiers import format_identifier, normalise_identifier
from tests.catalog.factories import isbn13


@pytest.mark.parametrize(
    ("scheme", "raw", "stored"),
    [
        ("isbn13", "978-0-306-40615-7", "9780306406157"),
        ("isbn", "ISBN 978 0 306 40615 7", "9780306406157"),
        ("isbn13", "0-306-40615-2", "9780306406157"),  # ISBN-10, stored as its ISBN-13
        ("isbn13", "080442957X", "9780804429573"),
        ("isrc", "gb-aye-19-00001", "GBAYE1900001"),
        ("isrc", "ISRC USRC17607839", "USRC17607839"),
        ("iswc", "T-034.524.680-1", "T0345246801"),
        ("doi", "https://doi.org/10.1000/XYZ123", "10.1000/xyz123"),
        ("doi", "doi:10.5555/ABC.def", "10.5555/abc.def"),
        ("url", "HTTPS://Example.COM/Works/1", "https://example.com/Works/1"),
    ],
)
def test_valid_identifiers_are_stored_in_normal_form(scheme, raw, stored):
    assert normalise_identifier(scheme, raw) == stored


@pytest.mark.parametrize(
    ("scheme", "raw", "message"),
    [
        ("isbn13", "978-0-306-40615-8", "check digit should be 7, not 8"),
        ("isbn13", "977-0-306-40615-7", "must start with 978 or 979"),
        ("isbn13", "12345", "expected 13 digits"),
        ("isbn13", "0-306-40615-3", "ISBN-10 '0-306-40615-3': the check digit should be 2"),
        ("isrc", "GB-AYE-19-0001", "expected CC-XXX-YY-NNNNN"),
        ("iswc", "T-034.524.680-2", "check digit should be 1, not 2"),
        ("iswc", "034.524.680-1", "expected T-DDD.DDD.DDD-C"),
        ("doi", "11.1000/xyz", "expected 10.<registrant>/<suffix>"),
        ("url", "ftp://example.com/x", "http:// or https://"),
        ("upc", "123", "Unknown identifier scheme"),
        ("isrc", "  ", "a value is required"),
    ],
)
def test_invalid_identifiers_raise_a_clear_message(scheme, raw, message):
    with pytest.raises(ValueError, match=None) as raised:
        normalise_identifier(scheme, raw)
    assert message in str(raised.value)


@given(st.integers(min_value=0, max_value=999_999_999), st.integers(0, 12), st.integers(1, 9))
def test_changing_any_isbn_digit_breaks_its_check_digit(n, position, delta):
    valid = isbn13(n)
    assert normalise_identifier("isbn13", valid) == valid
    digits = list(valid)
    digits[position] = str((int(digits[position]) + delta) % 10)
    changed = "".join(digits)
    if not changed.startswith(("978", "979")):
        return
    with pytest.raises(ValueError):
        normalise_identifier("isbn13", changed)


def test_identifiers_read_hyphenated_to_a_person():
    assert format_identifier("isrc", "GBAYE1900001") == "GB-AYE-19-00001"
    assert format_identifier("iswc", "T0345246801") == "T-034.524.680-1"
