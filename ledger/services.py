"""Posting to the ledger and reading balances: the only way money moves in TrainRight's books.

Amounts are integers in minor units, signed: **debit positive, credit negative** (the chart of
accounts and the database invariants are in ``ledger.models``). Every entry's legs
sum to zero in one currency; entries are append-only; a mistake is corrected by
``journal_reverse`` and a new entry dated in the open period.

Posting rules
=============
One entry per business event; ``Dr`` is a positive leg, ``Cr`` a negative one. "Holder" legs are
one per (work, rights holder) with the work in the leg memo; "shares" come from
``settlement.allocation``; the commission from ``settlement.rating.commission_split``. The Stripe
fee is the platform's cost: holders are allocated the gross amount less commission, never
less a fee.

Each rule: the event and its ``EntryKind``, then the usual reference and idempotency key.

upfront fee charged, ``upfront_fee`` (agreement:<id>; upfront_fee:agreement:<id>)
    Dr licensee_receivable(licensee)   gross
    Cr platform_commission             commission
    Cr holder_pending(holder)          share, one leg per (work, holder)

recoupable advance charged, ``advance`` (agreement:<id>; advance:agreement:<id>)
    the upfront fee's legs, plus the memo pair that tracks what is left to recoup:
    Dr advance_unrecouped(licensee, subledger "agreement:<id>")   gross
    Cr advance_unrecouped_contra                                  gross

usage settled, ``usage_settlement``, one entry per (agreement, run)
(settlement_run:<id>; settlement_run:<id>:agreement:<id>)
    Dr licensee_receivable(licensee)   billed
    Cr platform_commission             commission on billed
    Cr holder_pending(holder)          share, one leg per (work, holder)
    and when the advance absorbs usage (``rating.recoup_advance``):
    Dr advance_unrecouped_contra                                  offset
    Cr advance_unrecouped(licensee, subledger "agreement:<id>")   offset
    billed = usage not absorbed + any minimum-guarantee shortfall; usage wholly absorbed by
    the advance posts the memo pair alone (the holders were paid the advance).

collection succeeded, ``collection``, Stripe charge ch_ (what it pays; stripe:<ch_id>)
    Dr platform_cash                   gross - Stripe fee
    Dr stripe_fees                     Stripe fee
    Cr licensee_receivable(licensee)   gross
    and for every holder leg of the entries it pays ("pay when paid"):
    Dr holder_pending(holder)          share
    Cr holder_payable(holder)          share

recovery of a negative holder balance, ``recovery``, before paying out (holder:<org id>)
    Dr holder_payable(holder)          x = min(payable, recoverable)
    Cr holder_recoverable(holder)      x

payout sent, ``payout``, Stripe transfer tr_ (payout:<id>; payout:<id>)
    Dr holder_payable(holder)          amount
    Cr platform_cash                   amount

payout reversed, ``payout_reversal``, Stripe transfer reversal trr_ (payout:<id>;
stripe:<trr_id>): full or partial; not ``journal_reverse``, since the payout did happen
    Dr platform_cash                   amount
    Cr holder_payable(holder)          amount

refund after collection, ``refund``, Stripe refund re_ (what it refunds; stripe:<re_id>)
    Cr platform_cash                   refunded (Stripe keeps its processing fee)
    Dr platform_commission             commission share of the refund
    Dr holder_payable(holder)          holder share, up to the holder's payable balance
    Dr holder_recoverable(holder)      the rest of the holder share (already paid out)

refund before collection, ``adjustment`` (what it cancels): the billed legs, negated
    Cr licensee_receivable; Dr platform_commission; Dr holder_pending(holder)

dispute funds withdrawn, ``dispute``, Stripe dispute dp_ (stripe:<dp_id>:withdrawn)
    Dr dispute_losses                  disputed amount
    Dr stripe_fees                     dispute fee
    Cr platform_cash                   amount + fee
    holders keep their money while the dispute is open.

dispute won, ``dispute`` (stripe:<dp_id>:won)
    Dr platform_cash                   reinstated
    Cr dispute_losses                  disputed amount (Cr stripe_fees any fee returned)

dispute lost, ``dispute`` (stripe:<dp_id>:lost): the loss moves to commission and holders
    Cr dispute_losses                  disputed amount
    Dr platform_commission             commission share
    Dr holder_payable / holder_recoverable(holder)   holder shares, as for a refund

other Stripe fee, ``stripe_fee`` (the Stripe object)
    Dr stripe_fees; Cr platform_cash

write-off, ``adjustment``
    Dr write_offs; Cr holder_recoverable(holder) or licensee_receivable(licensee)

operator funding, ``adjustment``
    Dr platform_cash; Cr platform_equity (or the reverse for a withdrawal)

correction, ``reversal``: ``journal_reverse`` negates every leg of the wrong entry (same
reference and Stripe object, ``reverses`` set); then post the right entry.

The worked example (docs/domain.md): Northwind's 120,000 ¢ upfront fee at 10 % posts Dr
licensee_receivable 120,000; Cr platform_commission 12,000; Cr holder_pending Ana 37,800,
Harbour 16,200 (W1), Ben 27,000, Chloe 13,500, Harbour 13,500 (W2). Once Northwind's payment
succeeds, the collection moves those five amounts from pending to payable.

``stripe_object_id`` is the Stripe object whose balance transaction the entry mirrors (the
``source`` of that balance transaction); reconciliation sums an object's entries' platform_cash
and stripe_fees legs and compares them with the balance transaction's net and fee. A reversal
carries the original's object id, so a reversed-and-reposted event still nets correctly.

Late receipts: money that arrives for a closed period is never refused. A caller posting what
Stripe already moved (a payment, a refund, a payout, a dispute) passes ``late_if_closed=True``:
the entry is dated on the intended date while its period is open, otherwise on
``ledger_posting_date_for`` (today, or the first day of the next open month if today's period
is closed too), and it keeps the intended date (``JournalEntry.intended_date``) and says in its
memo which period it belongs to. Everything else about it is an ordinary posting: the holders'
shares move as for any collection, and the statement lines keep their own accrual dates.
Without the option a closed period is refused (``ClosedPeriodError``).

Idempotency: the same ``idempotency_key`` posted again returns the first entry if kind,
currency, date (a late receipt's intended date), reference, Stripe object, reversed entry and
legs (account, amount) are the same (memos are not compared), and raises
``IdempotencyConflictError`` otherwise.

Bulk posting (the settlement engine): put the legs in a table of your own (or compute them in
one SELECT), then call ``journal_post_bulk`` with a query returning ``BULK_LEG_COLUMNS``; or
stream ``BulkLeg`` rows into ``journal_post_bulk_rows`` (COPY). One entry is created per
``idempotency_key``, set-based, in one INSERT … SELECT; keys already posted are skipped after
checking they were posted the same way. Serialise runs that may post the same keys (lock the
run's row), and create the accounts first with ``ledger_account_ids_for_organisations``.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import pghistory
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, connection, transaction

from accounts.models import Membership, Organisation, User
from accounts.selectors import platform_finance_require
from core import clock
from core.errors import DomainError
from ledger.models import (
    ACCOUNT_KIND_BY_CODE,
    CURRENCY_CODE_REGEX,
    ORGANISATION_KIND_BY_CODE,
    AccountingPeriod,
    EntryKind,
    JournalEntry,
    JournalLeg,
    LedgerAccount,
    PeriodStatus,
)

MAX_AMOUNT_MINOR = 2**63 - 1
"""The largest magnitude a leg may carry (PostgreSQL bigint)."""

_ENTRY_TABLE = JournalEntry._meta.db_table
_LEG_TABLE = JournalLeg._meta.db_table
_ACCOUNT_TABLE = LedgerAccount._meta.db_table
_ORGANISATION_TABLE = Organisation._meta.db_table
_STAGING_TABLE = "ledger_bulk_legs"
_EXISTING_TABLE = "ledger_bulk_existing"


# --- Errors --------------------------------------------------------------------------------


class LedgerError(ValidationError, DomainError):
    """A posting or period change the ledger refuses; the message says why. A Django
    ValidationError (forms and the API show it by the field) and a DomainError (one base for
    every rule the domain enforces; ValidationError already gives it ``message`` and ``code``)."""

    message: str
    code: str

    error_code = "ledger"

    def __init__(self, message: str) -> None:
        super().__init__(message, code=self.error_code)


class UnbalancedEntryError(LedgerError):
    error_code = "unbalanced_entry"


class ClosedPeriodError(LedgerError):
    error_code = "closed_period"


class IdempotencyConflictError(LedgerError):
    error_code = "idempotency_conflict"


class AlreadyReversedError(LedgerError):
    error_code = "already_reversed"


# --- Accounts ------------------------------------------------------------------------------


def ledger_account_for(
    *,
    code: str,
    currency: str,
    organisation: Organisation | None = None,
    subledger_key: str = "",
) -> LedgerAccount:
    """The account of the chart for this party, currency and sub-ledger, created if new."""
    _require_currency(currency)
    _require_party(code=code, organisation_kind=organisation.kind if organisation else None)
    account, _ = LedgerAccount.objects.get_or_create(
        code=code,
        currency=currency,
        organisation=organisation,
        subledger_key=subledger_key,
        defaults={"kind": ACCOUNT_KIND_BY_CODE[code]},
    )
    return account


def ledger_account_ids_for_organisations(
    *, code: str, currency: str, organisation_ids: Iterable[int], subledger_key: str = ""
) -> dict[int, int]:
    """Organisation id → account id of ``code`` for many parties at once, creating the missing
    accounts set-based (INSERT … SELECT … ON CONFLICT DO NOTHING, then one SELECT)."""
    _require_currency(currency)
    if code not in ORGANISATION_KIND_BY_CODE:
        raise LedgerError(f"{code} is a platform account, not one per organisation.")
    wanted = sorted(set(organisation_ids))
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            INSERT INTO {_ACCOUNT_TABLE}
                (code, kind, organisation_id, currency, subledger_key, created_at)
            SELECT %(code)s, %(kind)s, o.id, %(currency)s, %(subledger_key)s, %(now)s
              FROM {_ORGANISATION_TABLE} o
             WHERE o.id = ANY(%(ids)s) AND o.kind = %(organisation_kind)s
               AND NOT EXISTS (
                   SELECT 1 FROM {_ACCOUNT_TABLE} a
                    WHERE a.code = %(code)s AND a.organisation_id = o.id
                      AND a.currency = %(currency)s AND a.subledger_key = %(subledger_key)s)
             ORDER BY o.id
            ON CONFLICT ON CONSTRAINT ledger_account_unique DO NOTHING
            """,  # noqa: S608 (only constant table names are interpolated)
            {
                "code": code,
                "kind": ACCOUNT_KIND_BY_CODE[code],
                "currency": currency,
                "subledger_key": subledger_key,
                "ids": wanted,
                "organisation_kind": ORGANISATION_KIND_BY_CODE[code],
                "now": clock.now(),
            },
        )
    account_ids = dict(
        LedgerAccount.objects.filter(
            code=code, currency=currency, subledger_key=subledger_key, organisation_id__in=wanted
        ).values_list("organisation_id", "id")
    )
    missing = [organisation_id for organisation_id in wanted if organisation_id not in account_ids]
    if missing:
        raise LedgerError(
            f"No {ORGANISATION_KIND_BY_CODE[code]} organisation for {code} with ids {missing[:10]}."
        )
    return account_ids


