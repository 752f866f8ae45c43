"""One terms validator: the price list (partial updates) and offers (merged onto a base) refuse
the same bad values with the same message, and canonicalise alike."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError

from catalog.services import licence_terms_set
from catalog.terms import pricing_terms_clean
from marketplace.terms import terms_clean
from tests.catalog.factories import CatalogueFactory, acting_for, creator

BAD = [
    ("upfront_fee_minor", "120", "A whole number of minor units (e.g. cents)."),
    ("upfront_fee_minor", True, "A whole number of minor units (e.g. cents)."),
    ("upfront_fee_minor", -1, "Between 0 and 99,999,999,999 minor units."),
    ("minimum_guarantee_minor", 1.5, "A whole number of minor units (e.g. cents)."),
    ("rate_tokens_trained_minor", 0.3, 'A decimal number of minor units as a string, e.g. "0.3".'),
    ("rate_tokens_trained_minor", "", 'A decimal number of minor units as a string, e.g. "0.3".'),
    ("rate_tokens_trained_minor", "NaN", "A rate is between 0 and 99,999,999,999,999 minor units."),
    ("rate_retrievals_minor", "0.00000000001", "At most 10 decimal places."),
    ("revenue_share_bp", True, "A whole number of basis points (10,000 = 100 %)."),
    ("revenue_share_bp", "250", "A whole number of basis points (10,000 = 100 %)."),
    ("revenue_share_bp", 10_001, "Between 0 and 10,000 basis points (100 %)."),
    ("term_months", True, "A whole number of months."),
    ("term_months", 0, "Between 1 and 120 months."),
    ("currency", "dollars", "An ISO 4217 code of three letters, e.g. USD."),
    ("currency", 840, "An ISO 4217 code of three letters, e.g. USD."),
    ("exclusive", "yes", "true or false."),
    ("upfront_fee_basis", "per_page", "One of: per_work, per_catalogue."),
    ("territories", [], "Name at least one territory (WORLD for worldwide)."),
    ("territories", ["GBR"], "ISO 3166-1 alpha-2 codes or WORLD; not GBR."),
    ("territories", [826], "Territories are codes such as GB, or WORLD."),
    ("permitted_uses", "ai-train", "A list of AI uses, e.g. ai-train."),
    ("permitted_uses", ["ai-everything"], "Unknown AI use(s): ai-everything."),
    ("mystery_field", 1, "Not a licence term."),
]


@pytest.mark.parametrize(("field", "value", "message"), BAD)
def test_the_price_list_and_offers_refuse_alike(field, value, message):
    with pytest.raises(ValidationError) as listing:
        pricing_terms_clean({field: value})
    with pytest.raises(ValidationError) as offer:
        terms_clean({"permitted_uses": ["ai-train"], field: value})
    assert listing.value.message_dict[field] == [message]
    assert offer.value.message_dict[field] == [message]


def test_both_canonicalise_alike():
    raw = {
        "currency": " eur ",
        "territories": ["gb", "fr", "GB"],
        "permitted_uses": ["ai-train", "ai-index", "ai-train"],
        "rate_tokens_trained_minor": "0.30",
        "revenue_share_bp": None,
    }
    listing = pricing_terms_clean(raw)
    offer = terms_clean(raw)
    for name, value in listing.items():
        assert offer[name] == value
    assert listing["territories"] == ["FR", "GB"]
    assert listing["permitted_uses"] == ["ai-index", "ai-train"]
    assert listing["rate_tokens_trained_minor"] == Decimal("0.3")
    assert pricing_terms_clean({"territories": ["fr", "world"]})["territories"] == ["WORLD"]


def test_a_price_list_may_name_no_use_but_an_offer_must():
    assert pricing_terms_clean({"permitted_uses": []}) == {"permitted_uses": []}
    with pytest.raises(ValidationError, match="Name at least one use"):
        terms_clean({"permitted_uses": []})


@pytest.mark.django_db
def test_a_recoupable_advance_needs_a_fee_on_the_price_list_too():
    owner = creator()
    catalogue = CatalogueFactory(owner=owner)
    actor = acting_for(owner)
    with pytest.raises(ValidationError) as refused:
        licence_terms_set(catalogue=catalogue, values={"advance_recoupable": True}, actor=actor)
    assert "advance_recoupable" in refused.value.message_dict
    licence_terms_set(
        catalogue=catalogue,
        values={"upfront_fee_minor": 5_000, "advance_recoupable": True},
        actor=actor,
    )
    with pytest.raises(ValidationError):  # merged with what is listed: the fee goes, so must it
        licence_terms_set(catalogue=catalogue, values={"upfront_fee_minor": 0}, actor=actor)
