"""Two people clicking at once, in two real database connections: one acceptance wins."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection

from marketplace.errors import ExclusivityConflict, OfferClosed
from marketplace.models import Agreement, LicenceClaim, Offer
from marketplace.negotiation import offer_accept
from tests.marketplace.factories import acting_for, developer_org, requested_offer

pytestmark = pytest.mark.django_db(transaction=True)


def _race(*steps: Callable[[], Any]) -> list[Any]:
    """Run the steps in threads released together; each result or the exception raised."""
    start = threading.Barrier(len(steps))
    results: list[Any] = [None] * len(steps)

    def run(index: int, step: Callable[[], Any]) -> None:
        try:
            start.wait(timeout=10)
            results[index] = step()
        except Exception as error:  # the loser's refusal is the point of the test
            results[index] = error
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i, step)) for i, step in enumerate(steps)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    return results


def test_two_concurrent_accepts_of_the_same_version_make_exactly_one_agreement(world):
    offer = requested_offer(world.northwind.organisation, world.shelf)
    harbour = acting_for(world.harbour.organisation)

    results = _race(
        lambda: offer_accept(principal=harbour, offer=offer, version=1),
        lambda: offer_accept(principal=harbour, offer=offer, version=1),
    )

    winners = [r for r in results if isinstance(r, Agreement)]
    losers = [r for r in results if isinstance(r, OfferClosed)]
    assert (len(winners), len(losers)) == (1, 1), results
    assert losers[0].current["agreement"] == winners[0].pk
    assert Agreement.objects.count() == 1
    assert Offer.objects.get().status == Offer.Status.ACCEPTED


def test_two_exclusive_licences_of_the_same_works_accepted_at_once_cannot_both_stand(world):
    harbour = acting_for(world.harbour.organisation)
    first = requested_offer(world.northwind.organisation, world.shelf, terms={"exclusive": True})
    second = requested_offer(developer_org("Rival AI"), world.shelf, terms={"exclusive": True})

    results = _race(
        lambda: offer_accept(principal=harbour, offer=first, version=1),
        lambda: offer_accept(principal=harbour, offer=second, version=1),
    )

    assert sorted(type(r).__name__ for r in results) == ["Agreement", "ExclusivityConflict"]
    refused = next(r for r in results if isinstance(r, ExclusivityConflict))
    assert {e["work"] for e in refused.errors} == {w.pk for w in world.shelf.works}
    assert Agreement.objects.count() == 1
    assert LicenceClaim.objects.values("agreement").distinct().count() == 1
    assert sorted(Offer.objects.values_list("status", flat=True)) == [
        "accepted",
        "awaiting_licensor",
    ]