# --- Posting -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LegSpec:
    """One leg to post."""

    account: LedgerAccount
    amount_minor: int
    """Minor units of the entry's currency, signed: debit positive, credit negative."""
    memo: str = ""


def journal_post(
    *,
    kind: str,
    currency: str,
    effective_date: dt.date,
    legs: Sequence[LegSpec],
    memo: str,
    reference: str,
    idempotency_key: str,
    stripe_object_id: str | None = None,
    late_if_closed: bool = False,
) -> JournalEntry:
    """Post one balanced entry (the rules for each ``kind`` are in this module's docstring).
    Posting the same ``idempotency_key`` again returns the first entry. With
    ``late_if_closed`` an ``effective_date`` in a closed period posts a late receipt in the
    open period instead of raising ``ClosedPeriodError`` (module docstring)."""
    if kind == EntryKind.REVERSAL:
        raise LedgerError("Reversals are posted with journal_reverse.")
    return _post(
        kind=kind,
        currency=currency,
        effective_date=effective_date,
        legs=tuple(legs),
        memo=memo,
        reference=reference,
        idempotency_key=idempotency_key,
        stripe_object_id=stripe_object_id,
        reverses=None,
        late_if_closed=late_if_closed,
    )


def journal_reverse(
    *,
    entry: JournalEntry,
    effective_date: dt.date,
    memo: str,
    idempotency_key: str,
    late_if_closed: bool = False,
) -> JournalEntry:
    """Post the mirror image of ``entry`` (every leg negated) dated ``effective_date`` in an
    open period (with ``late_if_closed``, in the open period if that date's is closed). An
    entry is reversed at most once."""
    existing = JournalEntry.objects.filter(reverses=entry).first()
    if existing is not None and existing.idempotency_key != idempotency_key:
        raise AlreadyReversedError(
            f"Journal entry #{entry.pk} is already reversed by entry #{existing.pk}."
        )
    legs = tuple(
        LegSpec(account=leg.account, amount_minor=-leg.amount_minor, memo=leg.memo)
        for leg in entry.legs.select_related("account").order_by("id")
    )
    return _post(
        kind=EntryKind.REVERSAL,
        currency=entry.currency,
        effective_date=effective_date,
        legs=legs,
        memo=memo,
        reference=entry.reference,
        idempotency_key=idempotency_key,
        stripe_object_id=entry.stripe_object_id,
        reverses=entry,
        late_if_closed=late_if_closed,
    )


