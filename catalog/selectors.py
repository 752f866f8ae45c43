"""Reads of the catalogue: what creators own, what licensees may see and license.

Licensability is one rule, used everywhere a licensee looks (API, pages, search, RSL) and by
the marketplace before an offer or a licence: a work is licensable for a use when its effective
consent for that use is granted (its own consent row if it has one, else the catalogue default,
else not permitted) and every line of its split sheet is confirmed.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.apps import apps
from django.contrib.postgres.search import SearchQuery, SearchRank
from django.db.models import (
    Exists,
    F,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
)
from django.db.models.expressions import RawSQL
from django.db.models.functions import Coalesce

from accounts.models import ApiKey, Organisation, User
from accounts.tenancy import Principal
from catalog.identifiers import canonical_scheme, normalise_identifier
from catalog.models import (
    SEARCH_CONFIG,
    AiUse,
    Catalogue,
    Consent,
    LicenceTerms,
    RightsShare,
    Work,
    WorkImport,
    WorkImportProblem,
)

ALL_USES: tuple[str, ...] = tuple(AiUse.values)


def _checked_uses(uses: Iterable[str]) -> list[str]:
    checked = list(dict.fromkeys(uses))
    unknown = [u for u in checked if u not in ALL_USES]
    if unknown:
        raise ValueError(f"Unknown AI use(s) {unknown}: use one of {', '.join(ALL_USES)}.")
    return checked


# --- The licensability rule, as SQL ------------------------------------------------------


# Works whose effective consent grants one of the uses (%s twice: the list of uses): their
# own granted row, or their catalogue's default granting a use they have no row of their own
# for. One set, so PostgreSQL joins it (a hashed semi-join) instead of probing per work.
_PERMITTED_WORK_IDS = """
    SELECT work_id FROM catalog_consent
    WHERE work_id IS NOT NULL AND granted AND use = ANY(%s)
    UNION ALL
    SELECT w.id FROM catalog_consent d JOIN catalog_work w ON w.catalogue_id = d.catalogue_id
    WHERE d.catalogue_id IS NOT NULL AND d.granted AND d.use = ANY(%s)
      AND NOT EXISTS (
          SELECT 1 FROM catalog_consent o WHERE o.work_id = w.id AND o.use = d.use)
"""


def _any_use_permitted(uses: Sequence[str]) -> Q:
    """A condition on Work rows: the effective consent grants at least one of `uses`."""
    return Q(pk__in=RawSQL(_PERMITTED_WORK_IDS, [list(uses), list(uses)]))  # noqa: S611


def use_permitted(use: str) -> Q:
    """A condition on Work rows: the effective consent for `use` is granted."""
    return _any_use_permitted([use])


def split_sheet_confirmed() -> Q:
    """A condition on Work rows: every line of the split sheet is confirmed."""
    return ~Q(Exists(RightsShare.objects.filter(work=OuterRef("pk"), confirmed_at__isnull=True)))


def licensable_works(*, uses: Iterable[str] | None = None) -> QuerySet[Work]:
    """Works visible to licensees: split sheet fully confirmed and consent granted for at least
    one use (or, when `uses` is given, for every one of them)."""
    queryset = Work.objects.filter(split_sheet_confirmed())
    checked = _checked_uses(uses) if uses is not None else []
    if not checked:
        return queryset.filter(_any_use_permitted(ALL_USES))
    for use in checked:
        queryset = queryset.filter(use_permitted(use))
    return queryset


# --- Effective consent and terms ---------------------------------------------------------


def effective_consents_for(*, works: Iterable[Work]) -> dict[int, dict[str, bool]]:
    """Each work's effective consent, every use → permitted?, in two queries."""
    works = list(works)
    work_ids = [w.pk for w in works]
    catalogue_ids = {w.catalogue_id for w in works}
    own: dict[int, dict[str, bool]] = defaultdict(dict)
    for work_id, use, granted in Consent.objects.filter(work_id__in=work_ids).values_list(
        "work_id", "use", "granted"
    ):
        own[work_id][use] = granted
    defaults: dict[int, dict[str, bool]] = defaultdict(dict)
    for catalogue_id, use, granted in Consent.objects.filter(
        catalogue_id__in=catalogue_ids
    ).values_list("catalogue_id", "use", "granted"):
        defaults[catalogue_id][use] = granted
    return {
        w.pk: {
            use: own[w.pk].get(use, defaults[w.catalogue_id].get(use, False)) for use in ALL_USES
        }
        for w in works
    }


