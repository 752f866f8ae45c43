"""Reads for people and organisations."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet

from accounts.models import ApiKey, AuditEvent, Membership, Organisation
from accounts.roles import Act, organisation_act_allowed
from accounts.tenancy import Principal, principal_for_user


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


def platform_finance_check(*, principal: Principal, api_keys: bool = False) -> bool:
    """The one answer to "is this platform finance staff?": a finance member or owner of the
    platform organisation. The books are worked by named people, so an API key counts only
    where ``api_keys`` says so (read-only listings such as statements and runs)."""
    if principal.api_key is not None:
        ids = principal.organisation_ids if api_keys else frozenset()
    elif principal.user is not None:
        ids = principal.finance_organisation_ids | principal.owner_organisation_ids
    else:
        return False
    return (
        bool(ids)
        and Organisation.objects.filter(id__in=ids, kind=Organisation.Kind.PLATFORM).exists()
    )


def platform_finance_user_check(*, user: Any) -> bool:
    return platform_finance_check(principal=principal_for_user(user))


def platform_finance_require(*, user: Any, action: str = "do this") -> None:
    """Raise PermissionDenied unless ``user`` is platform finance staff."""
    from django.core.exceptions import PermissionDenied

    if not platform_finance_user_check(user=user):
        raise PermissionDenied(f"Only the platform organisation's finance staff may {action}.")


def audit_event_list(*, principal: Principal) -> QuerySet[AuditEvent]:
    """The audit log of the organisations where the caller is an owner or an admin (others see
    none: the log names who did what)."""
    managed = [
        org
        for org in principal.organisation_ids
        if organisation_act_allowed(
            principal=principal, organisation_id=org, act=Act.MEMBERS_AND_KEYS
        )
    ]
    return AuditEvent.objects.filter(organisation_id__in=managed).select_related(
        "actor_user", "actor_api_key", "organisation"
    )
