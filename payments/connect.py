"""Stripe Connect: how payees get a connected account and onboard, and what we know of it.

Each payee organisation (kind "creator": an artist, author, publisher, label or estate) gets
one Express connected account with the `transfers` capability. Express because Stripe then
hosts identity checks, bank details, tax forms and the payee's own dashboard, while the
platform keeps control of when money moves ("separate charges and transfers": licensees pay
the platform, the platform transfers each holder's share); only `transfers` because payees
never take card payments themselves.

Onboarding goes through Account Links: single use and expiring, so the refresh URL mints a
new one. The return redirect proves nothing (the payee may have left half-way): the status
comes only from Stripe, re-fetched whenever `account.updated` (or `capability.updated`)
arrives, whatever order events come in. The gateway refuses transfers to accounts whose
stored `transfers` capability is not active.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from accounts.models import Membership, Organisation
from accounts.roles import Act, organisation_act_allowed
from accounts.tenancy import Principal
from core import clock
from payments import gateway
from payments.events import stripe_event_handler
from payments.models import StripeConnectedAccount, StripeEvent

# Stripe's requirement ids, in words a payee understands. Unknown ids fall back to their
# last segment, humanised ("individual.first_name" -> "First name").
REQUIREMENT_LABELS = {
    "external_account": "A bank account for payouts",
    "tos_acceptance.date": "Accept Stripe's services agreement",
    "tos_acceptance.ip": "Accept Stripe's services agreement",
    "individual.verification.document": "A photo of an identity document",
    "individual.verification.additional_document": "A document proving your address",
    "individual.id_number": "Your national identity or tax number",
    "individual.ssn_last_4": "The last four digits of your Social Security number",
    "individual.dob.day": "Date of birth",
    "individual.dob.month": "Date of birth",
    "individual.dob.year": "Date of birth",
    "individual.address.line1": "Home address",
    "individual.address.city": "Home address",
    "individual.address.postal_code": "Home address",
    "individual.email": "Email address",
    "individual.phone": "Phone number",
    "business_profile.url": "A website or profile showing your work",
    "business_profile.mcc": "What kind of business you are",
    "business_type": "Whether you are an individual or a company",
    "company.tax_id": "Company tax id",
    "representative.verification.document": "Identity document of the company's representative",
}


def requirement_label(requirement: str) -> str:
    if requirement in REQUIREMENT_LABELS:
        return REQUIREMENT_LABELS[requirement]
    last = requirement.rsplit(".", 1)[-1].replace("_", " ").strip()
    return last[:1].upper() + last[1:] if last else requirement


# --- Reads -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class PayoutSetup:
    """What the "Get paid" page shows one payee organisation."""

    organisation: Organisation
    account: StripeConnectedAccount | None
    can_manage: bool  # accounts.roles.Act.PAYOUT_SETTINGS: owners, admins, finance members

    @property
    def state(self) -> str:
        return self.account.status if self.account else "not_started"

    @property
    def state_label(self) -> str:
        if self.account is None:
            return "Not set up yet"
        return StripeConnectedAccount.Status(self.account.status).label

    @property
    def missing(self) -> list[str]:
        """What Stripe still needs, in words, without repeats."""
        if self.account is None:
            return []
        due = [*self.account.requirements_past_due, *self.account.requirements_currently_due]
        return list(dict.fromkeys(requirement_label(r) for r in due))

    @property
    def ready(self) -> bool:
        return self.account is not None and self.account.can_receive_transfers


def payout_setup_for(*, principal: Principal, organisation_id: int | None = None) -> PayoutSetup:
    """The caller's payee organisation (the given one, or their first) and its account.
    Raises Organisation.DoesNotExist when the caller has no such payee organisation."""
    payees = Organisation.objects.visible_to(principal).filter(kind=Organisation.Kind.CREATOR)
    if organisation_id is not None:
        payees = payees.filter(pk=organisation_id)
    organisation = payees.order_by("name").first()
    if organisation is None:
        raise Organisation.DoesNotExist("No payee organisation for this person.")
    account = StripeConnectedAccount.objects.filter(organisation=organisation).first()
    return PayoutSetup(
        organisation=organisation,
        account=account,
        can_manage=organisation_act_allowed(
            principal=principal, organisation_id=organisation.pk, act=Act.PAYOUT_SETTINGS
        ),
    )


def connected_account_for(*, organisation: Organisation) -> StripeConnectedAccount | None:
    return StripeConnectedAccount.objects.filter(organisation=organisation).first()


# --- Writes ------------------------------------------------------------------------------------
def connected_account_ensure(*, organisation: Organisation) -> StripeConnectedAccount:
    """The organisation's connected account, created at Stripe on first use."""
    existing = connected_account_for(organisation=organisation)
    if existing is not None:
        return existing
    if not organisation.is_payee:
        raise ValidationError("Only payee organisations (creators and rights holders) get paid.")
    owner = (
        Membership.objects.filter(organisation=organisation, role=Membership.Role.OWNER)
        .select_related("user")
        .order_by("created_at")
        .first()
    )
    account = gateway.connected_account_create(
        country=organisation.country,
        email=owner.user.email if owner else None,
        business_name=organisation.name,
        metadata={"organisation_id": organisation.pk},
        idempotency_key=gateway.idempotency_key("connected-account", organisation.pk),
    )
    return _record_account(organisation=organisation, account=account.to_dict())