def work_effective_consent(*, work: Work) -> dict[str, bool]:
    """Every AI use → whether it is permitted for this work now."""
    return effective_consents_for(works=[work])[work.pk]


def catalogue_default_consent(*, catalogue: Catalogue) -> dict[str, bool]:
    granted = dict(catalogue.consents.values_list("use", "granted"))
    return {use: granted.get(use, False) for use in ALL_USES}


def work_consent_overrides(*, work: Work) -> dict[str, bool | None]:
    """The work's own consent rows: use → granted, or None where it follows the catalogue."""
    own = dict(work.consents.values_list("use", "granted"))
    return {use: own.get(use) for use in ALL_USES}


def effective_terms_for(*, works: Iterable[Work]) -> dict[int, LicenceTerms | None]:
    works = list(works)
    overrides = {
        t.work_id: t for t in LicenceTerms.objects.filter(work_id__in=[w.pk for w in works])
    }
    defaults = {
        t.catalogue_id: t
        for t in LicenceTerms.objects.filter(
            catalogue_id__in={w.catalogue_id for w in works}, work__isnull=True
        )
    }
    return {w.pk: overrides.get(w.pk) or defaults.get(w.catalogue_id) for w in works}


def effective_terms(*, work: Work) -> LicenceTerms | None:
    """The work's own terms if it has an override, else its catalogue's default, else None."""
    return effective_terms_for(works=[work])[work.pk]


def catalogue_default_terms(*, catalogue: Catalogue) -> LicenceTerms | None:
    return LicenceTerms.objects.filter(catalogue=catalogue, work__isnull=True).first()


# --- Split sheets ------------------------------------------------------------------------


def split_sheet(*, work: Work) -> list[RightsShare]:
    return list(
        work.rights_shares.select_related("holder", "confirmed_by").order_by(
            "-share_bp", "holder__name", "role"
        )
    )


def pending_holder_names_for(*, work_ids: Iterable[int]) -> dict[int, list[str]]:
    names: dict[int, set[str]] = defaultdict(set)
    for work_id, holder_name in RightsShare.objects.filter(
        work_id__in=list(work_ids), confirmed_at__isnull=True
    ).values_list("work_id", "holder__name"):
        names[work_id].add(holder_name)
    return {work_id: sorted(holders) for work_id, holders in names.items()}


def shares_awaiting_confirmation(*, principal: Principal) -> QuerySet[RightsShare]:
    """Split-sheet lines held by the caller's organisations that they have not confirmed."""
    return (
        RightsShare.objects.filter(
            holder_id__in=principal.organisation_ids, confirmed_at__isnull=True
        )
        .select_related("work", "work__catalogue", "work__catalogue__owner", "holder")
        .order_by("work__title", "work_id", "id")
    )


# --- What a licensee cannot license ------------------------------------------------------


def works_not_licensable(*, work_ids: Iterable[int], uses: Iterable[str]) -> dict[int, list[str]]:
    """For each work that cannot be licensed now for ALL of `uses`, the reasons a person can
    read ("Salt Roads: no consent for ai-train"). An empty dict means all are licensable."""
    wanted_ids = list(dict.fromkeys(work_ids))
    checked_uses = _checked_uses(uses)
    works = list(Work.objects.filter(pk__in=wanted_ids).only("id", "title", "catalogue_id"))
    found = {w.pk: w for w in works}
    consents = effective_consents_for(works=works)
    pending = pending_holder_names_for(work_ids=found)
    reasons: dict[int, list[str]] = {}
    for work_id in wanted_ids:
        work = found.get(work_id)
        if work is None:
            reasons[work_id] = [f"work {work_id} does not exist"]
            continue
        problems = [
            f"{work.title}: no consent for {use}"
            for use in checked_uses
            if not consents[work_id][use]
        ]
        if work_id in pending:
            problems.append(
                f"{work.title}: split sheet awaiting confirmation from "
                + ", ".join(pending[work_id])
            )
        if problems:
            reasons[work_id] = problems
    return reasons


