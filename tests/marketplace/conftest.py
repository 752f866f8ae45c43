"""A small marketplace for each test: Harbour Press (publisher) lists a catalogue whose works
consent to ai-train; Northwind AI (developer) licenses it. Both have people and API keys."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from accounts.models import Organisation
from tests.conftest import Tenant
from tests.marketplace.factories import Shelf, creator_org, licensable_catalogue, work_in


@dataclass
class World:
    harbour: Tenant
    northwind: Tenant
    shelf: Shelf
    ana: Organisation


@pytest.fixture
def world(tenant_factory) -> World:
    """The worked example's catalogue: W1 "Salt Roads" (Ana 70 %, Harbour 30 %) and W2 "The
    Quiet Key" (Harbour alone), listed at $1,200.00 for the catalogue, ai-train only."""
    harbour = tenant_factory(Organisation.Kind.CREATOR, "Harbour Press")
    northwind = tenant_factory(Organisation.Kind.AI_DEVELOPER, "Northwind AI")
    ana = creator_org("Ana Rivera")
    shelf = licensable_catalogue(harbour.organisation, works=0, name="Harbour Classics")
    shelf.works = [
        work_in(
            shelf.catalogue,
            title="Salt Roads",
            splits=[(ana, 7_000), (harbour.organisation, 3_000)],
            content="salt roads text",
            isbn13="9780000000019",
        ),
        work_in(shelf.catalogue, title="The Quiet Key", content="the quiet key text"),
    ]
    return World(harbour=harbour, northwind=northwind, shelf=shelf, ana=ana)
