"""Reads for the marketplace: offers and their threads, agreements, checkout, notifications.

Everything a party sees goes through `.visible_to(principal)`; another organisation's offer or
agreement is simply absent.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from django.db.models import Count, Q, QuerySet

from accounts.models import Organisation
from accounts.tenancy import Principal
from catalog.models import Catalogue, LicenceTerms, Work
from catalog.selectors import effective_terms, licensable_works
from marketplace.errors import NotAParty
from marketplace.models import (
    Agreement,
    AgreementSplit,
    AgreementWork,
    CheckoutAttempt,
    Notification,
    Offer,
    OfferEvent,
    OfferVersion,
    OfferVersionWork,
    Party,
)
from marketplace.signals import UpfrontFeePayment
from marketplace.terms import TermChange, terms_diff, terms_display_rows, terms_of


# --- Offers --------------------------------------------------------------------------------
def offer_list(
    *, principal: Principal, status: str | None = None, party: str | None = None
) -> QuerySet[Offer]:
    """Offers the caller is a party to; `party` narrows to those where it is the licensee
    (outgoing requests) or the licensor (incoming offers)."""
    offers = Offer.objects.visible_to(principal).select_related("licensee", "licensor", "agreement")
    if status:
        offers = offers.filter(status=status)
    if party == Party.LICENSEE:
        offers = offers.filter(licensee_id__in=principal.organisation_ids)
    elif party == Party.LICENSOR:
        offers = offers.filter(licensor_id__in=principal.organisation_ids)
    return offers


def offer_party(*, offer: Offer, principal: Principal) -> str:
    """Which side of the offer the caller acts for. A caller in both organisations must act
    through one of them (an API key), so nobody answers their own proposal."""
    sides = [
        side
        for side, organisation_id in (
            (Party.LICENSEE, offer.licensee_id),
            (Party.LICENSOR, offer.licensor_id),
        )
        if organisation_id in principal.organisation_ids
    ]
    if len(sides) != 1:
        raise NotAParty(
            "You act for both parties to this offer: use an API key of one of them."
            if sides
            else "You are not a party to this offer."
        )
    return sides[0]


def offer_current(*, offer: Offer) -> dict[str, Any]:
    """The offer as it now stands, for a 409 answer."""
    agreement_id = Agreement.objects.filter(offer=offer).values_list("id", flat=True).first()
    return {
        "id": offer.pk,
        "status": offer.status,
        "latest_version": offer.latest_version,
        "party_to_answer": offer.party_to_answer,
        "expires_at": offer.expires_at.isoformat(),
        "agreement": agreement_id,
    }


def offer_version_list(*, offer: Offer) -> QuerySet[OfferVersion]:
    return (
        OfferVersion.objects.filter(offer=offer)
        .select_related("proposed_by_user")
        .annotate(work_count=Count("works"))
        .order_by("number")
    )


def offer_latest_version(*, offer: Offer) -> OfferVersion:
    return OfferVersion.objects.get(offer=offer, number=offer.latest_version)


def offer_version_work_ids(*, version: OfferVersion) -> list[int]:
    return list(
        OfferVersionWork.objects.filter(version=version)
        .order_by("work_id")
        .values_list("work_id", flat=True)
    )


def offer_version_works(*, version: OfferVersion) -> QuerySet[Work]:
    return Work.objects.filter(
        id__in=OfferVersionWork.objects.filter(version=version).values("work_id")
    ).select_related("catalogue")


@dataclass
class ThreadStep:
    """One proposal in the thread, with what changed since the previous one."""

    version: OfferVersion
    terms: dict[str, Any]
    changes: list[TermChange]
    works_added: int
    works_removed: int
    events: list[OfferEvent] = field(default_factory=list)

    @property
    def rows(self) -> list[tuple[str, str]]:
        return terms_display_rows(self.terms)


def offer_thread(*, offer: Offer) -> list[ThreadStep]:
    """Every version, oldest first, each with its differences from the one before and the
    steps (answers) that referred to it."""
    events_by_version: dict[int, list[OfferEvent]] = {}
    for event in OfferEvent.objects.filter(offer=offer).select_related("actor_user"):
        events_by_version.setdefault(event.version_id, []).append(event)
    steps: list[ThreadStep] = []
    previous: OfferVersion | None = None
    for version in offer_version_list(offer=offer):
        terms = terms_of(version)
        added = removed = 0
        if previous is not None:
            added, removed = _selection_changes(previous, version)
        steps.append(
            ThreadStep(
                version=version,
                terms=terms,
                changes=terms_diff(steps[-1].terms, terms) if steps else [],
                works_added=added,
                works_removed=removed,
                events=events_by_version.get(version.pk, []),
            )
        )
        previous = version
    return steps


def _selection_changes(before: OfferVersion, after: OfferVersion) -> tuple[int, int]:
    old = OfferVersionWork.objects.filter(version=before).values("work_id")
    new = OfferVersionWork.objects.filter(version=after).values("work_id")
    added = OfferVersionWork.objects.filter(version=after).exclude(work_id__in=old).count()
    removed = OfferVersionWork.objects.filter(version=before).exclude(work_id__in=new).count()
    return added, removed


# --- What a licensee may ask for -----------------------------------------------------------
def licensable_catalogues(*, uses: Iterable[str] | None = None) -> QuerySet[Catalogue]:
    """Catalogues with at least one work licensable now (for the given uses), with how many."""
    works = licensable_works(uses=list(uses) if uses else None)
    return (
        Catalogue.objects.filter(id__in=works.values("catalogue_id"))
        .select_related("owner")
        .annotate(licensable_count=Count("works", filter=Q(works__in=works)))
        .order_by("owner__name", "name")
    )


def listed_terms_for(
    *, catalogues: Iterable[Catalogue], works: Iterable[Work]
) -> dict[str, Any] | None:
    """The listed terms a request starts from: the first requested catalogue's default terms,
    else the first work's effective terms (its override, else its catalogue's)."""
    for catalogue in catalogues:
        listed = LicenceTerms.objects.filter(catalogue=catalogue, work__isnull=True).first()
        if listed is not None:
            return terms_of(listed)
    for work in works:
        terms = effective_terms(work=work)
        if terms is not None:
            return terms_of(terms)
    return None


# --- Agreements ----------------------------------------------------------------------------
def agreement_list(
    *, principal: Principal, status: str | None = None, party: str | None = None
) -> QuerySet[Agreement]:
    agreements = Agreement.objects.visible_to(principal).select_related("licensee", "licensor")
    if status:
        agreements = agreements.filter(status=status)
    if party == Party.LICENSEE:
        agreements = agreements.filter(licensee_id__in=principal.organisation_ids)
    elif party == Party.LICENSOR:
        agreements = agreements.filter(licensor_id__in=principal.organisation_ids)
    return agreements


def agreement_works(*, agreement: Agreement) -> QuerySet[AgreementWork]:
    return AgreementWork.objects.filter(agreement=agreement).order_by("work_id")


def agreement_splits(*, agreement: Agreement) -> QuerySet[AgreementSplit]:
    return AgreementSplit.objects.filter(agreement=agreement).select_related("holder")


def agreement_work_count(*, agreement: Agreement) -> int:
    return AgreementWork.objects.filter(agreement=agreement).count()


def fee_total_minor(*, upfront_fee_minor: int, fee_basis: str, work_count: int) -> int:
    """What the licensee pays upfront: the fee once for the selection, or once per work."""
    if fee_basis == Agreement.FeeBasis.PER_WORK:
        return upfront_fee_minor * work_count
    return upfront_fee_minor


def agreement_fee_total_minor(*, agreement: Agreement) -> int:
    if agreement.upfront_fee_basis != Agreement.FeeBasis.PER_WORK:
        return agreement.upfront_fee_minor
    return agreement.upfront_fee_minor * agreement_work_count(agreement=agreement)


def agreement_checkout_attempts(*, agreement: Agreement) -> QuerySet[CheckoutAttempt]:
    return CheckoutAttempt.objects.filter(agreement=agreement).order_by("-created_at", "-id")


def agreement_fee_payment(*, agreement_id: int) -> UpfrontFeePayment | None:
    """The upfront fee payment as `agreement_activated` announced it (None: no fee paid), for a
    receiver catching up on agreements it missed."""
    agreement = Agreement.objects.get(pk=agreement_id)
    attempt = CheckoutAttempt.objects.filter(
        agreement_id=agreement_id, status=CheckoutAttempt.Status.PAID
    ).first()
    if attempt is None:
        return None
    return UpfrontFeePayment(
        amount_minor=attempt.amount_minor,
        currency=attempt.currency,
        recoupable_advance=agreement.advance_recoupable,
        stripe_payment_intent_id=attempt.payment_intent_id,
        stripe_charge_id=attempt.charge_id,
        stripe_customer_id=attempt.customer_id,
        checkout_attempt_id=attempt.pk,
    )


def agreement_is_licensee(*, agreement: Agreement, principal: Principal) -> bool:
    return agreement.licensee_id in principal.organisation_ids


# --- Notifications -------------------------------------------------------------------------
def notification_list(*, principal: Principal, unread: bool = False) -> QuerySet[Notification]:
    notifications = Notification.objects.visible_to(principal).select_related("organisation")
    return notifications.filter(read_at__isnull=True) if unread else notifications


def notification_unread_count(*, principal: Principal) -> int:
    return notification_list(principal=principal, unread=True).count()


def notification_recipients(*, organisation: Organisation) -> list[str]:
    """Who is emailed for an organisation: its owners and members (finance staff are not
    negotiating)."""
    return list(
        organisation.memberships.filter(role__in=["owner", "member"], user__is_active=True)
        .order_by("user__email")
        .values_list("user__email", flat=True)
    )