LATE_RECEIPT_MONTHS_AHEAD = 24
"""How far past today a late receipt looks for an open month before giving up."""


def ledger_posting_date_for(*, day: dt.date) -> dt.date:
    """The date to post an event of ``day`` on: ``day`` while its period is open; else today;
    else (today's period closed too, as when a month was closed before it ended) the first day
    of the next month whose period is open."""
    closed = set(
        AccountingPeriod.objects.filter(status=PeriodStatus.CLOSED).values_list("year", "month")
    )
    if (day.year, day.month) not in closed:
        return day
    candidate = clock.today()
    for _ in range(LATE_RECEIPT_MONTHS_AHEAD):
        if (candidate.year, candidate.month) not in closed:
            return candidate
        candidate = (candidate.replace(day=1) + dt.timedelta(days=32)).replace(day=1)
    raise ClosedPeriodError(
        f"Accounting period {day:%Y-%m} is closed and so is every month up to {candidate:%Y-%m}."
    )


def _late_receipt_memo(memo: str, *, intended: dt.date, posted: dt.date) -> str:
    return (
        f"{memo} [late receipt for {intended:%Y-%m} (dated {intended}): posted {posted} in the "
        f"open period because {intended:%Y-%m} is closed]"
    )


def _post(
    *,
    kind: str,
    currency: str,
    effective_date: dt.date,
    legs: tuple[LegSpec, ...],
    memo: str,
    reference: str,
    idempotency_key: str,
    stripe_object_id: str | None,
    reverses: JournalEntry | None,
    late_if_closed: bool = False,
) -> JournalEntry:
    _require_posting(
        kind=kind,
        currency=currency,
        effective_date=effective_date,
        legs=legs,
        reference=reference,
        idempotency_key=idempotency_key,
    )
    posting = {
        "kind": kind,
        "currency": currency,
        "effective_date": effective_date,
        "reference": reference,
        "stripe_object_id": stripe_object_id,
        "reverses_id": reverses.pk if reverses else None,
    }
    existing = JournalEntry.objects.filter(idempotency_key=idempotency_key).first()
    if existing is not None:
        return _same_posting_or_conflict(existing, posting=posting, legs=legs)
    if not late_if_closed:
        _require_open_period(effective_date)
        return _insert(posting=posting, memo=memo, idempotency_key=idempotency_key, legs=legs)
    # A period may close between choosing the date and inserting (the database then refuses):
    # choose again, once.
    for attempt in (1, 2):
        posted_on = ledger_posting_date_for(day=effective_date)
        late = posted_on != effective_date
        try:
            return _insert(
                posting={**posting, "effective_date": posted_on},
                memo=_late_receipt_memo(memo, intended=effective_date, posted=posted_on)
                if late
                else memo,
                idempotency_key=idempotency_key,
                legs=legs,
                intended_date=effective_date if late else None,
                compare_with=posting,
            )
        except ClosedPeriodError:
            if attempt == 2:
                raise
    raise AssertionError("unreachable")  # pragma: no cover


