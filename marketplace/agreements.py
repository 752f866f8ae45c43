"""Licence agreements: created frozen from an accepted offer version, activated when the fee
is paid (or at once without one), expired at the end of term, terminated early.

Creation copies, set-based, every licensed work with its fingerprint and identifiers and every
split-sheet line in force at that moment; the agreement never reads the catalogue again.
Exclusivity is checked under a per-licensor advisory lock (all of an agreement's works belong to
its licensor) for a clear error, and made true by the licence-claim exclusion constraint.
"""

from __future__ import annotations

import calendar
from datetime import date, datetime, timedelta
from functools import partial
from typing import Any

import structlog
from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.urls import reverse

from core import clock
from marketplace import signals
from marketplace.certificates import certificate_issue
from marketplace.errors import ExclusivityConflict
from marketplace.models import Agreement, LicenceClaim, Notification, Offer, OfferVersion
from marketplace.notifications import notification_create
from marketplace.selectors import agreement_fee_total_minor, agreement_work_count
from marketplace.signals import UpfrontFeePayment
from marketplace.terms import TERM_FIELDS, terms_as_json, terms_of, territory_span

log = structlog.get_logger(__name__)

# First key of the advisory lock serialising acceptances per licensor ("LC": licence claims).
_CLAIM_LOCK_NAMESPACE = 0x4C43
_LIVE = (Agreement.Status.AWAITING_PAYMENT, Agreement.Status.ACTIVE)
_EXCLUSION_VIOLATION = "23P01"


def add_months(day: date, months: int) -> date:
    """The same day `months` later, or the month's last day when it is shorter."""
    month_index = day.month - 1 + months
    year, month = day.year + month_index // 12, month_index % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def term_dates(*, starts_on: date, term_months: int) -> tuple[date, date]:
    """First and last day (inclusive) of a term of `term_months` months."""
    return starts_on, add_months(starts_on, term_months) - timedelta(days=1)


def agreement_create_from_offer(*, offer: Offer, version: OfferVersion) -> Agreement:
    """Freeze an accepted version into an agreement. Runs inside the acceptance transaction,
    with the offer row locked."""
    accepted_at = clock.now()
    starts_on, ends_on = term_dates(starts_on=accepted_at.date(), term_months=version.term_months)
    terms = terms_of(version)
    commission_bp = (
        version.commission_bp
        if version.commission_bp is not None
        else settings.PLATFORM_COMMISSION_BP
    )
    agreement = Agreement.objects.create(
        licensee_id=offer.licensee_id,
        licensor_id=offer.licensor_id,
        offer=offer,
        accepted_version=version,
        starts_on=starts_on,
        ends_on=ends_on,
        commission_bp=commission_bp,
        accepted_at=accepted_at,
        **{name: terms[name] for name in TERM_FIELDS},
    )
    _snapshot_works(agreement, version)
    _snapshot_splits(agreement)
    _claim(agreement)
    agreement.terms_snapshot = {
        "terms": terms_as_json(terms),
        "offer": offer.pk,
        "version": version.number,
        "proposed_by": version.proposed_by,
        "commission_bp": commission_bp,
        "work_count": agreement_work_count(agreement=agreement),
        "upfront_fee_total_minor": agreement_fee_total_minor(agreement=agreement),
        "licensee": {"id": offer.licensee_id, "name": offer.licensee.name},
        "licensor": {"id": offer.licensor_id, "name": offer.licensor.name},
        "catalogues": [{"id": c.pk, "name": c.name} for c in offer.catalogues.order_by("id")],
    }
    agreement.save(update_fields=["terms_snapshot"])
    if agreement.terms_snapshot["upfront_fee_total_minor"] == 0:
        agreement_activate(agreement_id=agreement.pk, payment=None)
    else:
        notification_create(
            organisation=offer.licensee,
            kind=Notification.Kind.AGREEMENT_AWAITING_PAYMENT,
            title=f"Agreement {agreement.pk} is ready: pay the upfront fee to activate it",
            link=_agreement_link(agreement),
            agreement=agreement,
            email=True,
        )
    return agreement


def _agreement_link(agreement: Agreement) -> str:
    return reverse("frontend:marketplace-agreement", args=[agreement.pk])


