"""factory_boy factories shared by every test. `FACTORY_FOR_MODEL` tells the tenancy walk how to
make an object belonging to a given organisation: every model an API endpoint exposes must be
registered there (the walk fails otherwise, so new endpoints are covered automatically)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import factory
from django.db import models

from accounts.models import ApiKey, AuditEvent, Membership, Organisation, User
from accounts.services import api_key_create, audit_event_record


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        skip_postgeneration_save = True

    email = factory.Sequence(lambda n: f"person{n}@example.test")
    full_name = factory.Faker("name")
    password = factory.django.Password("correct-horse-battery-staple")


class OrganisationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Organisation

    name = factory.Sequence(lambda n: f"Organisation {n}")
    slug = factory.Sequence(lambda n: f"organisation-{n}")
    kind = Organisation.Kind.CREATOR
    creator_category = factory.LazyAttribute(
        lambda o: Organisation.CreatorCategory.AUTHOR if o.kind == Organisation.Kind.CREATOR else ""
    )


class MembershipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Membership

    user = factory.SubFactory(UserFactory)
    organisation = factory.SubFactory(OrganisationFactory)
    role = Membership.Role.OWNER


def api_key_for(organisation: Organisation, role: str = ApiKey.Role.ADMIN) -> str:
    """A key of the organisation; admin unless said (the tests' machine clients act fully)."""
    return api_key_create(
        organisation=organisation, name="test", created_by=None, role=role
    ).plaintext


# model -> callable(organisation) returning an instance only that organisation may see.
# Each app's tests register theirs from tests/<app>/factories.py (tests/conftest.py imports them).
FACTORY_FOR_MODEL: dict[type[models.Model], Callable[[Organisation], Any]] = {
    Organisation: lambda org: org,
    Membership: lambda org: MembershipFactory(organisation=org),
    ApiKey: lambda org: api_key_create(organisation=org, name="other", created_by=None).api_key,
    AuditEvent: lambda org: audit_event_record(organisation_id=org.pk, action="api_key_created"),
}