def _insert(
    *,
    posting: Mapping[str, Any],
    memo: str,
    idempotency_key: str,
    legs: tuple[LegSpec, ...],
    intended_date: dt.date | None = None,
    compare_with: Mapping[str, Any] | None = None,
) -> JournalEntry:
    try:
        with transaction.atomic():
            entry = JournalEntry.objects.create(
                memo=memo,
                idempotency_key=idempotency_key,
                intended_date=intended_date,
                **posting,
            )
            JournalLeg.objects.bulk_create(
                JournalLeg(
                    entry=entry,
                    account=leg.account,
                    amount_minor=leg.amount_minor,
                    currency=posting["currency"],
                    memo=leg.memo,
                )
                for leg in legs
            )
    except IntegrityError as error:
        violated = _violated_constraint(error)
        if violated == "journal_entry_idempotency_key_unique":
            existing = JournalEntry.objects.get(idempotency_key=idempotency_key)
            return _same_posting_or_conflict(existing, posting=compare_with or posting, legs=legs)
        if violated == "royalties_journalentry_reverses_id_key":
            raise AlreadyReversedError(
                f"Journal entry #{posting['reverses_id']} is already reversed."
            ) from error
        if violated == "ledger_period_open":
            raise ClosedPeriodError(_database_message(error)) from error
        raise
    return entry


