"""The demo's catalogue: the worked example's works licensable, the rest as described, and
seeding twice changes nothing (not even history)."""

from __future__ import annotations

import pytest
from django.apps import apps

from catalog.models import Work
from catalog.selectors import catalogue_default_terms, licensable_works, works_not_licensable
from frontend.demo import seed_catalogue, seed_parties

pytestmark = pytest.mark.django_db


def _history_rows() -> int:
    return sum(
        apps.get_model("catalog", name).objects.count()
        for name in ("ConsentEvent", "RightsShareEvent")
    )


def test_the_demo_catalogue_is_the_worked_example_and_seeding_is_idempotent():
    parties = seed_parties()
    catalogue = seed_catalogue(parties)
    counts = (Work.objects.count(), _history_rows())
    assert seed_catalogue(parties) == catalogue
    assert (Work.objects.count(), _history_rows()) == counts

    salt = Work.objects.get(title="Salt Roads")
    key = Work.objects.get(title="The Quiet Key")
    assert sorted(salt.rights_shares.values_list("holder__name", "share_bp")) == [
        ("Ana Rivera", 7000),
        ("Harbour Press", 3000),
    ]
    assert sorted(key.rights_shares.values_list("holder__name", "share_bp")) == [
        ("Ben Ode", 5000),
        ("Chloe Marsh", 2500),
        ("Harbour Press", 2500),
    ]
    assert works_not_licensable(work_ids=[salt.pk, key.pk], uses=["ai-train"]) == {}
    terms = catalogue_default_terms(catalogue=catalogue)
    assert (terms.currency, terms.upfront_fee_minor, str(terms.rate_tokens_trained_minor)) == (
        "USD",
        120_000,
        "0.3000000000",
    )
    visible = set(licensable_works().filter(catalogue=catalogue).values_list("title", flat=True))
    assert visible == {
        "Salt Roads",
        "The Quiet Key",
        "Harbour Lights (audiobook)",
        "Tide Tables: A Study",
    }
    northern = Work.objects.get(title="Northern Crossing")
    assert works_not_licensable(work_ids=[northern.pk], uses=["ai-train"]) == {
        northern.pk: ["Northern Crossing: split sheet awaiting confirmation from Ana Rivera"]
    }