# --- Identifiers ---------------------------------------------------------------------------


def _scope_ids(work_ids_scope: QuerySet[Any] | Iterable[int]) -> Any:
    if isinstance(work_ids_scope, QuerySet):
        if work_ids_scope.model is Work and not work_ids_scope.query.values_select:
            return work_ids_scope.values("pk")
        return work_ids_scope
    return list(work_ids_scope)


def works_by_identifiers(
    *, work_ids_scope: QuerySet[Any] | Iterable[int], scheme: str, values: Iterable[str]
) -> dict[str, int]:
    """Match identifiers (as given, any accepted spelling) to works within a scope (a Work
    queryset, a queryset of ids, or ids). Values that are invalid, unknown in the scope, or
    shared by several works of the scope are absent from the answer."""
    field = canonical_scheme(scheme)
    normalised: dict[str, str] = {}
    for value in values:
        try:
            normalised[value] = normalise_identifier(field, value)
        except (ValueError, TypeError):
            continue
    if not normalised:
        return {}
    matches: dict[str, set[int]] = defaultdict(set)
    for work_id, stored in Work.objects.filter(
        pk__in=_scope_ids(work_ids_scope), **{f"{field}__in": set(normalised.values())}
    ).values_list("pk", field):
        matches[stored].add(work_id)
    return {
        given: next(iter(matches[stored]))
        for given, stored in normalised.items()
        if len(matches.get(stored, ())) == 1
    }


def work_by_identifier(
    *, work_ids_scope: QuerySet[Any] | Iterable[int], scheme: str, value: str
) -> Work | None:
    """The one work of the scope with this identifier, or None (unknown, invalid, ambiguous)."""
    found = works_by_identifiers(work_ids_scope=work_ids_scope, scheme=scheme, values=[value])
    return Work.objects.get(pk=found[value]) if value in found else None


# --- Creators' own catalogues and works --------------------------------------------------


def catalogue_list(*, principal: Principal) -> QuerySet[Catalogue]:
    return Catalogue.objects.visible_to(principal).select_related("owner")


def catalogue_owned(*, principal: Principal, catalogue_id: int) -> Catalogue | None:
    return catalogue_list(principal=principal).filter(pk=catalogue_id).first()


def work_list(*, principal: Principal) -> QuerySet[Work]:
    """Works the caller's organisations own (through a catalogue) or hold a share in."""
    return Work.objects.visible_to(principal).select_related("catalogue", "catalogue__owner")


def can_edit_work(*, principal: Principal, work: Work) -> bool:
    """Only members (or the API key) of the catalogue owner change a work; co-holders confirm."""
    return work.catalogue.owner_id in principal.organisation_ids


@dataclass(frozen=True)
class WorkStatus:
    permitted_uses: list[str]
    awaiting: list[str]  # names of holders who have not confirmed the split sheet

    @property
    def licensable(self) -> bool:
        return bool(self.permitted_uses) and not self.awaiting

    @property
    def label(self) -> str:
        if self.awaiting:
            return "Pending confirmation"
        return "Licensable" if self.permitted_uses else "No consent"


def work_status_for(*, works: Iterable[Work]) -> dict[int, WorkStatus]:
    works = list(works)
    consents = effective_consents_for(works=works)
    pending = pending_holder_names_for(work_ids=[w.pk for w in works])
    return {
        w.pk: WorkStatus(
            permitted_uses=[u for u, ok in consents[w.pk].items() if ok],
            awaiting=pending.get(w.pk, []),
        )
        for w in works
    }


def catalogue_counts(*, catalogue: Catalogue) -> dict[str, int]:
    works = catalogue.works.all()
    pending = works.filter(~split_sheet_confirmed()).count()
    licensable = licensable_works().filter(catalogue=catalogue).count()
    return {"works": works.count(), "pending": pending, "licensable": licensable}


# --- Licensee search ------------------------------------------------------------------------

SORTS = {
    "relevance": None,
    "title": ("title", "id"),
    "-title": ("-title", "-id"),
    "newest": ("-created_at", "-id"),
    "oldest": ("created_at", "id"),
    "fee": ("effective_fee_minor", "title", "id"),
    "-fee": ("-effective_fee_minor", "title", "id"),
}


