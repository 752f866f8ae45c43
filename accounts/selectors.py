"""Reads for people and organisations."""

from __future__ import annotations

from django.db.models import QuerySet

from accounts.models import ApiKey, Membership, Organisation
from accounts.tenancy import Principal


def organisation_list(*, principal: Principal) -> QuerySet[Organisation]:
    return Organisation.objects.visible_to(principal).order_by("name")


def api_key_list(*, principal: Principal) -> QuerySet[ApiKey]:
    return ApiKey.objects.visible_to(principal).select_related("organisation")


def membership_list(*, principal: Principal) -> QuerySet[Membership]:
    return Membership.objects.visible_to(principal).select_related("user", "organisation")


def persona_for(*, principal: Principal) -> str:
    """Which of the three personas' navigation a person sees: finance, developer or creator."""
    if principal.finance_organisation_ids:
        return "finance"
    kinds = set(
        Organisation.objects.filter(id__in=principal.organisation_ids).values_list(
            "kind", flat=True
        )
    )
    if Organisation.Kind.PLATFORM in kinds:
        return "finance"
    if Organisation.Kind.AI_DEVELOPER in kinds and Organisation.Kind.CREATOR not in kinds:
        return "developer"
    return "creator" if kinds else "none"


def primary_organisation(*, principal: Principal, kind: str | None = None) -> Organisation | None:
    """The organisation a person acts for by default (the first, by name, of the given kind)."""
    qs = Organisation.objects.filter(id__in=principal.organisation_ids)
    if kind:
        qs = qs.filter(kind=kind)
    return qs.order_by("name").first()
