"""The demo negotiation (seeded after the demo catalogue): idempotent, active when the emulator
takes the payment, awaiting payment (and no failure) without it."""

from __future__ import annotations

import pytest

from frontend.demo import seed_demo
from marketplace.demo import ACCEPTED_OPENING, OPEN_OPENING
from marketplace.models import Agreement, CheckoutAttempt, Offer, OfferVersion

pytestmark = pytest.mark.django_db


def _seed(capture) -> None:
    with capture(execute=True):
        seed_demo()


def _negotiations():
    return (
        sorted(OfferVersion.objects.filter(number=1).values_list("message", "offer__status")),
        OfferVersion.objects.count(),
        list(Agreement.objects.filter(offer__isnull=False).values_list("status", flat=True)),
        CheckoutAttempt.objects.count(),
    )


def test_without_the_emulator_the_agreement_awaits_payment_and_reseeding_changes_nothing(
    django_capture_on_commit_callbacks,
):
    _seed(django_capture_on_commit_callbacks)
    first = _negotiations()
    assert first == (
        sorted([(ACCEPTED_OPENING, "accepted"), (OPEN_OPENING, "awaiting_licensor")]),
        4,
        ["awaiting_payment"],
        0,
    )
    _seed(django_capture_on_commit_callbacks)
    assert _negotiations() == first


def test_with_the_emulator_the_fee_is_paid_and_the_agreement_is_active(
    emulated_stripe, django_capture_on_commit_callbacks
):
    _seed(django_capture_on_commit_callbacks)
    agreement = Agreement.objects.get(offer__isnull=False)
    assert agreement.status == Agreement.Status.ACTIVE
    assert agreement.upfront_fee_minor == 120_000
    assert {w.title for w in agreement.works.all()} == {"Salt Roads", "The Quiet Key"}
    assert agreement.certificate.manifest
    _seed(django_capture_on_commit_callbacks)
    assert CheckoutAttempt.objects.filter(status="paid").count() == 1
    assert Offer.objects.count() == 2
