"""Writes to the catalogue: catalogues, works and their split sheets, consent, the price list.

Every write runs inside `history_context(actor, ...)`, so the consent and split events that
PostgreSQL records (django-pghistory triggers) name who made the change, whether it came from
the web, an API key or a Celery task. Only the catalogue owner's organisation changes a work;
co-holders confirm their own lines of a split sheet.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pghistory
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files import File
from django.core.files.storage import default_storage
from django.db import IntegrityError, transaction

from accounts.models import AuditEvent, Organisation
from accounts.roles import Act, organisation_act_require
from accounts.services import audit_event_record_for
from accounts.tenancy import Principal
from catalog.identifiers import MATCHING_SCHEMES, SCHEME_LABELS
from catalog.models import (
    BASIS_POINTS_TOTAL,
    AiUse,
    Catalogue,
    Consent,
    LicenceTerms,
    RightsShare,
    Work,
)
from catalog.terms import (
    PRICING_FIELDS,
    WORLD,
    pricing_terms_clean,
    terms_consistency_check,
)
from catalog.work_fields import identifiers_clean, work_fields_clean
from core import clock

HASH_CHUNK_BYTES = 1024 * 1024


# --- Who acted ------------------------------------------------------------------------------


@contextmanager
def history_context(actor: Principal, *, via: str) -> Iterator[None]:
    """Names the actor in every history event written inside (web, API key, Celery alike)."""
    metadata: dict[str, Any] = {"via": via}
    if actor.user is not None:
        metadata["user"] = actor.user.pk
    if actor.api_key is not None:
        metadata["api_key"] = actor.api_key.pk
        metadata["organisation"] = actor.api_key.organisation_id
    with pghistory.context(**metadata):
        yield


def _via(actor: Principal) -> str:
    return "api key" if actor.api_key is not None else "web"


def _require_owner(actor: Principal, catalogue: Catalogue) -> None:
    if catalogue.owner_id not in actor.organisation_ids:
        raise PermissionDenied("Only the catalogue owner's organisation can change this.")


def _require_consent_and_prices(actor: Principal, catalogue: Catalogue) -> None:
    """Consent and listed terms bind the owner: its owners and admins only."""
    _require_owner(actor, catalogue)
    organisation_act_require(
        principal=actor,
        organisation_id=catalogue.owner_id,
        act=Act.CONSENT_AND_PRICES,
        name=catalogue.owner.name,
    )


# --- Catalogues ------------------------------------------------------------------------------


def catalogue_create(
    *, owner: Organisation, name: str, description: str = "", actor: Principal
) -> Catalogue:
    if owner.pk not in actor.organisation_ids:
        raise PermissionDenied("You can only create catalogues for your own organisation.")
    if owner.kind != Organisation.Kind.CREATOR:
        raise ValidationError({"owner": "Only a creator or rights-holder organisation lists."})
    name = name.strip()
    if not name:
        raise ValidationError({"name": "A catalogue needs a name."})
    if Catalogue.objects.filter(owner=owner, name=name).exists():
        raise ValidationError({"name": f"{owner.name} already has a catalogue named {name!r}."})
    return Catalogue.objects.create(owner=owner, name=name, description=description)


def catalogue_update(
    *,
    catalogue: Catalogue,
    actor: Principal,
    name: str | None = None,
    description: str | None = None,
) -> Catalogue:
    _require_owner(actor, catalogue)
    if name is not None:
        name = name.strip()
        if not name:
            raise ValidationError({"name": "A catalogue needs a name."})
        clash = Catalogue.objects.filter(owner_id=catalogue.owner_id, name=name).exclude(
            pk=catalogue.pk
        )
        if clash.exists():
            raise ValidationError({"name": f"There is already a catalogue named {name!r}."})
        catalogue.name = name
    if description is not None:
        catalogue.description = description
    catalogue.save(update_fields=["name", "description", "updated_at"])
    return catalogue


# --- Split sheets -----------------------------------------------------------------------------


@dataclass(frozen=True)
class ShareLine:
    holder: Organisation
    role: str
    share_bp: int


def validate_shares(lines: Sequence[ShareLine]) -> None:
    """Field errors (key "shares") for a split sheet that PostgreSQL would refuse, or worse."""
    errors = []
    if not lines:
        errors.append("A work needs at least one rights holder.")
    seen: set[tuple[int, str]] = set()
    for line in lines:
        if line.role not in RightsShare.Role.values:
            errors.append(f"{line.holder.name}: unknown role {line.role!r}.")
        if not isinstance(line.share_bp, int) or not 1 <= line.share_bp <= BASIS_POINTS_TOTAL:
            errors.append(
                f"{line.holder.name}: a share is between 1 and 10,000 basis points "
                f"(0.01 % to 100 %), not {line.share_bp}."
            )
        if line.holder.kind != Organisation.Kind.CREATOR:
            errors.append(f"{line.holder.name} is not a rights-holder organisation.")
        if (line.holder.pk, line.role) in seen:
            errors.append(f"{line.holder.name} appears twice as {line.role}.")
        seen.add((line.holder.pk, line.role))
    total = sum(line.share_bp for line in lines if isinstance(line.share_bp, int))
    if lines and total != BASIS_POINTS_TOTAL:
        errors.append(
            f"Shares must total exactly 10,000 basis points (100 %); these total {total:,} "
            f"({Decimal(total) / 100:.2f} %)."
        )
    if errors:
        raise ValidationError({"shares": errors})


def split_sheet_fingerprint(*, work: Work) -> str:
    """Identifies the sheet a co-holder saw, so a confirmation cannot land on a newer one."""
    lines = sorted(work.rights_shares.values_list("holder_id", "role", "share_bp"))
    return hashlib.sha256(repr(lines).encode()).hexdigest()[:16]


def _write_shares(work: Work, lines: Sequence[ShareLine], actor: Principal) -> None:
    """Make the sheet equal `lines`. Lines that stay keep their row (and so their history);
    a changed sheet asks every other co-holder to confirm again."""
    current = {(s.holder_id, s.role): s for s in work.rights_shares.select_for_update()}
    wanted = {(line.holder.pk, line.role): line for line in lines}
    changed = False
    for key, share in current.items():
        if key not in wanted:
            share.delete()
            changed = True
        elif share.share_bp != wanted[key].share_bp:
            share.share_bp = wanted[key].share_bp
            share.save(update_fields=["share_bp"])
            changed = True
    now = clock.now()
    owner_id = work.catalogue.owner_id
    new_lines = [
        RightsShare(
            work=work,
            holder=line.holder,
            role=line.role,
            share_bp=line.share_bp,
            # The owner's own lines are confirmed by the owner's action.
            confirmed_at=now if line.holder.pk == owner_id else None,
            confirmed_by=actor.user if line.holder.pk == owner_id else None,
        )
        for key, line in wanted.items()
        if key not in current
    ]
    if new_lines:
        RightsShare.objects.bulk_create(new_lines)
        changed = True
    if changed:
        work.rights_shares.exclude(holder_id=owner_id).filter(confirmed_at__isnull=False).update(
            confirmed_at=None, confirmed_by=None
        )
        work.rights_shares.filter(holder_id=owner_id, confirmed_at__isnull=True).update(
            confirmed_at=now, confirmed_by=actor.user
        )


class SheetChanged(Exception):
    """The split sheet changed since the co-holder looked at it."""


@transaction.atomic
def work_shares_confirm(
    *, work: Work, holder: Organisation, actor: Principal, fingerprint: str | None = None
) -> int:
    """A co-holder confirms its lines of the current split sheet. Returns how many lines."""
    if holder.pk not in actor.organisation_ids:
        raise PermissionDenied("You can only confirm for your own organisation.")
    Work.objects.select_for_update().filter(pk=work.pk).first()
    if fingerprint and fingerprint != split_sheet_fingerprint(work=work):
        raise SheetChanged("The split sheet changed since you looked at it; review it again.")
    lines = work.rights_shares.filter(holder=holder)
    if not lines.exists():
        raise ValidationError({"holder": f"{holder.name} holds no share in {work.title}."})
    with history_context(actor, via=_via(actor)):
        return lines.filter(confirmed_at__isnull=True).update(
            confirmed_at=clock.now(), confirmed_by=actor.user
        )


# --- Works ------------------------------------------------------------------------------------


def _clean_identifiers(
    catalogue: Catalogue, identifiers: Mapping[str, str], exclude_work_id: int | None
) -> dict[str, str]:
    cleaned, errors = identifiers_clean(identifiers)
    for field in MATCHING_SCHEMES:
        if errors.get(field) or not cleaned.get(field):
            continue
        others = Work.objects.filter(catalogue=catalogue, **{field: cleaned[field]})
        if exclude_work_id is not None:
            others = others.exclude(id=exclude_work_id)
        clash = others.first()
        if clash is not None:
            errors[field] = (
                f"Another work in this catalogue, {clash.title!r}, has this {SCHEME_LABELS[field]}."
            )
    if errors:
        raise ValidationError(errors)
    return cleaned


@transaction.atomic
def work_create(
    *,
    catalogue: Catalogue,
    title: str,
    kind: str,
    shares: Sequence[ShareLine],
    actor: Principal,
    language: str = "",
    identifiers: Mapping[str, str] | None = None,
    content_sha256: str = "",
    size_bytes: int | None = None,
    metadata: dict[str, Any] | None = None,
    consent: Mapping[str, bool | None] | None = None,
) -> Work:
    """A new work with its split sheet (and optionally its own consent), in one transaction:
    PostgreSQL refuses a work whose shares do not total 10,000 at commit."""
    _require_owner(actor, catalogue)
    fields = work_fields_clean(
        {
            "title": title,
            "kind": kind,
            "language": language,
            "content_sha256": content_sha256,
            "size_bytes": size_bytes,
            "metadata": metadata,
        }
    )
    ids = _clean_identifiers(catalogue, identifiers or {}, exclude_work_id=None)
    validate_shares(shares)
    with history_context(actor, via=_via(actor)):
        try:
            with transaction.atomic():
                work = Work.objects.create(catalogue=catalogue, **fields, **ids)
        except IntegrityError as error:  # a concurrent work took the identifier first
            raise ValidationError({"identifiers": f"Identifier already in use: {error}"}) from None
        _write_shares(work, shares, actor)
        if consent:
            _set_consents(actor=actor, work=work, consents=consent)
    return work


@transaction.atomic
def work_update(
    *,
    work: Work,
    actor: Principal,
    fields: Mapping[str, Any] | None = None,
    identifiers: Mapping[str, str] | None = None,
    shares: Sequence[ShareLine] | None = None,
) -> Work:
    """Change a work's description, identifiers and/or split sheet (the owner's action)."""
    _require_owner(actor, work.catalogue)
    work = Work.objects.select_for_update().select_related("catalogue").get(pk=work.pk)
    cleaned = work_fields_clean(fields or {})
    cleaned.update(_clean_identifiers(work.catalogue, identifiers or {}, exclude_work_id=work.pk))
    if shares is not None:
        validate_shares(shares)
    with history_context(actor, via=_via(actor)):
        if cleaned:
            for name, value in cleaned.items():
                setattr(work, name, value)
            try:
                with transaction.atomic():
                    work.save(update_fields=[*cleaned, "updated_at"])
            except IntegrityError as error:
                raise ValidationError({"identifiers": f"Already in use: {error}"}) from None
        if shares is not None:
            _write_shares(work, shares, actor)
    return Work.objects.select_related("catalogue").get(pk=work.pk)


class _HashingFile(File):
    """Hands the storage the upload chunk by chunk, hashing and counting on the way, so the
    content is never held whole in memory (and a temporary upload is copied, not moved)."""

    def __init__(self, source: Any) -> None:
        super().__init__(source, name=getattr(source, "name", "content"))
        self.digest = hashlib.sha256()
        self.bytes_seen = 0

    def chunks(self, chunk_size: int | None = None) -> Iterator[bytes]:
        source: Any = self.file
        size = chunk_size or HASH_CHUNK_BYTES
        source_chunks = (
            source.chunks(size)
            if hasattr(source, "chunks")
            else iter(lambda: source.read(size), b"")
        )
        for chunk in source_chunks:
            self.digest.update(chunk)
            self.bytes_seen += len(chunk)
            yield chunk


def work_content_attach(*, work: Work, upload: Any, actor: Principal) -> Work:
    """Store the work's content file, computing its SHA-256 and size while streaming it."""
    _require_owner(actor, work.catalogue)
    hashing = _HashingFile(upload)
    name = default_storage.save(f"works/{work.catalogue_id}/{hashing.name}", hashing)
    with transaction.atomic():
        locked = Work.objects.select_for_update().get(pk=work.pk)
        previous = locked.content_file.name
        locked.content_file.name = name
        locked.content_sha256 = hashing.digest.hexdigest()
        locked.size_bytes = hashing.bytes_seen
        locked.save(update_fields=["content_file", "content_sha256", "size_bytes", "updated_at"])
    if previous and previous != name:
        transaction.on_commit(lambda: default_storage.delete(previous))
    return locked


