"""Offers and their negotiation: request, counter, accept, reject, withdraw, expire.

The parties alternate. Whoever did not make the latest proposal answers it: counters it,
accepts it (naming its version number) or rejects it; whoever made it may withdraw it. Every
answer locks the offer row (select_for_update) and checks that the version it names is still
the latest, so two people clicking at once, or an answer to a proposal countered meanwhile,
cannot both win: the loser gets `StaleVersion` or `OfferClosed` with the offer as it stands.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.models import QuerySet
from django.urls import reverse

from accounts.models import Organisation
from accounts.roles import Act, organisation_act_require
from accounts.tenancy import Principal
from catalog.models import BASIS_POINTS_TOTAL, Catalogue, Work
from catalog.selectors import licensable_works, works_not_licensable
from core import clock
from marketplace.agreements import agreement_create_from_offer
from marketplace.errors import (
    InvalidSelection,
    NotAParty,
    NotYourTurn,
    OfferClosed,
    StaleVersion,
    WorksNotLicensable,
)
from marketplace.models import (
    Agreement,
    Notification,
    Offer,
    OfferEvent,
    OfferVersion,
    OfferVersionWork,
    Party,
)
from marketplace.notifications import notification_create
from marketplace.selectors import (
    listed_terms_for,
    offer_current,
    offer_latest_version,
    offer_party,
    offer_version_work_ids,
)
from marketplace.terms import DEFAULT_TERMS, terms_clean, terms_of

# Explicit work lists are for hand-picked selections; whole catalogues have no limit.
MAX_EXPLICIT_WORKS = 10_000
MAX_MESSAGE_LENGTH = 5_000


def _respond_by(value: datetime | None, *, now: datetime) -> datetime:
    if value is None:
        return now + timedelta(days=settings.OFFER_RESPONSE_DAYS)
    if value <= now:
        raise ValidationError({"respond_by": "The deadline must be in the future."})
    if value > now + timedelta(days=settings.OFFER_MAX_RESPONSE_DAYS):
        raise ValidationError(
            {"respond_by": f"At most {settings.OFFER_MAX_RESPONSE_DAYS} days from now."}
        )
    return value


def _message(value: str) -> str:
    if len(value) > MAX_MESSAGE_LENGTH:
        raise ValidationError({"message": f"At most {MAX_MESSAGE_LENGTH} characters."})
    return value.strip()


def _not_licensable_errors(work_ids: Sequence[int], uses: Sequence[str]) -> list[dict[str, Any]]:
    reasons = works_not_licensable(work_ids=list(work_ids), uses=list(uses))
    blocked = {work_id: why for work_id, why in reasons.items() if why}
    if not blocked:
        return []
    titles = dict(Work.objects.filter(id__in=blocked).values_list("id", "title"))
    return [
        {"work": work_id, "title": titles.get(work_id, ""), "reasons": blocked[work_id]}
        for work_id in sorted(blocked)
    ]


def _check_licensable(work_ids: Sequence[int], uses: Sequence[str]) -> None:
    errors = _not_licensable_errors(work_ids, uses)
    if errors:
        listed = ", ".join(f"{e['title'] or e['work']} ({e['work']})" for e in errors[:20])
        more = f" and {len(errors) - 20} more" if len(errors) > 20 else ""
        raise WorksNotLicensable(
            f"These works cannot be licensed for {', '.join(uses)} now: {listed}{more}. "
            "Remove them from the selection and propose again.",
            errors=errors,
        )


def _licensor_of(catalogues: Sequence[Catalogue], works: Sequence[Work]) -> Organisation:
    owners = {catalogue.owner for catalogue in catalogues} | {w.catalogue.owner for w in works}
    if not owners:
        raise InvalidSelection("Choose at least one catalogue or work.")
    if len(owners) > 1:
        raise InvalidSelection(
            "One offer covers the works of one catalogue owner: "
            f"this selection spans {', '.join(sorted(o.name for o in owners))}."
        )
    return owners.pop()


def _catalogues(catalogue_ids: Sequence[int], uses: Sequence[str]) -> list[Catalogue]:
    """Requested catalogues, each of which must have works licensable for the uses (a
    catalogue with none is, to a licensee, as good as unknown)."""
    ids = sorted(set(catalogue_ids))
    licensable = licensable_works(uses=list(uses)).filter(catalogue_id__in=ids)
    found = list(
        Catalogue.objects.filter(id__in=licensable.values("catalogue_id")).select_related("owner")
    )
    missing = sorted(set(ids) - {c.pk for c in found})
    if missing:
        raise InvalidSelection(
            f"No works licensable for {', '.join(uses)} in catalogues {missing}.",
            errors=[{"catalogue": catalogue_id} for catalogue_id in missing],
        )
    return found


def _works(work_ids: Sequence[int], *, visible: QuerySet[Work]) -> list[Work]:
    """The works named, each of which the caller can see (``visible``); one it cannot see is
    "unknown", exactly like one that does not exist, so an offer never reveals a hidden work's
    title, consent or co-holders."""
    ids = sorted(set(work_ids))
    if len(ids) > MAX_EXPLICIT_WORKS:
        raise InvalidSelection(
            f"At most {MAX_EXPLICIT_WORKS} works one by one; ask for whole catalogues instead."
        )
    works = list(visible.filter(id__in=ids).select_related("catalogue__owner"))
    missing = sorted(set(ids) - {w.pk for w in works})
    if missing:
        raise InvalidSelection(
            f"Unknown works: {missing[:20]}.", errors=[{"work": work_id} for work_id in missing]
        )
    return works


def _insert_version_works(version: OfferVersion, source: QuerySet[Any]) -> None:
    """Add the works of a query (selecting work ids as `id`) to a version, set-based."""
    # `sql` is the ORM's own compiled query; every value travels as a parameter.
    sql, params = source.values("id").query.sql_with_params()
    statement = (
        "INSERT INTO marketplace_offerversionwork (version_id, work_id) "  # noqa: S608
        f"SELECT %s, selected.id FROM ({sql}) AS selected "
        "ON CONFLICT (version_id, work_id) DO NOTHING"
    )
    with connection.cursor() as cursor:
        cursor.execute(statement, [version.pk, *params])


def _record(
    offer: Offer,
    version: OfferVersion,
    kind: str,
    *,
    principal: Principal | None,
    party: str,
    message: str = "",
) -> OfferEvent:
    return OfferEvent.objects.create(
        offer=offer,
        version=version,
        kind=kind,
        actor_party=party,
        actor_user=principal.user if principal else None,
        actor_api_key=principal.api_key if principal else None,
        message=message,
    )


def _offer_link(offer: Offer) -> str:
    return reverse("frontend:marketplace-offer", args=[offer.pk])


def _other(offer: Offer, party: str) -> Organisation:
    return offer.licensor if party == Party.LICENSEE else offer.licensee


def _notify_turn(offer: Offer, version: OfferVersion, *, party: str, message: str) -> None:
    proposer = offer.licensee if party == Party.LICENSEE else offer.licensor
    verb = "asks for a licence" if version.number == 1 else "made a counter-offer"
    notification_create(
        organisation=_other(offer, party),
        kind=Notification.Kind.YOUR_TURN,
        title=f"{proposer.name} {verb} (offer {offer.pk}, version {version.number})",
        body=(
            f"Please accept, counter or reject it by {offer.expires_at:%d %b %Y %H:%M} UTC."
            + (f"\n\nTheir message: {message}" if message else "")
        ),
        link=_offer_link(offer),
        offer=offer,
        email=True,
    )


@transaction.atomic
def offer_request(
    *,
    principal: Principal,
    licensee: Organisation,
    uses: Sequence[str],
    catalogue_ids: Sequence[int] = (),
    work_ids: Sequence[int] = (),
    terms: dict[str, Any] | None = None,
    message: str = "",
    respond_by: datetime | None = None,
    commission_bp: int | None = None,
) -> Offer:
    """A licensee asks for a licence over whole catalogues and/or individual works of one
    catalogue owner, for uses those works consent to. Terms left out are the listed terms.
    `commission_bp` is for platform tooling (a negotiated commission), not for the parties:
    left out, the platform default applies at acceptance."""
    if licensee.pk not in principal.organisation_ids:
        raise NotAParty("You do not act for this licensee.")
    if licensee.kind != Organisation.Kind.AI_DEVELOPER:
        raise NotAParty("Only an AI developer organisation can ask for a licence.")
    now = clock.now()
    requested_uses = terms_clean({"permitted_uses": list(uses)})["permitted_uses"]
    catalogues = _catalogues(catalogue_ids, requested_uses) if catalogue_ids else []
    works = _works(work_ids, visible=licensable_works()) if work_ids else []
    licensor = _licensor_of(catalogues, works)
    if licensor.pk == licensee.pk:
        raise InvalidSelection("An organisation cannot license its own works.")
    _check_licensable([w.pk for w in works], requested_uses)
    listed = listed_terms_for(catalogues=catalogues, works=works) or DEFAULT_TERMS
    clean = terms_clean({**(terms or {}), "permitted_uses": requested_uses}, base=listed)
    deadline = _respond_by(respond_by, now=now)
    message = _message(message)
    if commission_bp is not None and not 0 <= commission_bp <= BASIS_POINTS_TOTAL:
        raise ValidationError({"commission_bp": "Between 0 and 10,000 basis points."})

    offer = Offer.objects.create(
        licensee=licensee, licensor=licensor, latest_version=1, expires_at=deadline
    )
    offer.catalogues.set(catalogues)
    version = OfferVersion.objects.create(
        offer=offer,
        number=1,
        proposed_by=Party.LICENSEE,
        proposed_by_user=principal.user,
        commission_bp=commission_bp,
        message=message,
        respond_by=deadline,
        **clean,
    )
    if works:
        _insert_version_works(version, Work.objects.filter(id__in=[w.pk for w in works]))
    if catalogues:
        _insert_version_works(
            version,
            licensable_works(uses=requested_uses).filter(catalogue__in=catalogues),
        )
    _record(
        offer,
        version,
        OfferEvent.Kind.REQUESTED,
        principal=principal,
        party=Party.LICENSEE,
        message=message,
    )
    _notify_turn(offer, version, party=Party.LICENSEE, message=message)
    return offer


def _locked_open_offer(offer_id: int, *, version: int | None) -> Offer:
    """The offer, locked, still open and (when `version` is given) still at that version."""
    offer = (
        Offer.objects.select_for_update(of=("self",))
        .select_related("licensee", "licensor")
        .get(pk=offer_id)
    )
    if not offer.is_open:
        raise OfferClosed(
            f"This offer is {offer.get_status_display().lower()}.",
            current=offer_current(offer=offer),
        )
    if version is not None and version != offer.latest_version:
        raise StaleVersion(
            f"Version {version} is no longer the one awaiting an answer: "
            f"version {offer.latest_version} is.",
            current=offer_current(offer=offer),
        )
    if offer.expires_at <= clock.now():
        raise OfferClosed(
            f"This offer expired at {offer.expires_at:%d %b %Y %H:%M} UTC.",
            current=offer_current(offer=offer),
        )
    return offer


def _answering_party(offer: Offer, principal: Principal) -> str:
    party = offer_party(offer=offer, principal=principal)
    if party != offer.party_to_answer:
        raise NotYourTurn(
            f"You made version {offer.latest_version}; only the other party can answer it.",
            current=offer_current(offer=offer),
        )
    return party


@transaction.atomic
def offer_counter(
    *,
    principal: Principal,
    offer: Offer,
    version: int,
    terms: dict[str, Any] | None = None,
    work_ids: Sequence[int] | None = None,
    remove_work_ids: Sequence[int] = (),
    message: str = "",
    respond_by: datetime | None = None,
) -> OfferVersion:
    """Answer version `version` with a new proposal: the terms given change, the rest carry
    over. The selection carries over too, unless `work_ids` replaces it or `remove_work_ids`
    narrows it (e.g. to drop works whose consent was withdrawn)."""
    offer = _locked_open_offer(offer.pk, version=version)
    party = _answering_party(offer, principal)
    now = clock.now()
    previous = offer_latest_version(offer=offer)
    clean = terms_clean(terms or {}, base=terms_of(previous))
    deadline = _respond_by(respond_by, now=now)
    message = _message(message)
    if work_ids is not None:
        # Each side names what it can see: the licensor its own works, the licensee works
        # listed to licensees (licensable for some use).
        visible = (
            Work.objects.filter(catalogue__owner_id=offer.licensor_id)
            if party == Party.LICENSOR
            else licensable_works().filter(catalogue__owner_id=offer.licensor_id)
        )
        works = _works(work_ids, visible=visible)
        if any(w.catalogue.owner_id != offer.licensor_id for w in works) or not works:
            raise InvalidSelection(f"Every work must be one of {offer.licensor.name}'s.")
        selected = Work.objects.filter(id__in=[w.pk for w in works])
    else:
        selected = Work.objects.filter(
            id__in=OfferVersionWork.objects.filter(version=previous).values("work_id")
        )
    selected = selected.exclude(id__in=list(remove_work_ids))
    selection = list(selected.order_by("id").values_list("id", flat=True))
    if not selection:
        raise InvalidSelection("A proposal needs at least one work.")
    _check_licensable(selection, clean["permitted_uses"])

    number = offer.latest_version + 1
    proposal = OfferVersion.objects.create(
        offer=offer,
        number=number,
        proposed_by=party,
        proposed_by_user=principal.user,
        commission_bp=previous.commission_bp,
        message=message,
        respond_by=deadline,
        **clean,
    )
    _insert_version_works(proposal, selected)
    if party == Party.LICENSOR:
        offer.counter_by_licensor()
    else:
        offer.counter_by_licensee()
    offer.latest_version = number
    offer.expires_at = deadline
    offer.save(update_fields=["status", "latest_version", "expires_at", "updated_at"])
    _record(
        offer,
        proposal,
        OfferEvent.Kind.COUNTERED,
        principal=principal,
        party=party,
        message=message,
    )
    _notify_turn(offer, proposal, party=party, message=message)
    return proposal


@transaction.atomic
def offer_accept(*, principal: Principal, offer: Offer, version: int) -> Agreement:
    """Accept version `version`, which must still be the latest and not the caller's own. Its
    works must still consent to its uses; the agreement is created at once (and is active at
    once when there is no upfront fee to pay)."""
    offer = _locked_open_offer(offer.pk, version=version)
    party = _answering_party(offer, principal)
    accepting = offer.licensee if party == Party.LICENSEE else offer.licensor
    organisation_act_require(
        principal=principal, organisation_id=accepting.pk, act=Act.ACCEPT_OFFER, name=accepting.name
    )
    accepted = offer_latest_version(offer=offer)
    _check_licensable(offer_version_work_ids(version=accepted), accepted.permitted_uses)
    agreement = agreement_create_from_offer(offer=offer, version=accepted)
    offer.accept()
    offer.closed_at = clock.now()
    offer.save(update_fields=["status", "closed_at", "updated_at"])
    _record(offer, accepted, OfferEvent.Kind.ACCEPTED, principal=principal, party=party)
    notification_create(
        organisation=_other(offer, party),
        kind=Notification.Kind.OFFER_CLOSED,
        title=f"{(offer.licensee if party == Party.LICENSEE else offer.licensor).name} accepted "
        f"version {accepted.number} of offer {offer.pk}",
        link=reverse("frontend:marketplace-agreement", args=[agreement.pk]),
        offer=offer,
        agreement=agreement,
    )
    return agreement


@transaction.atomic
def offer_reject(*, principal: Principal, offer: Offer, version: int, message: str = "") -> Offer:
    """Turn down version `version` and end the negotiation."""
    offer = _locked_open_offer(offer.pk, version=version)
    party = _answering_party(offer, principal)
    message = _message(message)
    offer.reject()
    return _close(
        offer, OfferEvent.Kind.REJECTED, principal=principal, party=party, message=message
    )


@transaction.atomic
def offer_withdraw(
    *, principal: Principal, offer: Offer, version: int | None = None, message: str = ""
) -> Offer:
    """The party that made the latest proposal takes it back, ending the negotiation."""
    offer = _locked_open_offer(offer.pk, version=version)
    party = offer_party(offer=offer, principal=principal)
    if party == offer.party_to_answer:
        raise NotYourTurn(
            f"Version {offer.latest_version} is the other party's proposal: reject it instead.",
            current=offer_current(offer=offer),
        )
    message = _message(message)
    offer.withdraw()
    return _close(
        offer, OfferEvent.Kind.WITHDRAWN, principal=principal, party=party, message=message
    )


def _close(
    offer: Offer, kind: str, *, principal: Principal | None, party: str, message: str
) -> Offer:
    offer.closed_at = clock.now()
    offer.save(update_fields=["status", "closed_at", "updated_at"])
    latest = offer_latest_version(offer=offer)
    _record(offer, latest, kind, principal=principal, party=party, message=message)
    label = dict(OfferEvent.Kind.choices)[kind].lower()
    recipients = [offer.licensee, offer.licensor] if not party else [_other(offer, party)]
    for organisation in recipients:
        notification_create(
            organisation=organisation,
            kind=Notification.Kind.OFFER_CLOSED,
            title=f"Offer {offer.pk} was {label}",
            body=message,
            link=_offer_link(offer),
            offer=offer,
        )
    return offer


def offer_expire(*, offer_id: int, now: datetime | None = None) -> bool:
    """Expire an open offer whose deadline has passed. Returns whether it expired now."""
    now = now or clock.now()
    with transaction.atomic():
        offer = (
            Offer.objects.select_for_update(of=("self",))
            .select_related("licensee", "licensor")
            .filter(pk=offer_id)
            .first()
        )
        if offer is None or not offer.is_open or offer.expires_at > now:
            return False
        offer.expire()
        _close(offer, OfferEvent.Kind.EXPIRED, principal=None, party="", message="")
    return True


def offers_expire_due(*, now: datetime | None = None, limit: int = 1000) -> int:
    """Expire open offers past their deadline (the beat job); each in its own transaction."""
    now = now or clock.now()
    due = Offer.objects.filter(status__in=Offer.OPEN_STATUSES, expires_at__lte=now).values_list(
        "id", flat=True
    )[:limit]
    return sum(offer_expire(offer_id=offer_id, now=now) for offer_id in list(due))