def _same_posting_or_conflict(
    existing: JournalEntry, *, posting: Mapping[str, Any], legs: tuple[LegSpec, ...]
) -> JournalEntry:
    differences = [
        name
        for name, value in posting.items()
        if (
            existing.intended_date or existing.effective_date
            if name == "effective_date"
            else getattr(existing, name)
        )
        != value
    ]
    stored_legs = Counter(existing.legs.values_list("account_id", "amount_minor"))
    if stored_legs != Counter((leg.account.pk, leg.amount_minor) for leg in legs):
        differences.append("legs")
    if differences:
        raise IdempotencyConflictError(
            f"Idempotency key {existing.idempotency_key!r} was already used for a different "
            f"posting (entry #{existing.pk}); it differs in: {', '.join(differences)}."
        )
    return existing


# --- Bulk posting --------------------------------------------------------------------------


class BulkLeg(NamedTuple):
    """One leg of a bulk posting; legs sharing an ``idempotency_key`` form one entry."""

    idempotency_key: str
    reference: str
    currency: str
    account_id: int
    amount_minor: int
    """Minor units, signed: debit positive, credit negative. Zero legs are dropped."""
    memo: str = ""


BULK_LEG_COLUMNS = BulkLeg._fields
"""The columns, by name, of the query given to ``journal_post_bulk``."""


@dataclass(frozen=True, slots=True)
class BulkPostResult:
    entries_created: int
    legs_created: int
    entries_already_posted: int
    """Keys found already posted (the same way: a different posting raises)."""


def journal_post_bulk(
    *,
    kind: str,
    effective_date: dt.date,
    memo: str,
    legs_query: str,
    params: Sequence[Any] | Mapping[str, Any] | None = None,
) -> BulkPostResult:
    """Post one entry per ``idempotency_key`` from ``legs_query``, a SELECT (with ``%s`` or
    ``%(name)s`` placeholders for ``params``; trusted code only, never user input) returning
    the columns ``BULK_LEG_COLUMNS``. Set-based: the legs are staged with one INSERT … SELECT,
    checked with a few aggregate queries, and posted with one INSERT … SELECT."""
    columns = ", ".join(BULK_LEG_COLUMNS)
    with transaction.atomic(), connection.cursor() as cursor:
        _staging_create(cursor)
        cursor.execute(
            f"INSERT INTO {_STAGING_TABLE} ({columns}) "  # noqa: S608 (table names are constants)
            f"SELECT {columns} FROM ({legs_query}) AS legs WHERE legs.amount_minor <> 0",
            params,
        )
        return _post_staged(cursor, kind=kind, effective_date=effective_date, memo=memo)


def journal_post_bulk_rows(
    *, kind: str, effective_date: dt.date, memo: str, rows: Iterable[BulkLeg]
) -> BulkPostResult:
    """``journal_post_bulk`` for legs computed in Python: streamed into the staging table with
    COPY (bounded memory), then posted the same way."""
    columns = ", ".join(BULK_LEG_COLUMNS)
    with transaction.atomic(), connection.cursor() as cursor:
        _staging_create(cursor)
        with cursor.copy(f"COPY {_STAGING_TABLE} ({columns}) FROM STDIN") as copy:
            for row in rows:
                if row.amount_minor:
                    copy.write_row(row)
        return _post_staged(cursor, kind=kind, effective_date=effective_date, memo=memo)


def _staging_create(cursor: Any) -> None:
    cursor.execute(
        f"""
        CREATE TEMP TABLE IF NOT EXISTS {_STAGING_TABLE} (
            idempotency_key text NOT NULL,
            reference text NOT NULL,
            currency text NOT NULL,
            account_id bigint NOT NULL,
            amount_minor bigint NOT NULL,
            memo text NOT NULL DEFAULT ''
        ) ON COMMIT DELETE ROWS
        """
    )
    cursor.execute(f"TRUNCATE {_STAGING_TABLE}")


