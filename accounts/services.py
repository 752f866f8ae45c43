"""Writes for people, organisations and API keys."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import timedelta

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils.text import slugify

from accounts.models import ApiKey, AuditEvent, Invitation, Membership, Organisation, User
from accounts.roles import Act, organisation_act_require
from accounts.tenancy import Principal, principal_for_user
from core import clock

API_KEY_PREFIX = "trk_"


def _unique_slug(name: str) -> str:
    base = slugify(name)[:60] or "organisation"
    slug, n = base, 1
    while Organisation.objects.filter(slug=slug).exists():
        n += 1
        slug = f"{base}-{n}"
    return slug


@transaction.atomic
def organisation_create(
    *,
    name: str,
    kind: str,
    owner: User,
    creator_category: str = "",
    country: str = "GB",
    default_currency: str = "USD",
) -> Organisation:
    if kind == Organisation.Kind.CREATOR and not creator_category:
        creator_category = Organisation.CreatorCategory.ARTIST
    if kind != Organisation.Kind.CREATOR:
        creator_category = ""
    organisation = Organisation.objects.create(
        name=name,
        slug=_unique_slug(name),
        kind=kind,
        creator_category=creator_category,
        country=country.upper(),
        default_currency=default_currency.upper(),
    )
    Membership.objects.create(user=owner, organisation=organisation, role=Membership.Role.OWNER)
    return organisation


@transaction.atomic
def user_signup(
    *,
    email: str,
    password: str,
    full_name: str,
    organisation_name: str,
    organisation_kind: str,
    creator_category: str = "",
) -> User:
    """A person signs up with the organisation they act for and becomes its owner."""
    user = User.objects.create_user(email=email, password=password, full_name=full_name)
    organisation_create(
        name=organisation_name,
        kind=organisation_kind,
        owner=user,
        creator_category=creator_category,
    )
    return user


INVITATION_LIFETIME = timedelta(days=14)


@dataclass(frozen=True)
class IssuedInvitation:
    invitation: Invitation
    token: str  # goes in the emailed link, never stored


def invitation_create(
    *, organisation: Organisation, email: str, role: str, invited_by: User | None
) -> IssuedInvitation:
    """Invite a person into ``organisation`` with ``role``. The inviter must be an owner or an
    admin there, and only an owner may make another owner (``invited_by`` None: the system)."""
    if role not in Membership.Role.values:
        raise ValidationError({"role": f"A role is one of {', '.join(Membership.Role.values)}."})
    if invited_by is not None:
        inviter = principal_for_user(invited_by)
        organisation_act_require(
            principal=inviter, organisation_id=organisation.pk, act=Act.MEMBERS_AND_KEYS
        )
        if role == Membership.Role.OWNER and organisation.pk not in inviter.owner_organisation_ids:
            raise PermissionDenied("Only an owner may make another owner.")
    token = secrets.token_urlsafe(24)
    invitation = Invitation.objects.create(
        organisation=organisation,
        email=email.lower(),
        role=role,
        token_hash=_hash_secret(token),
        invited_by=invited_by,
        expires_at=clock.now() + INVITATION_LIFETIME,
    )
    audit_event_record(
        organisation_id=organisation.pk,
        action=AuditEvent.Action.MEMBER_INVITED,
        user=invited_by,
        detail={"email": invitation.email, "role": role},
    )
    return IssuedInvitation(invitation=invitation, token=token)


def invitation_for_token(*, token: str) -> Invitation | None:
    """The open, unexpired invitation for this token, or None."""
    return (
        Invitation.objects.select_related("organisation")
        .filter(
            token_hash=_hash_secret(token), accepted_at__isnull=True, expires_at__gt=clock.now()
        )
        .first()
    )


@transaction.atomic
def user_signup_invited(*, invitation: Invitation, password: str, full_name: str) -> User:
    """A person accepts an invitation: the account joins the inviting organisation."""
    invitation = Invitation.objects.select_for_update().get(pk=invitation.pk)
    if invitation.accepted_at is not None or invitation.expires_at <= clock.now():
        raise ValueError("This invitation has already been used or has expired.")
    user = User.objects.create_user(email=invitation.email, password=password, full_name=full_name)
    Membership.objects.create(user=user, organisation=invitation.organisation, role=invitation.role)
    invitation.accepted_at = clock.now()
    invitation.save(update_fields=["accepted_at"])
    return user


def membership_add(*, organisation: Organisation, user: User, role: str) -> Membership:
    membership, _ = Membership.objects.update_or_create(
        organisation=organisation, user=user, defaults={"role": role}
    )
    return membership


def _hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


@dataclass(frozen=True)
class IssuedApiKey:
    api_key: ApiKey
    plaintext: str  # shown to the caller once, never stored


def api_key_create(
    *,
    organisation: Organisation,
    name: str,
    created_by: User | None,
    role: str = ApiKey.Role.MEMBER,
) -> IssuedApiKey:
    """A new key acting for ``organisation`` in ``role`` (``accounts.roles``: an admin key may
    accept offers and change consent, prices and payout settings; a viewer key only reads)."""
    if role not in ApiKey.Role.values:
        raise ValidationError({"role": f"A key's role is one of {', '.join(ApiKey.Role.values)}."})
    prefix = secrets.token_hex(4)
    secret = secrets.token_urlsafe(32).replace("-", "A").replace("_", "B")
    api_key = ApiKey.objects.create(
        organisation=organisation,
        name=name,
        role=role,
        prefix=prefix,
        secret_hash=_hash_secret(secret),
        created_by=created_by,
    )
    audit_event_record(
        organisation_id=organisation.pk,
        action=AuditEvent.Action.API_KEY_CREATED,
        user=created_by,
        detail={"key": f"trk_{prefix}_…", "name": name, "role": role},
    )
    return IssuedApiKey(api_key=api_key, plaintext=f"{API_KEY_PREFIX}{prefix}_{secret}")


def api_key_revoke(*, api_key: ApiKey, actor: User | None = None) -> ApiKey:
    if api_key.revoked_at is None:
        api_key.revoked_at = clock.now()
        api_key.save(update_fields=["revoked_at"])
        audit_event_record(
            organisation_id=api_key.organisation_id,
            action=AuditEvent.Action.API_KEY_REVOKED,
            user=actor,
            detail={"key": f"trk_{api_key.prefix}_…", "name": api_key.name},
        )
    return api_key


def api_key_authenticate(*, plaintext: str) -> ApiKey | None:
    """The active key for this plaintext, or None. Comparison is constant-time."""
    if not plaintext.startswith(API_KEY_PREFIX):
        return None
    prefix, _, secret = plaintext[len(API_KEY_PREFIX) :].partition("_")
    if not prefix or not secret:
        return None
    api_key = (
        ApiKey.objects.select_related("organisation")
        .filter(prefix=prefix, revoked_at__isnull=True)
        .first()
    )
    if api_key is None or not secrets.compare_digest(api_key.secret_hash, _hash_secret(secret)):
        return None
    now = clock.now()
    # One write a minute at most: last-used is for humans, not an audit trail.
    if api_key.last_used_at is None or (now - api_key.last_used_at).total_seconds() > 60:
        ApiKey.objects.filter(pk=api_key.pk).update(last_used_at=now)
        api_key.last_used_at = now
    return api_key


# --- The audit log ---------------------------------------------------------------------------


def audit_event_record(
    *,
    organisation_id: int,
    action: str,
    user: User | None = None,
    api_key: ApiKey | None = None,
    detail: dict[str, object] | None = None,
) -> AuditEvent:
    """Keep a security-relevant act for the organisation's owners and admins (append-only)."""
    return AuditEvent.objects.create(
        organisation_id=organisation_id,
        action=action,
        actor_user=user if user is not None and user.is_authenticated else None,
        actor_api_key=api_key,
        detail=detail or {},
    )


def audit_event_record_for(
    *, principal: Principal, organisation_id: int, action: str, detail: dict[str, object]
) -> AuditEvent:
    return audit_event_record(
        organisation_id=organisation_id,
        action=action,
        user=principal.user,
        api_key=principal.api_key,
        detail=detail,
    )