# --- Consent -----------------------------------------------------------------------------------


def _set_consents(
    *,
    actor: Principal,
    consents: Mapping[str, bool | None],
    work: Work | None = None,
    catalogue: Catalogue | None = None,
) -> None:
    unknown = [use for use in consents if use not in AiUse.values]
    if unknown:
        raise ValidationError({"use": f"Unknown AI use(s): {', '.join(unknown)}."})
    target = {"work": work} if work is not None else {"catalogue": catalogue}
    for use, granted in consents.items():
        if granted is None:
            if work is None:
                raise ValidationError({"granted": "A catalogue default is granted or not."})
            Consent.objects.filter(work=work, use=use).delete()
            continue
        row = Consent.objects.select_for_update().filter(use=use, **target).first()
        if row is None:
            Consent.objects.create(use=use, granted=granted, updated_by=actor.user, **target)
        elif row.granted != granted:
            row.granted = granted
            row.updated_by = actor.user
            row.save(update_fields=["granted", "updated_by", "updated_at"])
    owner_id = work.catalogue.owner_id if work is not None else catalogue.owner_id  # type: ignore[union-attr]  # one of the two is given
    audit_event_record_for(
        principal=actor,
        organisation_id=owner_id,
        action=AuditEvent.Action.CONSENT_CHANGED,
        detail={
            "work": work.pk if work is not None else None,
            "catalogue": catalogue.pk if catalogue is not None else None,
            "consents": {use: granted for use, granted in consents.items()},
        },
    )


