"""Tenancy: the first security rule.

Every query for a tenant's data goes through `TenantQuerySet.visible_to(principal)`. A model
declares, in `tenant_lookups`, the paths from its rows to the organisations allowed to see them
(several paths are OR-ed: an agreement is visible to its licensee and its licensor). Anything
outside the caller's organisations is simply absent, so detail views answer 404, never 403.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from django.db import models

if TYPE_CHECKING:
    from accounts.models import ApiKey, User

_M = TypeVar("_M", bound=models.Model)


@dataclass(frozen=True)
class Principal:
    """Who is calling: a signed-in person (through memberships) or an organisation's API key."""

    organisation_ids: frozenset[int]
    user: User | None = None
    api_key: ApiKey | None = None
    finance_organisation_ids: frozenset[int] = field(default_factory=frozenset)
    owner_organisation_ids: frozenset[int] = field(default_factory=frozenset)
    # Organisation id → the person's roles there (accounts.roles says what each may do).
    roles_by_organisation: dict[int, frozenset[str]] = field(
        default_factory=dict, hash=False, compare=False
    )

    @property
    def identity(self) -> str:
        """Stable key for per-caller records (idempotency, throttling)."""
        if self.api_key is not None:
            return f"org:{self.api_key.organisation_id}"
        return f"user:{self.user.pk if self.user else 'anonymous'}"


ANONYMOUS = Principal(organisation_ids=frozenset())


class TenantQuerySet(models.QuerySet[_M]):
    def visible_to(self, principal: Principal) -> TenantQuerySet[_M]:
        lookups: tuple[str, ...] = getattr(self.model, "tenant_lookups", ())
        if not lookups:
            raise TypeError(f"{self.model.__name__} declares no tenant_lookups")
        if not principal.organisation_ids:
            return self.none()
        condition = models.Q()
        for lookup in lookups:
            condition |= models.Q(**{f"{lookup}__in": principal.organisation_ids})
        return self.filter(condition).distinct() if len(lookups) > 1 else self.filter(condition)


def principal_for_user(user: Any, *, api_key: ApiKey | None = None) -> Principal:
    if api_key is not None:
        org_ids = frozenset({api_key.organisation_id})
        return Principal(organisation_ids=org_ids, api_key=api_key)
    if user is None or not user.is_authenticated:
        return ANONYMOUS
    rows = list(user.memberships.values_list("organisation_id", "role"))
    roles: dict[int, set[str]] = {}
    for org, role in rows:
        roles.setdefault(org, set()).add(role)
    return Principal(
        organisation_ids=frozenset(org for org, _ in rows),
        user=user,
        finance_organisation_ids=frozenset(org for org, role in rows if role == "finance"),
        owner_organisation_ids=frozenset(org for org, role in rows if role == "owner"),
        roles_by_organisation={org: frozenset(found) for org, found in roles.items()},
    )


def principal_for_organisations(*organisation_ids: int, role: str = "owner") -> Principal:
    """The system acting for these organisations in ``role`` (an import it runs on the
    uploader's behalf, the demo seed): no person, no key."""
    ids = frozenset(organisation_ids)
    return Principal(
        organisation_ids=ids,
        owner_organisation_ids=ids if role == "owner" else frozenset(),
        roles_by_organisation={org: frozenset({role}) for org in ids},
    )


def principal_for_request(request: Any) -> Principal:
    """The principal of a Django or DRF request (cached on the request)."""
    cached = getattr(request, "_trainright_principal", None)
    if cached is not None:
        return cached
    from accounts.models import ApiKey

    auth = getattr(request, "auth", None)
    principal = principal_for_user(
        getattr(request, "user", None), api_key=auth if isinstance(auth, ApiKey) else None
    )
    request._trainright_principal = principal
    return principal