def _post_staged(cursor: Any, *, kind: str, effective_date: dt.date, memo: str) -> BulkPostResult:
    if kind not in EntryKind.values or kind == EntryKind.REVERSAL:
        raise LedgerError(f"{kind!r} is not an entry kind that can be bulk-posted.")
    _require_date(effective_date)
    _require_open_period(effective_date)
    cursor.execute(f"ANALYZE {_STAGING_TABLE}")
    _require_staged_entries_balanced(cursor)
    already_posted = _require_staged_keys_posted_alike(
        cursor, kind=kind, effective_date=effective_date
    )
    try:
        cursor.execute(
            f"""
            WITH entries AS (
                INSERT INTO {_ENTRY_TABLE}
                    (kind, effective_date, memo, reference, idempotency_key, currency)
                SELECT %(kind)s, %(effective_date)s, %(memo)s,
                       min(s.reference), s.idempotency_key, min(s.currency)
                  FROM {_STAGING_TABLE} s
                 WHERE s.idempotency_key NOT IN (SELECT idempotency_key FROM {_EXISTING_TABLE})
                 GROUP BY s.idempotency_key
                 ORDER BY s.idempotency_key
                RETURNING id, idempotency_key
            ), legs AS (
                INSERT INTO {_LEG_TABLE} (entry_id, account_id, amount_minor, currency, memo)
                SELECT e.id, s.account_id, s.amount_minor, s.currency, s.memo
                  FROM {_STAGING_TABLE} s JOIN entries e USING (idempotency_key)
                RETURNING 1
            )
            SELECT (SELECT count(*) FROM entries), (SELECT count(*) FROM legs)
            """,  # noqa: S608 (only constant table names are interpolated)
            {"kind": kind, "effective_date": effective_date, "memo": memo},
        )
    except IntegrityError as error:
        if _violated_constraint(error) == "ledger_period_open":
            raise ClosedPeriodError(_database_message(error)) from error
        raise
    entries_created, legs_created = cursor.fetchone()
    cursor.execute(f"DROP TABLE {_EXISTING_TABLE}")
    cursor.execute(f"TRUNCATE {_STAGING_TABLE}")
    return BulkPostResult(
        entries_created=entries_created,
        legs_created=legs_created,
        entries_already_posted=already_posted,
    )


def _require_staged_entries_balanced(cursor: Any) -> None:
    cursor.execute(
        f"""
        SELECT s.idempotency_key, count(*), sum(s.amount_minor), min(s.currency),
               max(s.currency), count(*) FILTER (WHERE a.currency IS DISTINCT FROM s.currency)
          FROM {_STAGING_TABLE} s
          LEFT JOIN {_ACCOUNT_TABLE} a ON a.id = s.account_id
         GROUP BY s.idempotency_key
        HAVING count(*) < 2
            OR sum(s.amount_minor) <> 0
            OR min(s.currency) <> max(s.currency)
            OR min(s.currency) !~ %(currency_regex)s
            OR min(s.reference) <> max(s.reference)
            OR min(s.reference) = ''
            OR max(length(s.reference)) > %(max_reference)s
            OR s.idempotency_key = ''
            OR length(s.idempotency_key) > %(max_key)s
            OR count(*) FILTER (WHERE a.currency IS DISTINCT FROM s.currency) > 0
         ORDER BY s.idempotency_key
         LIMIT 5
        """,  # noqa: S608 (only constant table names are interpolated)
        {
            "currency_regex": CURRENCY_CODE_REGEX,
            "max_reference": JournalEntry._meta.get_field("reference").max_length,
            "max_key": JournalEntry._meta.get_field("idempotency_key").max_length,
        },
    )
    problems = cursor.fetchall()
    if problems:
        described = "; ".join(
            f"{key!r}: {count} legs summing to {total} in {low}..{high}, "
            f"{stray} not on an account in that currency"
            for key, count, total, low, high, stray in problems
        )
        raise UnbalancedEntryError(
            "Every entry needs two or more legs in one currency (its accounts' too) summing to "
            f"zero, one non-empty reference and a key of at most 200 characters: {described}."
        )