def search_query_for(text: str) -> SearchQuery | None:
    """Every word of `text` must match the start of a word in the title or metadata."""
    words = ["".join(ch for ch in word if ch.isalnum()) for word in text.split()]
    terms = [f"{word}:*" for word in words if word]
    if not terms:
        return None
    return SearchQuery(" & ".join(terms), search_type="raw", config=SEARCH_CONFIG)


def _effective_fee() -> Coalesce:
    override = LicenceTerms.objects.filter(work=OuterRef("pk")).values("upfront_fee_minor")[:1]
    default = LicenceTerms.objects.filter(
        catalogue=OuterRef("catalogue_id"), work__isnull=True
    ).values("upfront_fee_minor")[:1]
    return Coalesce(Subquery(override), Subquery(default))


def _effective_currency() -> Coalesce:
    override = LicenceTerms.objects.filter(work=OuterRef("pk")).values("currency")[:1]
    default = LicenceTerms.objects.filter(
        catalogue=OuterRef("catalogue_id"), work__isnull=True
    ).values("currency")[:1]
    return Coalesce(Subquery(override), Subquery(default))


def licensable_work_search(
    *,
    text: str = "",
    kind: str = "",
    language: str = "",
    use: str = "",
    currency: str = "",
    fee_min_minor: int | None = None,
    fee_max_minor: int | None = None,
    catalogue_id: int | None = None,
    owner_id: int | None = None,
    sort: str = "",
) -> QuerySet[Work]:
    """Licensee search over licensable works only: full text on title and metadata, filters,
    and sorting (relevance when searching, else title). Fees are the effective upfront fee in
    minor units of the terms' currency; works without terms have no fee and drop out of a
    fee filter."""
    queryset = (
        licensable_works(uses=[use] if use else None)
        .select_related("catalogue", "catalogue__owner")
        .annotate(effective_fee_minor=_effective_fee(), effective_currency=_effective_currency())
    )
    if kind:
        queryset = queryset.filter(kind=kind)
    if language:
        queryset = queryset.filter(
            Q(language__iexact=language) | Q(language__istartswith=f"{language}-")
        )
    if currency:
        queryset = queryset.filter(effective_currency=currency.upper())
    if fee_min_minor is not None:
        queryset = queryset.filter(effective_fee_minor__gte=fee_min_minor)
    if fee_max_minor is not None:
        queryset = queryset.filter(effective_fee_minor__lte=fee_max_minor)
    if catalogue_id is not None:
        queryset = queryset.filter(catalogue_id=catalogue_id)
    if owner_id is not None:
        queryset = queryset.filter(catalogue__owner_id=owner_id)
    query = search_query_for(text) if text else None
    if query is not None:
        queryset = queryset.filter(search_document=query).annotate(
            rank=SearchRank(F("search_document"), query)
        )
    order = SORTS.get(sort or ("relevance" if query is not None else "title"))
    if order is None:
        if query is not None:
            return queryset.order_by(F("rank").desc(), "title", "id")
        return queryset.order_by("title", "id")
    return queryset.order_by(*order)


def licensable_work(*, work_id: int) -> Work | None:
    return (
        licensable_works()
        .select_related("catalogue", "catalogue__owner")
        .filter(pk=work_id)
        .first()
    )


def licensable_catalogue_works(*, catalogue: Catalogue) -> QuerySet[Work]:
    return licensable_works().filter(catalogue=catalogue).order_by("id")


# --- Imports ------------------------------------------------------------------------------------


def work_import_list(*, principal: Principal) -> QuerySet[WorkImport]:
    return WorkImport.objects.visible_to(principal).select_related("catalogue")


def work_import_problems(*, work_import: WorkImport) -> QuerySet[WorkImportProblem]:
    return work_import.problems.order_by("row_number", "id")


# --- History ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class HistoryEntry:
    at: datetime
    actor: str
    subject: str
    before: str
    after: str
    sequence: int = 0  # order of the events within one transaction (same `at`)


def _events(model_name: str) -> QuerySet[Any]:
    """The history rows django-pghistory keeps for a tracked catalogue model."""
    return apps.get_model("catalog", model_name).objects.all()


