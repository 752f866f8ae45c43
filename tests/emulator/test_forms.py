"""The form decoder against the SDK's own encoder."""

from typing import Any
from urllib.parse import urlencode

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from stripe._encode import _api_encode

from stripe_emulator.errors import StripeError
from stripe_emulator.forms import parse_form


def test_nested_lists_and_appends() -> None:
    text = (
        "a=1&b[c]=2&items[0][x][y]=3&items[1][x][y]=4&expand[]=p&expand[]=q"
        "&metadata[0]=kept&metadata[k]=&weird[=5"
    )
    assert parse_form(text) == {
        "a": "1",
        "b": {"c": "2"},
        "items": [{"x": {"y": "3"}}, {"x": {"y": "4"}}],
        "expand": ["p", "q"],
        "metadata": {"0": "kept", "k": ""},
        "weird[": "5",
    }


def test_value_and_hash_conflict_is_rejected() -> None:
    with pytest.raises(StripeError) as exc:
        parse_form("a=1&a[b]=2")
    assert exc.value.param == "a[b]"


# "metadata" is the one key whose numeric sub-keys stay a dict, so leave it out here.
_keys = st.text("abcdefghijklmnopqrstuvwxyz_", min_size=1, max_size=8).filter(
    lambda k: k != "metadata"
)
_leaves = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=10)
_values = st.recursive(
    _leaves,
    lambda inner: (
        st.lists(inner, min_size=1, max_size=3)
        | st.dictionaries(_keys, inner, min_size=1, max_size=3)
    ),
    max_leaves=12,
)


@settings(max_examples=100, deadline=None)
@given(st.dictionaries(_keys, _values, min_size=1, max_size=4))
def test_round_trip_through_sdk_encoding(params: dict[str, Any]) -> None:
    assert parse_form(urlencode(list(_api_encode(params)))) == params