def _require_staged_keys_posted_alike(cursor: Any, *, kind: str, effective_date: dt.date) -> int:
    """How many staged keys are already posted; raises if any was posted differently."""
    cursor.execute(
        f"""
        CREATE TEMP TABLE {_EXISTING_TABLE} ON COMMIT DROP AS
        SELECT e.*
          FROM (SELECT DISTINCT idempotency_key FROM {_STAGING_TABLE}) AS k
         CROSS JOIN LATERAL (
               SELECT e.id, e.idempotency_key, e.kind, e.effective_date, e.reference,
                      e.currency, e.stripe_object_id, e.reverses_id
                 FROM {_ENTRY_TABLE} e
                WHERE e.idempotency_key = k.idempotency_key
                LIMIT 1) AS e
        """  # noqa: S608 (only constant table names are interpolated)
    )
    cursor.execute(f"SELECT count(*) FROM {_EXISTING_TABLE}")  # noqa: S608
    (already_posted,) = cursor.fetchone()
    if already_posted:
        cursor.execute(
            f"""
            WITH staged AS (
                SELECT x.idempotency_key, s.account_id, s.amount_minor
                  FROM {_STAGING_TABLE} s JOIN {_EXISTING_TABLE} x USING (idempotency_key)
            ), stored AS (
                SELECT x.idempotency_key, l.account_id, l.amount_minor
                  FROM {_EXISTING_TABLE} x
                 CROSS JOIN LATERAL (
                       SELECT account_id, amount_minor FROM {_LEG_TABLE}
                        WHERE entry_id = x.id
                       OFFSET 0) AS l
            ), differing AS (
                (SELECT * FROM staged EXCEPT ALL SELECT * FROM stored)
                UNION ALL
                (SELECT * FROM stored EXCEPT ALL SELECT * FROM staged)
            )
            SELECT idempotency_key FROM differing
            UNION
            SELECT x.idempotency_key
              FROM {_EXISTING_TABLE} x
              JOIN (SELECT idempotency_key, min(reference) AS reference,
                           min(currency) AS currency
                      FROM {_STAGING_TABLE} GROUP BY idempotency_key) s USING (idempotency_key)
             WHERE x.kind <> %(kind)s OR x.effective_date <> %(effective_date)s
                OR x.reference <> s.reference OR x.currency <> s.currency
                OR x.stripe_object_id IS NOT NULL OR x.reverses_id IS NOT NULL
             ORDER BY 1
             LIMIT 5
            """,  # noqa: S608 (only constant table names are interpolated)
            {"kind": kind, "effective_date": effective_date},
        )
        conflicting = [key for (key,) in cursor.fetchall()]
        if conflicting:
            raise IdempotencyConflictError(
                f"Idempotency keys already used for different postings: {conflicting}."
            )
    return already_posted


# --- Accounting periods --------------------------------------------------------------------


def accounting_period_for(*, day: dt.date) -> AccountingPeriod:
    """The accounting period (calendar month) containing ``day``, created open if new."""
    period, _ = AccountingPeriod.objects.get_or_create(year=day.year, month=day.month)
    return period


@transaction.atomic
def period_close(*, period: AccountingPeriod, actor: User) -> AccountingPeriod:
    """Close a period to postings. Locking its row waits for postings in flight into it
    (each holds a share lock on the period until it commits)."""
    platform_finance_require(user=actor, action="close an accounting period")
    locked = AccountingPeriod.objects.select_for_update().get(pk=period.pk)
    if locked.status == PeriodStatus.CLOSED:
        raise LedgerError(f"Accounting period {locked.label} is already closed.")
    with pghistory.context(action="period_close", actor_id=actor.pk):
        locked.close(by=actor, at=clock.now())
        locked.save(update_fields=["status", "closed_at", "closed_by"])
    return locked


@transaction.atomic
def period_reopen(*, period: AccountingPeriod, actor: User, reason: str) -> AccountingPeriod:
    """Reopen a closed period: only an owner of the platform organisation may, with a reason;
    the change is kept in the period's history."""
    _require_platform_role(
        actor, roles=(Membership.Role.OWNER,), action="reopen an accounting period"
    )
    reason = reason.strip()
    if not reason:
        raise LedgerError("Reopening an accounting period needs a reason.")
    locked = AccountingPeriod.objects.select_for_update().get(pk=period.pk)
    if locked.status != PeriodStatus.CLOSED:
        raise LedgerError(f"Accounting period {locked.label} is not closed.")
    with pghistory.context(action="period_reopen", actor_id=actor.pk, reason=reason):
        locked.reopen(by=actor, at=clock.now(), reason=reason)
        locked.save(update_fields=["status", "reopened_at", "reopened_by", "reopen_reason"])
    return locked


