"""Builders for marketplace tests: licensable catalogues (works with confirmed split sheets,
opt-in consent and listed terms), offers made through the real services, and agreements.
Also registers the marketplace models exposed by the API in FACTORY_FOR_MODEL."""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.db import transaction
from django.utils import timezone

from accounts.models import Organisation
from accounts.tenancy import Principal, principal_for_organisations
from catalog.models import Catalogue, Consent, LicenceTerms, RightsShare, Work
from marketplace.models import Agreement, Notification, Offer
from marketplace.negotiation import offer_accept, offer_request
from tests.factories import FACTORY_FOR_MODEL, OrganisationFactory

_sequence = itertools.count(1)


def acting_for(organisation: Organisation) -> Principal:
    """A principal acting for one organisation, as its API key would."""
    return principal_for_organisations(organisation.pk)


def sha256_for(label: str) -> str:
    return hashlib.sha256(label.encode()).hexdigest()


def developer_org(name: str | None = None) -> Organisation:
    return OrganisationFactory(
        kind=Organisation.Kind.AI_DEVELOPER, name=name or f"Developer {next(_sequence)}"
    )


def creator_org(name: str | None = None) -> Organisation:
    return OrganisationFactory(
        kind=Organisation.Kind.CREATOR, name=name or f"Org {next(_sequence)}"
    )


@dataclass
class Shelf:
    catalogue: Catalogue
    works: list[Work]


@transaction.atomic
def work_in(
    catalogue: Catalogue,
    *,
    title: str | None = None,
    splits: Sequence[tuple[Organisation, int]] | None = None,
    content: str | None = None,
    isbn13: str = "",
) -> Work:
    """A work whose split sheet is complete and confirmed (the catalogue owner alone unless
    `splits` says otherwise); its content's SHA-256 is that of `content`."""
    n = next(_sequence)
    title = title or f"Work {n}"
    work = Work.objects.create(
        catalogue=catalogue,
        title=title,
        kind=Work.Kind.BOOK,
        content_sha256=sha256_for(content or f"content of {title} #{n}"),
        isbn13=isbn13,
    )
    for holder, share in splits or [(catalogue.owner, 10_000)]:
        RightsShare.objects.create(
            work=work,
            holder=holder,
            role=RightsShare.Role.PUBLISHER
            if holder == catalogue.owner
            else RightsShare.Role.AUTHOR,
            share_bp=share,
            confirmed_at=timezone.now(),
        )
    return work


def licensable_catalogue(
    owner: Organisation,
    *,
    works: int = 2,
    uses: Sequence[str] = ("ai-train",),
    fee_minor: int = 120_000,
    name: str | None = None,
    **terms: Any,
) -> Shelf:
    """A catalogue whose works all consent (catalogue default) to `uses`, with listed terms."""
    with transaction.atomic():
        catalogue = Catalogue.objects.create(
            owner=owner, name=name or f"Catalogue {next(_sequence)}"
        )
        for use in uses:
            Consent.objects.create(catalogue=catalogue, use=use, granted=True)
        LicenceTerms.objects.create(
            catalogue=catalogue,
            upfront_fee_minor=fee_minor,
            currency="USD",
            term_months=12,
            territories=["WORLD"],
            permitted_uses=list(uses),
            **terms,
        )
    return Shelf(catalogue, [work_in(catalogue) for _ in range(works)])


def withdraw_consent(work: Work, use: str = "ai-train") -> None:
    Consent.objects.update_or_create(work=work, use=use, defaults={"granted": False})


def requested_offer(
    licensee: Organisation,
    shelf: Shelf,
    *,
    uses: Sequence[str] = ("ai-train",),
    terms: dict[str, Any] | None = None,
    whole_catalogue: bool = True,
) -> Offer:
    return offer_request(
        principal=acting_for(licensee),
        licensee=licensee,
        uses=list(uses),
        catalogue_ids=[shelf.catalogue.pk] if whole_catalogue else [],
        work_ids=[] if whole_catalogue else [w.pk for w in shelf.works],
        terms=terms,
    )


def accepted_agreement(
    licensee: Organisation, shelf: Shelf, *, terms: dict[str, Any] | None = None
) -> Agreement:
    offer = requested_offer(licensee, shelf, terms=terms)
    return offer_accept(
        principal=acting_for(shelf.catalogue.owner), offer=offer, version=offer.latest_version
    )


def _offer_for(organisation: Organisation) -> Offer:
    """An offer only `organisation` (and a fresh counterparty) may see."""
    if organisation.kind == Organisation.Kind.AI_DEVELOPER:
        return requested_offer(organisation, licensable_catalogue(creator_org()))
    return requested_offer(developer_org(), licensable_catalogue(organisation))


def _agreement_for(organisation: Organisation) -> Agreement:
    offer = _offer_for(organisation)
    return offer_accept(
        principal=acting_for(offer.licensor), offer=offer, version=offer.latest_version
    )


def _notification_for(organisation: Organisation) -> Notification:
    return Notification.objects.create(
        organisation=organisation,
        kind=Notification.Kind.YOUR_TURN,
        title="An offer awaits your answer",
        created_at=timezone.now() - timedelta(minutes=1),
    )


FACTORY_FOR_MODEL[Offer] = _offer_for
FACTORY_FOR_MODEL[Agreement] = _agreement_for
FACTORY_FOR_MODEL[Notification] = _notification_for