def _actor_names(contexts: Iterable[Any]) -> dict[Any, str]:
    metadata = {c.pk: c.metadata for c in contexts if c is not None}
    user_ids = {m.get("user") for m in metadata.values() if m.get("user")}
    key_ids = {m.get("api_key") for m in metadata.values() if m.get("api_key")}
    users = {u.pk: u.full_name or u.email for u in User.objects.filter(pk__in=user_ids)}
    keys = {k.pk: f"API key {k}" for k in ApiKey.objects.filter(pk__in=key_ids)}
    names = {}
    for context_id, meta in metadata.items():
        who = users.get(meta.get("user")) or keys.get(meta.get("api_key")) or "system"
        via = meta.get("via")
        names[context_id] = f"{who} ({via})" if via else who
    return names


def _consent_label(granted: bool | None) -> str:
    if granted is None:
        return "—"
    return "granted" if granted else "not granted"


def _consent_entries(
    events: list[Any], names: dict[Any, str], *, inherit: str
) -> list[HistoryEntry]:
    previous: dict[int, bool] = {}
    entries = []
    for event in events:
        before = previous.get(event.pgh_obj_id)
        after = None if event.pgh_label == "delete" else event.granted
        if event.pgh_label == "delete":
            previous.pop(event.pgh_obj_id, None)
        else:
            previous[event.pgh_obj_id] = event.granted
        if before == after and event.pgh_label == "update":
            continue  # only the timestamp or the editor changed
        entries.append(
            HistoryEntry(
                at=event.pgh_created_at,
                actor=names.get(event.pgh_context_id, "system"),
                subject=f"Consent for {event.use}",
                before=inherit if before is None else _consent_label(before),
                after=inherit if after is None else _consent_label(after),
                sequence=event.pgh_id,
            )
        )
    return entries


def _share_label(event: Any) -> str:
    state = "confirmed" if event.confirmed_at else "unconfirmed"
    return f"{event.share_bp:,} bp ({state})"


def _share_entries(events: list[Any], names: dict[Any, str]) -> list[HistoryEntry]:
    previous: dict[int, str] = {}
    holder_names = dict(
        Organisation.objects.filter(pk__in={e.holder_id for e in events}).values_list("pk", "name")
    )
    entries = []
    for event in events:
        before = previous.get(event.pgh_obj_id, "—")
        after = "—" if event.pgh_label == "delete" else _share_label(event)
        previous[event.pgh_obj_id] = after
        entries.append(
            HistoryEntry(
                at=event.pgh_created_at,
                actor=names.get(event.pgh_context_id, "system"),
                subject=f"Share of {holder_names.get(event.holder_id, event.holder_id)}"
                f" ({event.role})",
                before=before,
                after=after,
                sequence=event.pgh_id,
            )
        )
    return entries


def work_history(*, work: Work) -> list[HistoryEntry]:
    """Every consent and split change of a work: who, when, what it was before, newest first."""
    consent_events = list(
        _events("ConsentEvent")
        .filter(work_id=work.pk)
        .select_related("pgh_context")
        .order_by("pgh_id")
    )
    share_events = list(
        _events("RightsShareEvent")
        .filter(work_id=work.pk)
        .select_related("pgh_context")
        .order_by("pgh_id")
    )
    names = _actor_names(e.pgh_context for e in [*consent_events, *share_events])
    entries = [
        *_consent_entries(consent_events, names, inherit="catalogue default"),
        *_share_entries(share_events, names),
    ]
    return sorted(entries, key=lambda e: (e.at, e.sequence), reverse=True)


def catalogue_consent_history(*, catalogue: Catalogue) -> list[HistoryEntry]:
    events = list(
        _events("ConsentEvent")
        .filter(catalogue_id=catalogue.pk)
        .select_related("pgh_context")
        .order_by("pgh_id")
    )
    names = _actor_names(e.pgh_context for e in events)
    entries = _consent_entries(events, names, inherit="not granted")
    return sorted(entries, key=lambda e: (e.at, e.sequence), reverse=True)


def creator_organisations() -> QuerySet[Organisation]:
    """Organisations that can hold rights shares (payees), for choosing co-holders."""
    return Organisation.objects.filter(kind=Organisation.Kind.CREATOR).order_by("name")