# --- Selectors -----------------------------------------------------------------------------


# --- Checks --------------------------------------------------------------------------------


def _require_posting(
    *,
    kind: str,
    currency: str,
    effective_date: dt.date,
    legs: tuple[LegSpec, ...],
    reference: str,
    idempotency_key: str,
) -> None:
    if kind not in EntryKind.values:
        raise LedgerError(f"{kind!r} is not an entry kind: one of {', '.join(EntryKind.values)}.")
    _require_currency(currency)
    _require_date(effective_date)
    if not reference or len(reference) > 100:
        raise LedgerError("An entry needs a reference of 1 to 100 characters.")
    if not idempotency_key or len(idempotency_key) > 200:
        raise LedgerError("An entry needs an idempotency key of 1 to 200 characters.")
    if len(legs) < 2:
        raise UnbalancedEntryError(f"An entry needs two or more legs, not {len(legs)}.")
    for leg in legs:
        amount = leg.amount_minor
        if isinstance(amount, bool) or not isinstance(amount, int):
            raise LedgerError(f"Leg amounts are integers in minor units, not {amount!r}.")
        if amount == 0 or abs(amount) > MAX_AMOUNT_MINOR:
            raise LedgerError(f"A leg amount must be non-zero and fit in 64 bits, not {amount}.")
        if leg.account.pk is None:
            raise LedgerError("Post only to saved accounts (use ledger_account_for).")
        if leg.account.currency != currency:
            raise UnbalancedEntryError(
                f"Account {leg.account} is in {leg.account.currency}, the entry in {currency}."
            )
    total = sum(leg.amount_minor for leg in legs)
    if total != 0:
        debits = sum(leg.amount_minor for leg in legs if leg.amount_minor > 0)
        raise UnbalancedEntryError(
            f"The legs sum to {total} {currency} minor units instead of zero "
            f"(debits {debits}, credits {debits - total})."
        )


def _require_currency(currency: str) -> None:
    if not (isinstance(currency, str) and len(currency) == 3 and currency.isascii()):
        raise LedgerError(f"A currency is a 3-letter ISO 4217 code, not {currency!r}.")
    if not (currency.isalpha() and currency.isupper()):
        raise LedgerError(f"Currency codes are uppercase letters: {currency!r}.")


def _require_date(effective_date: dt.date) -> None:
    if isinstance(effective_date, dt.datetime) or not isinstance(effective_date, dt.date):
        raise LedgerError(f"The effective date is a date, not {effective_date!r}.")


def _require_party(*, code: str, organisation_kind: str | None) -> None:
    if code not in ACCOUNT_KIND_BY_CODE:
        raise LedgerError(f"{code!r} is not in the chart of accounts.")
    wanted_kind = ORGANISATION_KIND_BY_CODE.get(code)
    if wanted_kind is None and organisation_kind is not None:
        raise LedgerError(f"{code} is a platform account: it has no organisation.")
    if wanted_kind is not None and organisation_kind != wanted_kind:
        raise LedgerError(f"{code} belongs to an organisation of kind {wanted_kind}.")


def _require_open_period(effective_date: dt.date) -> None:
    period = AccountingPeriod.objects.filter(
        year=effective_date.year, month=effective_date.month, status=PeriodStatus.CLOSED
    ).first()
    if period is not None:
        raise ClosedPeriodError(
            f"Accounting period {period.label} is closed: post corrections into the open "
            "period as adjustments."
        )


def _require_platform_role(actor: User, *, roles: Sequence[str], action: str) -> None:
    allowed = Membership.objects.filter(
        user=actor, role__in=roles, organisation__kind=Organisation.Kind.PLATFORM
    ).exists()
    if not allowed:
        raise PermissionDenied(
            f"Only the platform organisation's {' or '.join(roles)} may {action}."
        )


def _violated_constraint(error: IntegrityError) -> str | None:
    diagnostics = getattr(error.__cause__, "diag", None)
    return getattr(diagnostics, "constraint_name", None)


def _database_message(error: IntegrityError) -> str:
    diagnostics = getattr(error.__cause__, "diag", None)
    message = getattr(diagnostics, "message_primary", None) or str(error)
    return message.removeprefix("ledger: ")