def _snapshot_works(agreement: Agreement, version: OfferVersion) -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO marketplace_agreementwork
                (agreement_id, work_id, title, content_sha256, identifiers)
            SELECT %s, w.id, w.title, w.content_sha256, jsonb_strip_nulls(jsonb_build_object(
                'isbn13', NULLIF(w.isbn13, ''), 'isrc', NULLIF(w.isrc, ''),
                'iswc', NULLIF(w.iswc, ''), 'doi', NULLIF(w.doi, '')))
            FROM marketplace_offerversionwork selected
            JOIN catalog_work w ON w.id = selected.work_id
            WHERE selected.version_id = %s
            """,
            [agreement.pk, version.pk],
        )


def _snapshot_splits(agreement: Agreement) -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO marketplace_agreementsplit
                (agreement_id, work_id, holder_id, role, share_bp)
            SELECT %s, share.work_id, share.holder_id, share.role, share.share_bp
            FROM catalog_rightsshare share
            JOIN marketplace_agreementwork licensed
                ON licensed.work_id = share.work_id AND licensed.agreement_id = %s
            """,
            [agreement.pk, agreement.pk],
        )


def _claim(agreement: Agreement) -> None:
    """Record what the agreement holds, refusing any collision with a live exclusive licence
    (or, for an exclusive one, with any live licence)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_advisory_xact_lock(%s, %s)",
            [_CLAIM_LOCK_NAMESPACE, agreement.licensor_id & 0x7FFFFFFF],
        )
    conflicts = _claim_conflicts(agreement)
    if conflicts:
        raise ExclusivityConflict(_conflict_message(agreement, conflicts), errors=conflicts)
    spans = [territory_span(code) for code in agreement.territories]
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(
                """
                INSERT INTO marketplace_licenceclaim (agreement_id, work_id, use, territory,
                    territory_span, period, claim, exclusive, released_at)
                SELECT %(agreement)s, licensed.work_id, granted.use, place.code,
                    int4range(place.low, place.high), daterange(%(start)s, %(end)s, '[]'),
                    CASE WHEN %(exclusive)s THEN int8range(NULL, NULL)
                         ELSE int8range(%(agreement)s, %(agreement)s + 1) END,
                    %(exclusive)s, NULL
                FROM marketplace_agreementwork licensed
                CROSS JOIN unnest(%(uses)s::varchar[]) AS granted(use)
                CROSS JOIN unnest(%(codes)s::varchar[], %(lows)s::int[], %(highs)s::int[])
                    AS place(code, low, high)
                WHERE licensed.agreement_id = %(agreement)s
                """,
                {
                    "agreement": agreement.pk,
                    "start": agreement.starts_on,
                    "end": agreement.ends_on,
                    "exclusive": agreement.exclusive,
                    "uses": list(agreement.permitted_uses),
                    "codes": list(agreement.territories),
                    "lows": [low for low, _ in spans],
                    "highs": [high for _, high in spans],
                },
            )
    except IntegrityError as error:
        if getattr(error.__cause__, "sqlstate", None) != _EXCLUSION_VIOLATION:
            raise
        raise ExclusivityConflict(
            "An exclusive licence now stands in the way of this one. Reload and try again."
        ) from error


def _claim_conflicts(agreement: Agreement) -> list[dict[str, Any]]:
    spans = [f"[{low},{high})" for low, high in map(territory_span, agreement.territories)]
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT DISTINCT held.work_id, w.title, held.use, held.territory, held.exclusive
            FROM marketplace_licenceclaim held
            JOIN marketplace_agreementwork licensed
                ON licensed.work_id = held.work_id AND licensed.agreement_id = %(agreement)s
            JOIN marketplace_agreement holder ON holder.id = held.agreement_id
            JOIN catalog_work w ON w.id = held.work_id
            WHERE held.released_at IS NULL
              AND holder.status = ANY(%(live)s::varchar[])
              AND held.use = ANY(%(uses)s::varchar[])
              AND held.period && daterange(%(start)s, %(end)s, '[]')
              AND held.territory_span && ANY(%(spans)s::int4range[])
              AND (held.exclusive OR %(exclusive)s)
            ORDER BY held.work_id, held.use, held.territory
            LIMIT 200
            """,
            {
                "agreement": agreement.pk,
                "live": list(_LIVE),
                "uses": list(agreement.permitted_uses),
                "start": agreement.starts_on,
                "end": agreement.ends_on,
                "spans": spans,
                "exclusive": agreement.exclusive,
            },
        )
        rows = cursor.fetchall()
    return [
        {
            "work": work_id,
            "title": title,
            "use": use,
            "territory": territory,
            "reason": "licensed exclusively to another licensee"
            if exclusive
            else "already licensed, so it cannot be licensed exclusively",
        }
        for work_id, title, use, territory, exclusive in rows
    ]


def _conflict_message(agreement: Agreement, conflicts: list[dict[str, Any]]) -> str:
    listed = "; ".join(
        f"{c['title']} ({c['work']}) for {c['use']} in {c['territory']}: {c['reason']}"
        for c in conflicts[:10]
    )
    more = f" and {len(conflicts) - 10} more" if len(conflicts) > 10 else ""
    kind = "An exclusive licence" if agreement.exclusive else "This licence"
    return f"{kind} would collide with licences in force: {listed}{more}."


