"""Builders for catalogue tests, and the catalogue models the API exposes registered in
FACTORY_FOR_MODEL (each makes an object only the given organisation may see: its works have
no consent, so no licensee sees them either)."""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import factory
from django.db import transaction
from django.utils import timezone

from accounts.models import Organisation
from accounts.tenancy import Principal, principal_for_organisations
from catalog.models import Catalogue, Consent, LicenceTerms, RightsShare, Work, WorkImport
from tests.factories import FACTORY_FOR_MODEL, OrganisationFactory

_numbers = itertools.count(1)


def isbn13(n: int) -> str:
    """A valid ISBN-13 (prefix 979, check digit computed)."""
    body = f"979{n:09d}"
    total = sum(int(d) * (3 if i % 2 else 1) for i, d in enumerate(body))
    return body + str((10 - total % 10) % 10)


def acting_for(*organisations: Organisation) -> Principal:
    """The principal an API key of these organisations would be."""
    return principal_for_organisations(*(o.pk for o in organisations))


class CatalogueFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Catalogue

    owner = factory.SubFactory(OrganisationFactory)
    name = factory.Sequence(lambda n: f"Test catalogue {n}")


def creator(name: str | None = None, slug: str | None = None) -> Organisation:
    n = next(_numbers)
    return OrganisationFactory(
        name=name or f"Holder {n}", slug=slug or f"holder-{n}", kind=Organisation.Kind.CREATOR
    )


@transaction.atomic
def make_work(
    catalogue: Catalogue,
    *,
    title: str | None = None,
    shares: Sequence[tuple[Organisation, int]] | None = None,
    confirmed: bool = True,
    consent: dict[str, bool] | None = None,
    **fields: object,
) -> Work:
    """A work with a split sheet totalling 10,000 (the owner alone unless `shares`)."""
    n = next(_numbers)
    fields.setdefault("isbn13", isbn13(100_000 + n))
    work = Work.objects.create(
        catalogue=catalogue, title=title or f"Work {n}", kind=Work.Kind.BOOK, **fields
    )
    for holder, share_bp in shares or [(catalogue.owner, 10_000)]:
        RightsShare.objects.create(
            work=work,
            holder=holder,
            role=RightsShare.Role.PUBLISHER
            if holder.pk == catalogue.owner_id
            else RightsShare.Role.AUTHOR,
            share_bp=share_bp,
            confirmed_at=timezone.now() if confirmed or holder.pk == catalogue.owner_id else None,
        )
    for use, granted in (consent or {}).items():
        Consent.objects.create(work=work, use=use, granted=granted)
    return work


def default_terms(catalogue: Catalogue, **values: object) -> LicenceTerms:
    values.setdefault("currency", "USD")
    values.setdefault("upfront_fee_minor", 120_000)
    values.setdefault("territories", ["WORLD"])
    return LicenceTerms.objects.create(catalogue=catalogue, **values)


def _work_for(org: Organisation) -> Work:
    return make_work(CatalogueFactory(owner=org))


def _share_for(org: Organisation) -> RightsShare:
    return _work_for(org).rights_shares.get()


def _consent_for(org: Organisation) -> Consent:
    return Consent.objects.create(
        catalogue=CatalogueFactory(owner=org), use="ai-index", granted=False
    )


def _terms_for(org: Organisation) -> LicenceTerms:
    return default_terms(CatalogueFactory(owner=org))


def _import_for(org: Organisation) -> WorkImport:
    return WorkImport.objects.create(
        catalogue=CatalogueFactory(owner=org), file="imports/none.csv", format="csv"
    )


FACTORY_FOR_MODEL[Catalogue] = lambda org: CatalogueFactory(owner=org)
FACTORY_FOR_MODEL[Work] = _work_for
FACTORY_FOR_MODEL[RightsShare] = _share_for
FACTORY_FOR_MODEL[Consent] = _consent_for
FACTORY_FOR_MODEL[LicenceTerms] = _terms_for
FACTORY_FOR_MODEL[WorkImport] = _import_for
