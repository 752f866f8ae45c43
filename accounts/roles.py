"""Who may do what in an organisation: the one rule, its matrix, and the check.

People act through their membership's role, machines through their API key's role (chosen
when the key is created). Binding acts (an agreement, consent, prices, payout settings, who
belongs and which keys exist) need an owner or an admin; a viewer only reads. The README's
role table is ``role_matrix_markdown()`` (a test keeps the two equal)."""

from __future__ import annotations

from enum import StrEnum

from django.core.exceptions import PermissionDenied

from accounts.models import ApiKey, Membership
from accounts.tenancy import Principal

Role = Membership.Role


class Act(StrEnum):
    READ = "read what the organisation may see"
    WRITE = "list works, upload usage reports, request and counter offers"
    ACCEPT_OFFER = "accept an offer (a binding agreement)"
    CONSENT_AND_PRICES = "change consent or listed prices and terms"
    PAYOUT_SETTINGS = "payout settings: onboarding, threshold, pay now"
    MEMBERS_AND_KEYS = "invite members, create and revoke API keys"


ROLE_MATRIX: dict[Act, frozenset[str]] = {
    Act.READ: frozenset({Role.OWNER, Role.ADMIN, Role.MEMBER, Role.VIEWER, Role.FINANCE}),
    Act.WRITE: frozenset({Role.OWNER, Role.ADMIN, Role.MEMBER, Role.FINANCE}),
    Act.ACCEPT_OFFER: frozenset({Role.OWNER, Role.ADMIN}),
    Act.CONSENT_AND_PRICES: frozenset({Role.OWNER, Role.ADMIN}),
    Act.PAYOUT_SETTINGS: frozenset({Role.OWNER, Role.ADMIN, Role.FINANCE}),
    Act.MEMBERS_AND_KEYS: frozenset({Role.OWNER, Role.ADMIN}),
}
"""Act → the membership roles that may do it. An API key of role admin, member or viewer may
do what a membership of that role may (it is never an owner)."""

ROLE_ORDER = [Role.OWNER, Role.ADMIN, Role.MEMBER, Role.VIEWER, Role.FINANCE]


def organisation_roles_of(*, principal: Principal, organisation_id: int) -> frozenset[str]:
    """The roles the caller acts in for this organisation (none if it is not the caller's)."""
    if organisation_id not in principal.organisation_ids:
        return frozenset()
    if principal.api_key is not None:
        return frozenset({principal.api_key.role})
    return principal.roles_by_organisation.get(organisation_id, frozenset())


def organisation_act_allowed(*, principal: Principal, organisation_id: int, act: Act) -> bool:
    return bool(
        organisation_roles_of(principal=principal, organisation_id=organisation_id)
        & ROLE_MATRIX[act]
    )


def organisation_act_require(
    *, principal: Principal, organisation_id: int, act: Act, name: str = ""
) -> None:
    """PermissionDenied (403, with who may) unless the caller may ``act`` for the
    organisation."""
    if not organisation_act_allowed(principal=principal, organisation_id=organisation_id, act=act):
        allowed = " or ".join(
            Role(role).label.split(" (")[0].lower()
            for role in ROLE_ORDER
            if role in ROLE_MATRIX[act]
        )
        whose = f" of {name}" if name else " of the organisation"
        raise PermissionDenied(f"Only an {allowed}{whose} may {act.value}.")


def read_only(*, principal: Principal) -> bool:
    """The caller may only read: a viewer in every organisation it belongs to (or a viewer
    key)."""
    return bool(principal.organisation_ids) and not any(
        organisation_act_allowed(principal=principal, organisation_id=org, act=Act.WRITE)
        for org in principal.organisation_ids
    )


def role_matrix_markdown() -> str:
    """The README's table of who may do what."""
    header = "| act | " + " | ".join(Role(r).label.split(" (")[0].lower() for r in ROLE_ORDER)
    lines = [header + " |", "|---|" + "---|" * len(ROLE_ORDER)]
    for act in Act:
        cells = " | ".join("yes" if role in ROLE_MATRIX[act] else "—" for role in ROLE_ORDER)
        lines.append(f"| {act.value} | {cells} |")
    keys = ", ".join(ApiKey.Role.values)
    lines.append("")
    lines.append(f"An API key acts in its own role ({keys}), chosen when it is created.")
    return "\n".join(lines)