@transaction.atomic
def work_consent_set(
    *, work: Work, consents: Mapping[str, bool | None], actor: Principal
) -> dict[str, bool | None]:
    """Set a work's own consent per use: True/False, or None to follow the catalogue default.
    Withdrawing stops new offers and licences at once; signed licences run to their end."""
    _require_consent_and_prices(actor, work.catalogue)
    with history_context(actor, via=_via(actor)):
        _set_consents(actor=actor, work=work, consents=consents)
    own = dict(work.consents.values_list("use", "granted"))
    return {use: own.get(use) for use in AiUse.values}


@transaction.atomic
def catalogue_consent_set(
    *, catalogue: Catalogue, consents: Mapping[str, bool], actor: Principal
) -> dict[str, bool]:
    """Set the catalogue's default consent per use (what works without their own row follow)."""
    _require_consent_and_prices(actor, catalogue)
    with history_context(actor, via=_via(actor)):
        _set_consents(actor=actor, catalogue=catalogue, consents=consents)
    granted = dict(catalogue.consents.values_list("use", "granted"))
    return {use: granted.get(use, False) for use in AiUse.values}


@transaction.atomic
def consent_delete(*, consent: Consent, actor: Principal) -> None:
    """Remove a consent row: a work then follows its catalogue; a catalogue grants nothing."""
    if consent.catalogue is not None:
        catalogue = consent.catalogue
    else:
        assert consent.work is not None  # a consent names its catalogue or its work (a check)
        catalogue = consent.work.catalogue
    _require_consent_and_prices(actor, catalogue)
    with history_context(actor, via=_via(actor)):
        consent.delete()