def _record_account(
    *, organisation: Organisation, account: dict[str, Any]
) -> StripeConnectedAccount:
    try:
        with transaction.atomic():
            row, created = StripeConnectedAccount.objects.get_or_create(
                organisation=organisation,
                defaults={"stripe_account_id": account["id"], "country": account["country"]},
            )
    except IntegrityError:  # created concurrently by an account.updated for the same account
        row, created = StripeConnectedAccount.objects.get(organisation=organisation), False
    if created:
        _apply_state(row, account)
        row.save()
    return row


def onboarding_link_create(*, organisation: Organisation, refresh_url: str, return_url: str) -> str:
    """A fresh single-use onboarding link for the organisation (creating its account first if
    needed). Each link is its own request, so its key is unique rather than derived."""
    account = connected_account_ensure(organisation=organisation)
    link = gateway.account_link_create(
        account_id=account.stripe_account_id,
        refresh_url=refresh_url,
        return_url=return_url,
        idempotency_key=gateway.idempotency_key(
            "account-link", account.stripe_account_id, uuid.uuid4().hex
        ),
    )
    return str(link.url)


def _status_of(account: dict[str, Any]) -> str:
    transfers = (account.get("capabilities") or {}).get("transfers") or ""
    requirements = account.get("requirements") or {}
    disabled = requirements.get("disabled_reason") or ""
    due = [*(requirements.get("currently_due") or []), *(requirements.get("past_due") or [])]
    if transfers == "active":
        return StripeConnectedAccount.Status.ENABLED
    if disabled.startswith(("rejected", "listed", "platform_paused", "under_review")):
        return StripeConnectedAccount.Status.RESTRICTED
    if account.get("details_submitted") and not due:
        return StripeConnectedAccount.Status.PENDING_VERIFICATION
    return StripeConnectedAccount.Status.ONBOARDING


def _apply_state(row: StripeConnectedAccount, account: dict[str, Any]) -> None:
    requirements = account.get("requirements") or {}
    row.status = _status_of(account)
    row.details_submitted = bool(account.get("details_submitted"))
    row.charges_enabled = bool(account.get("charges_enabled"))
    row.payouts_enabled = bool(account.get("payouts_enabled"))
    row.transfers_capability = (account.get("capabilities") or {}).get("transfers") or ""
    row.requirements_currently_due = list(requirements.get("currently_due") or [])
    row.requirements_past_due = list(requirements.get("past_due") or [])
    row.requirements_pending_verification = list(requirements.get("pending_verification") or [])
    row.disabled_reason = requirements.get("disabled_reason") or ""
    row.country = account.get("country") or row.country
    row.synced_at = clock.now()


def connected_account_sync(*, stripe_account_id: str) -> StripeConnectedAccount | None:
    """Store the account's current state, fetched from Stripe now.

    The row is locked while fetching, so two syncs racing each other (events in any order)
    finish in turn and the later one stores the later state. An account we have no row for
    yet (its account.updated overtook our own record of creating it) is recorded from its
    metadata; an account that is not ours is left alone."""
    with transaction.atomic():
        row = (
            StripeConnectedAccount.objects.select_for_update()
            .filter(stripe_account_id=stripe_account_id)
            .first()
        )
        account = gateway.connected_account_retrieve(account_id=stripe_account_id).to_dict()
        if row is None:
            organisation = _organisation_from_metadata(account)
            if organisation is None:
                return None
            row = _record_account(organisation=organisation, account=account)
            row = StripeConnectedAccount.objects.select_for_update().get(pk=row.pk)
        _apply_state(row, account)
        row.save()
    return row


def _organisation_from_metadata(account: dict[str, Any]) -> Organisation | None:
    raw = str((account.get("metadata") or {}).get("organisation_id") or "")
    if not raw.isdigit():
        return None
    return Organisation.objects.filter(pk=int(raw), kind=Organisation.Kind.CREATOR).first()


@stripe_event_handler("account.updated", "capability.updated")
def _account_changed(event: StripeEvent) -> None:
    obj = event.data_object
    account_id = event.account or (obj.get("account") if obj.get("object") == "capability" else "")
    connected_account_sync(stripe_account_id=account_id or obj["id"])
