"""The marketplace's part of the demo (called by frontend.demo.seed_demo after the catalogue):
Northwind AI and Harbour Press negotiate a licence over Harbour's catalogue (request, counter,
counter, accept) whose fee is paid through the Stripe emulator when it runs, and Northwind has
a second request awaiting Harbour's answer. Idempotent: each negotiation is found by its
opening message before it is made."""

from __future__ import annotations

import structlog
from django.conf import settings

from accounts.models import Organisation
from accounts.tenancy import Principal, principal_for_organisations
from catalog.models import AiUse, Catalogue
from catalog.selectors import licensable_works
from marketplace.checkout import checkout_attempt_start, checkout_session_settle
from marketplace.errors import MarketplaceError
from marketplace.models import Agreement, Offer, OfferVersion
from marketplace.negotiation import offer_accept, offer_counter, offer_request
from payments import gateway

log = structlog.get_logger(__name__)

DEMO_SEED_CARD = "4000000000000077"
"""The card the demo's seeded payments are made with: Stripe's test card whose funds skip
pending (the seeded history happened in the past; a card paid now stays pending ~2 days)."""

ACCEPTED_OPENING = "We would like to train our 2027 foundation model on your catalogue."
OPEN_OPENING = "Could we license these works for our assistant as well, for two years?"


def _acting_for(organisation: Organisation) -> Principal:
    return principal_for_organisations(organisation.pk)


def _opened_with(licensee: Organisation, message: str) -> Offer | None:
    version = (
        OfferVersion.objects.filter(offer__licensee=licensee, number=1, message=message)
        .select_related("offer")
        .first()
    )
    return version.offer if version else None


def _catalogue_for(owner: Organisation, use: str) -> Catalogue | None:
    works = licensable_works(uses=[use]).filter(catalogue__owner=owner)
    return Catalogue.objects.filter(pk__in=works.values("catalogue_id")).order_by("name").first()


def seed_marketplace(*, harbour: Organisation, northwind: Organisation) -> None:
    catalogue = _catalogue_for(harbour, AiUse.AI_TRAIN)
    if catalogue is None:
        log.warning("demo_marketplace_skipped", reason="Harbour Press lists nothing for ai-train")
        return
    licensee, licensor = _acting_for(northwind), _acting_for(harbour)
    if _opened_with(northwind, ACCEPTED_OPENING) is None:
        offer = offer_request(
            principal=licensee,
            licensee=northwind,
            uses=[AiUse.AI_TRAIN],
            catalogue_ids=[catalogue.pk],
            terms={"upfront_fee_minor": 90_000, "term_months": 12},
            message=ACCEPTED_OPENING,
        )
        offer_counter(
            principal=licensor,
            offer=offer,
            version=1,
            terms={"upfront_fee_minor": 150_000, "rate_tokens_trained_minor": "0.3"},
            message="Our floor is $1,500, plus 0.3¢ per 1,000 tokens trained.",
        )
        offer_counter(
            principal=licensee,
            offer=offer,
            version=2,
            terms={"upfront_fee_minor": 120_000},
            message="We accept the usage rate; can we meet at $1,200 upfront?",
        )
        offer_accept(principal=licensor, offer=offer, version=3)

    if _opened_with(northwind, OPEN_OPENING) is None:
        # Retrieval if Harbour consents to it, else whatever else it lists.
        for use in (AiUse.AI_INPUT, AiUse.AI_FINETUNE, AiUse.AI_TRAIN):
            listed = _catalogue_for(harbour, use)
            if listed is not None:
                offer_request(
                    principal=licensee,
                    licensee=northwind,
                    uses=[use],
                    catalogue_ids=[listed.pk],
                    terms={"upfront_fee_minor": 40_000, "term_months": 24},
                    message=OPEN_OPENING,
                )
                break


def seed_marketplace_payment(*, northwind: Organisation) -> None:
    """Pay the accepted agreement's fee through the emulator, as Northwind would on Stripe's
    page, then settle it as the webhook does. Without the emulator it stays awaiting payment."""
    offer = _opened_with(northwind, ACCEPTED_OPENING)
    agreement = Agreement.objects.filter(offer=offer).first() if offer else None
    if agreement is None or agreement.status != Agreement.Status.AWAITING_PAYMENT:
        return
    if not settings.STRIPE_API_BASE:
        return  # Stripe itself: a person pays on the real page
    from stripe_emulator.control import ControlError, EmulatorControl

    control = EmulatorControl(settings.STRIPE_API_BASE)
    try:
        control.config()
    except (ControlError, OSError):
        log.warning("demo_payment_skipped", reason="Stripe emulator not running")
        return
    try:
        attempt = checkout_attempt_start(
            principal=_acting_for(northwind),
            agreement=agreement,
            success_url=f"{settings.SITE_URL}/marketplace/agreements/{agreement.pk}/",
            cancel_url=f"{settings.SITE_URL}/marketplace/agreements/{agreement.pk}/",
            save_payment_method=True,
        )
        assert attempt.stripe_session_id
        # Seeded history is paid with Stripe's test card whose funds are available at
        # once, so the seeded books reconcile without "funds still pending" timing notes.
        control.complete_checkout(attempt.stripe_session_id, card=DEMO_SEED_CARD)
        checkout_session_settle(session_id=attempt.stripe_session_id)
    except (MarketplaceError, gateway.GatewayError, ControlError, OSError) as error:
        log.warning("demo_payment_skipped", reason=str(error))