# --- Licence terms (the price list) -------------------------------------------------------------


@transaction.atomic
def licence_terms_set(
    *, catalogue: Catalogue, values: Mapping[str, Any], actor: Principal, work: Work | None = None
) -> LicenceTerms:
    """Create or change the catalogue's default terms, or a work's override of them. Fields not
    given keep their value (a new override starts from the catalogue default)."""
    _require_consent_and_prices(actor, catalogue)
    if work is not None and work.catalogue_id != catalogue.pk:
        raise ValidationError({"work": "The work is not in this catalogue."})
    cleaned = pricing_terms_clean(values)
    terms = LicenceTerms.objects.select_for_update().filter(catalogue=catalogue, work=work).first()
    if terms is None:
        default = (
            LicenceTerms.objects.filter(catalogue=catalogue, work__isnull=True).first()
            if work is not None
            else None
        )
        terms = LicenceTerms(catalogue=catalogue, work=work)
        if default is not None:
            for name in PRICING_FIELDS:
                setattr(terms, name, getattr(default, name))
        else:
            terms.territories = [WORLD]
    for name, value in cleaned.items():
        setattr(terms, name, value)
    terms_consistency_check({name: getattr(terms, name) for name in PRICING_FIELDS})
    terms.save()
    return terms


@transaction.atomic
def licence_terms_delete(*, terms: LicenceTerms, actor: Principal) -> None:
    """Remove terms: a work's override falls back to the catalogue default."""
    _require_consent_and_prices(actor, terms.catalogue)
    terms.delete()