def _locked(agreement_id: int) -> Agreement:
    return (
        Agreement.objects.select_for_update(of=("self",))
        .select_related("licensee", "licensor")
        .get(pk=agreement_id)
    )


def agreement_activate(*, agreement_id: int, payment: UpfrontFeePayment | None) -> bool:
    """Activate an agreement awaiting payment, issue its certificate, and announce it once
    committed. Returns False (and does nothing) when it is not awaiting payment."""
    with transaction.atomic():
        agreement = _locked(agreement_id)
        if agreement.status != Agreement.Status.AWAITING_PAYMENT:
            return False
        agreement.activate()
        agreement.activated_at = clock.now()
        agreement.save(update_fields=["status", "activated_at"])
        certificate_issue(agreement=agreement)
        for organisation in (agreement.licensee, agreement.licensor):
            notification_create(
                organisation=organisation,
                kind=Notification.Kind.AGREEMENT_ACTIVE,
                title=f"Agreement {agreement.pk} is active",
                body=f"{agreement.licensee.name} may use the licensed works from "
                f"{agreement.starts_on:%d %b %Y} to {agreement.ends_on:%d %b %Y}.",
                link=_agreement_link(agreement),
                agreement=agreement,
            )
        transaction.on_commit(
            partial(
                _announce, signals.agreement_activated, agreement_id=agreement.pk, payment=payment
            )
        )
    log.info("agreement_activated", agreement=agreement_id, paid=payment is not None)
    return True


def _announce(signal: Any, **payload: Any) -> None:
    for receiver, result in signal.send_robust(sender=Agreement, **payload):
        if isinstance(result, Exception):
            log.error(
                "agreement_signal_receiver_failed",
                receiver=getattr(receiver, "__qualname__", repr(receiver)),
                error=repr(result),
                **{k: v for k, v in payload.items() if k == "agreement_id"},
            )


def _release_claims(agreement: Agreement, *, at: datetime) -> None:
    LicenceClaim.objects.filter(agreement=agreement, released_at__isnull=True).update(
        released_at=at
    )


def agreement_terminate(*, agreement_id: int, reason: str) -> bool:
    """End an agreement before its term (platform staff, or a term that ended unpaid). Its
    claims are released; `agreement_terminated` is sent once committed."""
    with transaction.atomic():
        agreement = _locked(agreement_id)
        if agreement.status not in _LIVE:
            return False
        was_active = agreement.status == Agreement.Status.ACTIVE
        now = clock.now()
        agreement.terminate()
        agreement.ended_at = now
        agreement.termination_reason = reason
        agreement.save(update_fields=["status", "ended_at", "termination_reason"])
        _release_claims(agreement, at=now)
        _notify_ended(agreement, f"Agreement {agreement.pk} was terminated", reason)
        transaction.on_commit(
            partial(
                _announce,
                signals.agreement_terminated,
                agreement_id=agreement.pk,
                reason=reason,
                was_active=was_active,
            )
        )
    return True


def _notify_ended(agreement: Agreement, title: str, body: str) -> None:
    for organisation in (agreement.licensee, agreement.licensor):
        notification_create(
            organisation=organisation,
            kind=Notification.Kind.AGREEMENT_ENDED,
            title=title,
            body=body,
            link=_agreement_link(agreement),
            agreement=agreement,
        )


def agreement_expire(*, agreement_id: int, today: date) -> bool:
    """Expire an active agreement whose last day has passed; one whose term ended while it
    still awaited payment is terminated instead (it never began)."""
    agreement = Agreement.objects.filter(pk=agreement_id).first()
    if agreement is None or agreement.ends_on >= today:
        return False
    if agreement.status == Agreement.Status.AWAITING_PAYMENT:
        return agreement_terminate(
            agreement_id=agreement_id, reason="The term ended before the upfront fee was paid."
        )
    with transaction.atomic():
        agreement = _locked(agreement_id)
        if agreement.status != Agreement.Status.ACTIVE:
            return False
        now = clock.now()
        agreement.expire()
        agreement.ended_at = now
        agreement.save(update_fields=["status", "ended_at"])
        _release_claims(agreement, at=now)
        _notify_ended(
            agreement,
            f"Agreement {agreement.pk} has expired",
            f"Its term ended on {agreement.ends_on:%d %b %Y}.",
        )
    return True


def agreements_expire_due(*, today: date | None = None, limit: int = 1000) -> int:
    """The beat job: expire agreements past the end of their term."""
    today = today or clock.today()
    due = list(
        Agreement.objects.filter(status__in=_LIVE, ends_on__lt=today).values_list("id", flat=True)[
            :limit
        ]
    )
    return sum(agreement_expire(agreement_id=agreement_id, today=today) for agreement_id in due)
