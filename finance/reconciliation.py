"""Reconciling the ledger with Stripe: import, match, classify, resolve.

Import
    ``stripe_balance_transactions_import`` pages through Stripe's balance transactions of the
    platform account (through the gateway) and upserts them by Stripe id, in batches: running
    it twice imports nothing new, and a pending transaction that became available is updated.

Match
    Per Stripe object (a balance transaction's ``source``; entries carry it as
    ``stripe_object_id``), Stripe's side is the sum of its balance transactions' ``net`` and
    ``fee``; the ledger's side the sum of its entries' ``platform_cash`` legs (the balance's
    change, debit positive; the ``bank`` sub-ledger is not the Stripe balance and is left out)
    and ``stripe_fees`` legs. The platform's bank payouts (``payout`` transactions, source
    ``po_``) match the entries ``finance.bank_payouts`` posts on ``payout.paid``, and a
    failed or cancelled one nets to zero on both sides. The objects compared are those Stripe moved
    money for in the window plus those the ledger dated in it; each is compared over all time,
    so an entry dated in another period than Stripe's transaction is a timing difference, not a
    missing one.

Classify (one exception per object, the first that applies)
    - ``missing_in_ledger``: Stripe moved money, the ledger has no (non-zero) entry;
    - ``missing_in_stripe``: the ledger moved ``platform_cash``, Stripe has no transaction
      (asked again by source, in case it was outside the imported window);
    - ``currency_mismatch``: the two sides are in different currencies;
    - ``fee_mismatch``: the gross (net + fee) agrees, the fee does not;
    - ``amount_mismatch``: the gross differs;
    - ``timing``: amounts agree but Stripe still holds the money pending, or the ledger dated
      it in another accounting period than Stripe.

Resolve
    Every resolution needs a reason and is audited (pghistory, with the actor). ``acknowledge``
    moves no money (timing, or a difference explained elsewhere); ``adjust_to_stripe`` posts an
    ``adjustment`` entry carrying the Stripe object's id that brings the ledger's cash and fee
    to Stripe's (the remainder, if any, to a platform counter-account the resolver picks; for
    a platform bank payout missing from the ledger, the bank payout's own entry);
    ``reverse_ledger`` reverses the ledger's entries for the object (money that never moved).
    Adjustments are dated on the original date while its period is open, otherwise they are
    late receipts in the open period (``journal_post(late_if_closed=True)``).

A later run that finds no difference for an unresolved exception resolves it as cleared.

Failed postings
    A Stripe event whose handlers raised (``payments.events.stripe_event_failed``) left the
    money it reports unposted: it becomes a ``posting_failed`` exception (one unresolved per
    event; ``stripe_object_id`` is the event's id; dated on the event's day, so it holds that
    month open) with the error and the event's amount. ``reconciliation_exception_retry`` runs
    the event's handlers again: on success the exception resolves (by the finance user who
    retried); when they fail again it stays open with the new error. The beat's automatic
    retry that succeeds resolves it too (``stripe_event_recovered``).
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass, replace
from itertools import islice
from typing import Any

import pghistory
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q, Sum

from accounts.models import Membership, Organisation, User
from accounts.selectors import (
    platform_finance_require,
    platform_finance_user_check,
)
from core import clock
from core.errors import DomainError
from core.tasks import task_queue
from finance.bank_payouts import bank_payout_record
from finance.models import (
    ExceptionKind,
    ExceptionStatus,
    ReconciliationComment,
    ReconciliationException,
    ReconciliationRun,
    StripeBalanceTransaction,
)
from finance.selectors import period_window
from ledger.models import (
    AccountCode,
    AccountingPeriod,
    EntryKind,
    JournalEntry,
    JournalLeg,
)
from ledger.services import LegSpec, journal_post, journal_reverse, ledger_account_for
from payments import gateway
from payments.events import stripe_event_process
from payments.models import StripeEvent, StripePayment
from payouts.models import Collection

IMPORT_BATCH_SIZE = 500

BANK_PAYOUT_TYPES = frozenset({"payout", "payout_failure", "payout_cancel"})

COUNTER_ACCOUNT_CODES = (
    AccountCode.PLATFORM_EQUITY,
    AccountCode.WRITE_OFFS,
    AccountCode.PLATFORM_COMMISSION,
    AccountCode.DISPUTE_LOSSES,
)
"""Platform accounts an adjustment may balance against when cash and fee alone don't."""

STRIPE_BALANCE_LEGS = Q(account__code=AccountCode.STRIPE_FEES) | Q(
    account__code=AccountCode.PLATFORM_CASH, account__subledger_key=""
)
"""The legs Stripe's balance transactions are compared with: the Stripe balance itself
(``platform_cash`` without a sub-ledger; the ``bank`` sub-ledger is the platform's bank account,
see ``finance.bank_payouts``) and Stripe's fees."""


class ReconciliationError(ValidationError, DomainError):
    """A reconciliation step the rules refuse (see ``ledger.services.LedgerError``)."""

    message: str
    code: str

    def __init__(self, message: str, code: str = "reconciliation") -> None:
        super().__init__(message, code=code)


class Resolution:
    ACKNOWLEDGE = "acknowledge"
    ADJUST_TO_STRIPE = "adjust_to_stripe"
    REVERSE_LEDGER = "reverse_ledger"
    CHOICES = (
        (ACKNOWLEDGE, "Acknowledge: no money moves"),
        (ADJUST_TO_STRIPE, "Post an adjustment bringing the ledger to Stripe"),
        (REVERSE_LEDGER, "Reverse the ledger's entries (the money never moved)"),
    )


# --- Who may ---------------------------------------------------------------------------------


# --- Windows ---------------------------------------------------------------------------------


def _epoch(moment: dt.datetime) -> int:
    return int(moment.timestamp())


def _from_epoch(seconds: int) -> dt.datetime:
    return dt.datetime.fromtimestamp(seconds, tz=dt.UTC)


# --- Import ----------------------------------------------------------------------------------


def _row(txn: Any) -> StripeBalanceTransaction:
    source = txn.source
    if source is not None and not isinstance(source, str):
        source = source.id
    return StripeBalanceTransaction(
        stripe_id=txn.id,
        type=txn.type,
        amount_minor=int(txn.amount),
        fee_minor=int(txn.fee),
        net_minor=int(txn.net),
        currency=str(txn.currency).upper(),
        status=txn.status,
        available_on=_from_epoch(int(txn.available_on)),
        source_id=source or "",
        account_id="",
        created=_from_epoch(int(txn.created)),
    )


def _upsert(rows: list[StripeBalanceTransaction]) -> None:
    StripeBalanceTransaction.objects.bulk_create(
        rows,
        update_conflicts=True,
        unique_fields=["stripe_id"],
        update_fields=["status", "available_on", "imported_at"],
    )


def _batched(items: Iterable[Any], size: int) -> Iterator[list[Any]]:
    iterator = iter(items)
    while batch := list(islice(iterator, size)):
        yield batch


def stripe_balance_transactions_import(
    *, created_gte: dt.datetime | None = None, created_lt: dt.datetime | None = None
) -> int:
    """Import the platform's balance transactions created in the window (all without one),
    page by page; returns how many were read. Idempotent."""
    transactions = gateway.balance_transactions(
        created_gte=_epoch(created_gte) if created_gte else None,
        created_lt=_epoch(created_lt) if created_lt else None,
    )
    count = 0
    for batch in _batched(transactions, IMPORT_BATCH_SIZE):
        _upsert([_row(txn) for txn in batch])
        count += len(batch)
    return count


def stripe_balance_transactions_import_recent(*, days: int = 3) -> int:
    """The daily import (Celery beat): the last few days, overlapping so nothing is missed."""
    now = clock.now()
    return stripe_balance_transactions_import(created_gte=now - dt.timedelta(days=days))


def _import_sources(source_ids: Iterable[str]) -> None:
    for source_id in source_ids:
        rows = [_row(txn) for txn in gateway.balance_transactions(source=source_id)]
        if rows:
            _upsert(rows)


# --- Match and classify ----------------------------------------------------------------------


@dataclass
class StripeSide:
    net: int = 0
    fee: int = 0
    currencies: frozenset[str] = frozenset()
    pending: bool = False
    created: dt.datetime | None = None
    first_txn_id: int | None = None


@dataclass
class LedgerSide:
    cash: int = 0
    fee: int = 0
    currencies: frozenset[str] = frozenset()
    effective_date: dt.date | None = None
    entry_id: int | None = None


@dataclass(frozen=True)
class Difference:
    kind: str
    stripe_object_id: str
    currency: str
    expected_minor: int
    actual_minor: int
    occurred_on: dt.date
    detail: str
    entry_id: int | None
    balance_transaction_id: int | None


def _stripe_sides(source_ids: Iterable[str]) -> dict[str, StripeSide]:
    sides: dict[str, StripeSide] = defaultdict(StripeSide)
    rows = StripeBalanceTransaction.objects.filter(source_id__in=list(source_ids)).order_by(
        "created", "id"
    )
    for txn in rows.values_list(
        "id", "source_id", "net_minor", "fee_minor", "currency", "status", "created"
    ):
        pk, source, net, fee, currency, status, created = txn
        side = sides[source]
        side.net += net
        side.fee += fee
        side.currencies = side.currencies | {currency}
        side.pending = side.pending or status == "pending"
        if side.created is None:
            side.created, side.first_txn_id = created, pk
    return dict(sides)


def _ledger_sides(stripe_object_ids: Iterable[str]) -> dict[str, LedgerSide]:
    sides: dict[str, LedgerSide] = defaultdict(LedgerSide)
    ids = list(stripe_object_ids)
    entries = JournalEntry.objects.filter(stripe_object_id__in=ids).order_by("effective_date", "id")
    for entry_id, object_id, currency, effective_date in entries.values_list(
        "id", "stripe_object_id", "currency", "effective_date"
    ):
        side = sides[str(object_id)]
        side.currencies = side.currencies | {currency}
        if side.entry_id is None:
            side.entry_id, side.effective_date = entry_id, effective_date
    legs = (
        JournalLeg.objects.filter(entry__stripe_object_id__in=ids)
        .filter(STRIPE_BALANCE_LEGS)
        .values("entry__stripe_object_id", "account__code")
        .annotate(total=Sum("amount_minor"))
        .order_by()
    )
    for row in legs:
        side = sides[str(row["entry__stripe_object_id"])]
        if row["account__code"] == AccountCode.PLATFORM_CASH:
            side.cash += int(row["total"])
        else:
            side.fee += int(row["total"])
    return dict(sides)


def _month(day: dt.date) -> tuple[int, int]:
    return day.year, day.month


def _duplicate_payments_named(differences: list[Difference]) -> list[Difference]:
    """A charge Stripe holds and the ledger lacks that pays an invoice another charge already
    paid is a duplicate payment (the automatic refund missed it): name it so finance refunds
    it, rather than post it as income."""
    missing = [d.stripe_object_id for d in differences if d.kind == ExceptionKind.MISSING_IN_LEDGER]
    if not missing:
        return differences
    paid_by: dict[str, Collection] = {}
    for charge_id in missing:
        if not charge_id.startswith(("ch_", "py_")):
            continue
        raw = _collection_id_paid_by(charge_id)
        collection = Collection.objects.filter(pk=int(raw)).first() if raw.isdigit() else None
        if collection is not None and collection.charge_id not in (None, charge_id):
            paid_by[charge_id] = collection
    return [
        replace(
            d,
            kind=ExceptionKind.DUPLICATE_PAYMENT,
            detail=(
                f"Invoice {paid_by[d.stripe_object_id].pk} was already paid by "
                f"{paid_by[d.stripe_object_id].charge_id}; this second payment is neither in "
                "the ledger nor refunded. Refund it to the licensee."
            )[:300],
        )
        if d.stripe_object_id in paid_by
        else d
        for d in differences
    ]


def _collection_id_paid_by(charge_id: str) -> str:
    """The invoice a charge says it pays (its metadata, or its PaymentIntent's), as Stripe has
    it when no event told us of the charge."""
    payment = StripePayment.objects.filter(stripe_charge_id=charge_id).first()
    metadata = dict(payment.metadata or {}) if payment is not None else {}
    if not metadata.get("collection_id"):
        charge = gateway.charge_retrieve(charge_id=charge_id)
        metadata = charge.metadata.to_dict() if charge.metadata else {}
        intent_id = charge.payment_intent if isinstance(charge.payment_intent, str) else ""
        if not metadata.get("collection_id") and intent_id:
            intent = gateway.payment_intent_retrieve(payment_intent_id=intent_id)
            metadata = intent.metadata.to_dict() if intent.metadata else {}
    return str(metadata.get("collection_id") or "")


def classify(
    *, stripe_object_id: str, stripe: StripeSide | None, ledger: LedgerSide | None
) -> Difference | None:
    """The difference for one Stripe object, or None when the two sides agree."""
    ledger_moves = ledger is not None and (ledger.cash != 0 or ledger.fee != 0)
    stripe_moves = stripe is not None and (stripe.net != 0 or stripe.fee != 0)

    def make(kind: str, expected: int, actual: int, detail: str) -> Difference:
        if stripe is not None and stripe.created is not None:
            occurred = stripe.created.date()
        else:
            assert ledger is not None and ledger.effective_date is not None
            occurred = ledger.effective_date
        currencies = stripe.currencies if stripe else frozenset()
        if not currencies:
            assert ledger is not None
            currencies = ledger.currencies
        currency = sorted(currencies)[0]
        return Difference(
            kind=kind,
            stripe_object_id=stripe_object_id,
            currency=currency,
            expected_minor=expected,
            actual_minor=actual,
            occurred_on=occurred,
            detail=detail[:300],
            entry_id=ledger.entry_id if ledger else None,
            balance_transaction_id=stripe.first_txn_id if stripe else None,
        )

    if stripe is None or not stripe.currencies:
        if not ledger_moves:
            return None
        assert ledger is not None
        return make(
            ExceptionKind.MISSING_IN_STRIPE,
            ledger.cash,
            0,
            f"The ledger moved {ledger.cash} on platform_cash; Stripe has no transaction.",
        )
    if not ledger_moves:
        if not stripe_moves:
            return None
        return make(
            ExceptionKind.MISSING_IN_LEDGER,
            0,
            stripe.net,
            f"Stripe moved net {stripe.net} (fee {stripe.fee}); the ledger has no entry.",
        )
    assert ledger is not None
    if stripe.currencies != ledger.currencies:
        return make(
            ExceptionKind.CURRENCY_MISMATCH,
            ledger.cash,
            stripe.net,
            f"Stripe in {', '.join(sorted(stripe.currencies))}, "
            f"the ledger in {', '.join(sorted(ledger.currencies))}.",
        )
    stripe_gross, ledger_gross = stripe.net + stripe.fee, ledger.cash + ledger.fee
    if stripe_gross != ledger_gross:
        return make(
            ExceptionKind.AMOUNT_MISMATCH,
            ledger_gross,
            stripe_gross,
            f"Gross {ledger_gross} in the ledger, {stripe_gross} at Stripe "
            f"(net {ledger.cash} / {stripe.net}, fee {ledger.fee} / {stripe.fee}).",
        )
    if stripe.fee != ledger.fee:
        return make(
            ExceptionKind.FEE_MISMATCH,
            ledger.fee,
            stripe.fee,
            f"Fee {ledger.fee} in the ledger, {stripe.fee} at Stripe.",
        )
    if stripe.pending:
        return make(
            ExceptionKind.TIMING,
            ledger.cash,
            stripe.net,
            "Stripe still holds the funds pending (not yet available).",
        )
    assert stripe.created is not None and ledger.effective_date is not None
    if _month(stripe.created.date()) != _month(ledger.effective_date):
        return make(
            ExceptionKind.TIMING,
            ledger.cash,
            stripe.net,
            f"Dated {ledger.effective_date} in the ledger, {stripe.created.date()} at Stripe.",
        )
    return None


# --- Runs ------------------------------------------------------------------------------------


def reconciliation_run_create(
    *, window_start: dt.datetime, window_end: dt.datetime, actor: User | None = None
) -> ReconciliationRun:
    if window_end <= window_start:
        raise ReconciliationError("The window must end after it starts.")
    return ReconciliationRun.objects.create(
        window_start=window_start, window_end=window_end, created_by=actor
    )


def reconciliation_run_for_period(
    *, period: AccountingPeriod, actor: User | None = None
) -> ReconciliationRun:
    """Create and execute a run over a period's month (on demand, in-process)."""
    start, end = period_window(period)
    run = reconciliation_run_create(window_start=start, window_end=end, actor=actor)
    return reconciliation_run_execute(run_id=run.pk)


def reconciliation_run_queue(
    *, period: AccountingPeriod, actor: User | None = None
) -> ReconciliationRun:
    """Create a run over a period's month and hand it to a worker (on demand, from the API
    and the console)."""
    start, end = period_window(period)
    run = reconciliation_run_create(window_start=start, window_end=end, actor=actor)
    transaction.on_commit(lambda: task_queue("finance.tasks.reconciliation_run_task", run.pk))
    return run


def reconciliation_run_execute(*, run_id: int) -> ReconciliationRun:
    """Import the window's balance transactions, compare, and record the differences."""
    run = ReconciliationRun.objects.get(pk=run_id)
    if run.status != ReconciliationRun.Status.RUNNING:
        return run
    try:
        imported = stripe_balance_transactions_import(
            created_gte=run.window_start, created_lt=run.window_end
        )
        _compare(run, imported=imported)
    except Exception as error:
        with transaction.atomic():
            run = ReconciliationRun.objects.select_for_update().get(pk=run_id)
            run.fail(error=str(error)[:2000])
            run.save(update_fields=["status", "error"])
        raise
    return ReconciliationRun.objects.get(pk=run_id)


def _compare(run: ReconciliationRun, *, imported: int) -> None:
    in_window = StripeBalanceTransaction.objects.filter(
        created__gte=run.window_start, created__lt=run.window_end
    ).exclude(source_id="")
    stripe_ids = set(in_window.values_list("source_id", flat=True).distinct())
    ledger_ids = {
        str(object_id)
        for object_id in JournalEntry.objects.filter(
            effective_date__gte=run.window_start.date(),
            effective_date__lt=run.window_end.date(),
            stripe_object_id__isnull=False,
        )
        .values_list("stripe_object_id", flat=True)
        .distinct()
    }
    known = set(
        StripeBalanceTransaction.objects.filter(source_id__in=ledger_ids - stripe_ids)
        .values_list("source_id", flat=True)
        .distinct()
    )
    _import_sources(sorted(ledger_ids - stripe_ids - known))
    object_ids = stripe_ids | ledger_ids
    stripe_sides = _stripe_sides(object_ids)
    ledger_sides = _ledger_sides(object_ids)

    differences: list[Difference] = []
    totals: dict[str, dict[str, int]] = defaultdict(
        lambda: {"stripe_net": 0, "ledger_net": 0, "matched_net": 0, "matched_count": 0}
    )
    for object_id in sorted(object_ids):
        stripe, ledger = stripe_sides.get(object_id), ledger_sides.get(object_id)
        difference = classify(stripe_object_id=object_id, stripe=stripe, ledger=ledger)
        for side_currencies, amount, key in (
            (stripe.currencies if stripe else frozenset(), stripe.net if stripe else 0, "stripe"),
            (ledger.currencies if ledger else frozenset(), ledger.cash if ledger else 0, "ledger"),
        ):
            if len(side_currencies) == 1:
                totals[next(iter(side_currencies))][f"{key}_net"] += amount
        if difference is None:
            if stripe is not None and len(stripe.currencies) == 1:
                currency_totals = totals[next(iter(stripe.currencies))]
                currency_totals["matched_net"] += stripe.net
                currency_totals["matched_count"] += 1
        else:
            differences.append(difference)
    differences = _duplicate_payments_named(differences)

    with transaction.atomic(), pghistory.context(action="reconciliation_run", run_id=run.pk):
        locked = ReconciliationRun.objects.select_for_update().get(pk=run.pk)
        found = {(d.stripe_object_id, d.kind) for d in differences}
        open_exceptions = (
            ReconciliationException.objects.select_for_update()
            .filter(stripe_object_id__in=object_ids)
            .exclude(status=ExceptionStatus.RESOLVED)
        )
        now = clock.now()
        for exception in open_exceptions:
            if (exception.stripe_object_id, exception.kind) not in found:
                exception.resolve(
                    by=locked.created_by or _platform_owner(),
                    at=now,
                    reason=f"Cleared: reconciliation run #{locked.pk} found no difference.",
                )
                exception.save()
        for difference in differences:
            _record(locked, difference)
        locked.imported_count = imported
        locked.matched_count = sum(t["matched_count"] for t in totals.values())
        locked.exception_count = len(differences)
        locked.totals = {currency: dict(values) for currency, values in sorted(totals.items())}
        locked.complete(at=now)
        locked.save()


def _platform_owner() -> User:
    """Who clears an exception a run found gone when the run has no actor (a scheduled run)."""
    owner = (
        Membership.objects.filter(
            role=Membership.Role.OWNER, organisation__kind=Organisation.Kind.PLATFORM
        )
        .order_by("id")
        .select_related("user")
        .first()
    )
    if owner is None:
        raise ReconciliationError("The platform organisation has no owner to clear exceptions.")
    return owner.user


def _record(run: ReconciliationRun, difference: Difference) -> ReconciliationException:
    fields = {
        "last_seen_run": run,
        "currency": difference.currency,
        "expected_minor": difference.expected_minor,
        "actual_minor": difference.actual_minor,
        "occurred_on": difference.occurred_on,
        "detail": difference.detail,
        "entry_id": difference.entry_id,
        "balance_transaction_id": difference.balance_transaction_id,
    }
    existing = (
        ReconciliationException.objects.filter(
            stripe_object_id=difference.stripe_object_id, kind=difference.kind
        )
        .exclude(status=ExceptionStatus.RESOLVED)
        .first()
    )
    if existing is not None:
        for name, value in fields.items():
            setattr(existing, name, value)
        existing.save()
        return existing
    return ReconciliationException.objects.create(
        run=run, kind=difference.kind, stripe_object_id=difference.stripe_object_id, **fields
    )


# --- The exceptions queue --------------------------------------------------------------------


def _locked(exception: ReconciliationException) -> ReconciliationException:
    return ReconciliationException.objects.select_for_update().get(pk=exception.pk)


def _require_unresolved(exception: ReconciliationException) -> None:
    if exception.status == ExceptionStatus.RESOLVED:
        raise ReconciliationError("This exception is already resolved.")


@transaction.atomic
def reconciliation_exception_assign(
    *, exception: ReconciliationException, assignee: User, actor: User
) -> ReconciliationException:
    platform_finance_require(user=actor)
    if not platform_finance_user_check(user=assignee):
        raise ReconciliationError("Exceptions are assigned to the platform's finance staff.")
    locked = _locked(exception)
    _require_unresolved(locked)
    with pghistory.context(action="exception_assign", actor_id=actor.pk):
        locked.assign(to=assignee)
        locked.save(update_fields=["status", "assignee"])
    return locked


@transaction.atomic
def reconciliation_exception_comment(
    *, exception: ReconciliationException, body: str, actor: User
) -> ReconciliationComment:
    platform_finance_require(user=actor)
    body = body.strip()
    if not body:
        raise ReconciliationError("A comment needs some text.")
    return ReconciliationComment.objects.create(exception=exception, author=actor, body=body)


@transaction.atomic
def reconciliation_exception_resolve(
    *,
    exception: ReconciliationException,
    resolution: str,
    reason: str,
    actor: User,
    counter_account_code: str = AccountCode.WRITE_OFFS,
) -> ReconciliationException:
    """Resolve an exception with a reason; ``adjust_to_stripe`` and ``reverse_ledger`` post
    (never edit) the entries that make the ledger agree with Stripe."""
    platform_finance_require(user=actor)
    reason = reason.strip()
    if not reason:
        raise ReconciliationError("A resolution needs a reason.")
    locked = _locked(exception)
    _require_unresolved(locked)
    adjusting: JournalEntry | None = None
    if resolution == Resolution.ADJUST_TO_STRIPE:
        adjusting = _post_adjustment(locked, reason=reason, counter_code=counter_account_code)
    elif resolution == Resolution.REVERSE_LEDGER:
        adjusting = _reverse_ledger(locked, reason=reason)
    elif resolution != Resolution.ACKNOWLEDGE:
        raise ReconciliationError(f"Unknown resolution {resolution!r}.")
    with pghistory.context(action="exception_resolve", actor_id=actor.pk, resolution=resolution):
        locked.resolve(by=actor, at=clock.now(), reason=reason)
        locked.adjusting_entry = adjusting
        locked.save()
    return locked


def _post_adjustment(
    exception: ReconciliationException, *, reason: str, counter_code: str
) -> JournalEntry:
    if exception.kind in (ExceptionKind.CURRENCY_MISMATCH, ExceptionKind.MISSING_IN_STRIPE):
        raise ReconciliationError(
            "Reverse the ledger's entries for this one (and post the right entry afterwards)."
        )
    if counter_code not in COUNTER_ACCOUNT_CODES:
        raise ReconciliationError(
            f"The counter-account is one of {', '.join(str(c) for c in COUNTER_ACCOUNT_CODES)}."
        )
    object_id = exception.stripe_object_id
    stripe = _stripe_sides([object_id]).get(object_id) or StripeSide()
    if exception.kind == ExceptionKind.MISSING_IN_LEDGER and _is_bank_payout(object_id):
        # The payout.paid event never arrived: post what it would have (the same entry, so a
        # late event changes nothing).
        assert stripe.created is not None
        return bank_payout_record(
            payout_id=object_id,
            amount_minor=-stripe.net,
            currency=exception.currency,
            created=stripe.created,
        )
    ledger = _ledger_sides([object_id]).get(object_id) or LedgerSide()
    currency = exception.currency
    cash_delta, fee_delta = stripe.net - ledger.cash, stripe.fee - ledger.fee
    if cash_delta == 0 and fee_delta == 0:
        raise ReconciliationError("The ledger already agrees with Stripe: acknowledge instead.")
    legs = []
    if cash_delta:
        legs.append(
            LegSpec(
                account=ledger_account_for(code=AccountCode.PLATFORM_CASH, currency=currency),
                amount_minor=cash_delta,
                memo=f"reconciliation: {object_id}",
            )
        )
    if fee_delta:
        legs.append(
            LegSpec(
                account=ledger_account_for(code=AccountCode.STRIPE_FEES, currency=currency),
                amount_minor=fee_delta,
                memo=f"reconciliation: {object_id} fee",
            )
        )
    remainder = cash_delta + fee_delta
    if remainder:
        legs.append(
            LegSpec(
                account=ledger_account_for(code=counter_code, currency=currency),
                amount_minor=-remainder,
                memo=reason[:200],
            )
        )
    return journal_post(
        kind=EntryKind.ADJUSTMENT,
        currency=currency,
        effective_date=exception.occurred_on,
        legs=legs,
        memo=f"Reconciliation exception #{exception.pk}: {reason}"[:1000],
        reference=f"reconciliation_exception:{exception.pk}",
        idempotency_key=f"reconciliation_exception:{exception.pk}:adjust",
        stripe_object_id=object_id,
        late_if_closed=True,
    )


def _is_bank_payout(object_id: str) -> bool:
    """Whether Stripe's transactions for the object are the platform's payout to its bank."""
    types = set(
        StripeBalanceTransaction.objects.filter(source_id=object_id).values_list("type", flat=True)
    )
    return "payout" in types and types <= BANK_PAYOUT_TYPES


def _reverse_ledger(exception: ReconciliationException, *, reason: str) -> JournalEntry:
    if exception.kind not in (ExceptionKind.MISSING_IN_STRIPE, ExceptionKind.CURRENCY_MISMATCH):
        raise ReconciliationError(
            "Reversing the ledger fits money that never moved at Stripe; adjust instead."
        )
    entries = JournalEntry.objects.filter(
        stripe_object_id=exception.stripe_object_id, reversed_by__isnull=True
    ).exclude(kind=EntryKind.REVERSAL)
    last: JournalEntry | None = None
    for entry in entries.order_by("id"):
        last = journal_reverse(
            entry=entry,
            effective_date=entry.effective_date,
            memo=f"Reconciliation exception #{exception.pk}: {reason}"[:1000],
            idempotency_key=f"reconciliation_exception:{exception.pk}:reverse:{entry.pk}",
            late_if_closed=True,
        )
    if last is None:
        raise ReconciliationError("No unreversed ledger entry for this Stripe object.")
    return last


# --- Failed postings -------------------------------------------------------------------------


def _event_money(event: StripeEvent) -> tuple[str, int]:
    """The currency and amount (minor units) the event's object carries, as far as it says."""
    data = event.data_object
    currency = str(data.get("currency") or "").upper()[:3]
    amount = data.get("amount_total", data.get("amount", 0))
    return currency, int(amount) if isinstance(amount, int) else 0


def _failure_detail(event: StripeEvent) -> str:
    lines = [line for line in (event.error or "").strip().splitlines() if line.strip()]
    error = lines[-1].strip() if lines else "unknown error"
    object_id = str(event.data_object.get("id") or "")
    return f"{event.type} {object_id} (attempt {event.attempts}): {error}"[:300]


@transaction.atomic
def posting_failure_record(*, event: StripeEvent) -> ReconciliationException:
    """Record (or refresh) the ``posting_failed`` exception of an event whose handlers
    failed."""
    currency, amount = _event_money(event)
    fields = {
        "stripe_event": event,
        "occurred_on": event.stripe_created.astimezone(dt.UTC).date(),
        "currency": currency,
        "actual_minor": amount,
        "detail": _failure_detail(event),
    }
    existing = (
        ReconciliationException.objects.select_for_update()
        .filter(stripe_object_id=event.stripe_event_id, kind=ExceptionKind.POSTING_FAILED)
        .exclude(status=ExceptionStatus.RESOLVED)
        .first()
    )
    if existing is not None:
        for name, value in fields.items():
            setattr(existing, name, value)
        existing.save()
        return existing
    with pghistory.context(action="posting_failed", stripe_event=event.stripe_event_id):
        return ReconciliationException.objects.create(
            kind=ExceptionKind.POSTING_FAILED, stripe_object_id=event.stripe_event_id, **fields
        )


@transaction.atomic
def posting_failure_resolve(
    *, event: StripeEvent, actor: User | None = None
) -> list[ReconciliationException]:
    """Resolve the event's unresolved ``posting_failed`` exceptions: its handlers succeeded."""
    exceptions = list(
        ReconciliationException.objects.select_for_update()
        .filter(stripe_event=event, kind=ExceptionKind.POSTING_FAILED)
        .exclude(status=ExceptionStatus.RESOLVED)
    )
    if not exceptions:
        return []
    by = actor or _platform_owner()
    who = f"by {actor.email}" if actor is not None else "automatically"
    with pghistory.context(action="posting_retried", actor_id=by.pk):
        for exception in exceptions:
            exception.resolve(
                by=by,
                at=clock.now(),
                reason=f"Retried {who}: event {event.stripe_event_id} processed, money posted.",
            )
            exception.save()
    return exceptions


_retrying_actor: ContextVar[User | None] = ContextVar("finance_retrying_actor", default=None)
"""Who retries a failed posting, for the resolution the event's recovery signal records."""


def reconciliation_exception_retry(
    *, exception: ReconciliationException, actor: User
) -> ReconciliationException:
    """Run a failed posting's Stripe event handlers again. Resolved on success; otherwise
    ``ReconciliationError`` saying it still fails (the exception stays open, with the new
    error). Not in one transaction: the event's processing commits its own outcome."""
    platform_finance_require(user=actor)
    _require_unresolved(exception)
    if exception.kind != ExceptionKind.POSTING_FAILED or exception.stripe_event_id is None:
        raise ReconciliationError("Only a failed posting can be retried.")
    token = _retrying_actor.set(actor)
    try:
        event = stripe_event_process(event_pk=exception.stripe_event_id)
    finally:
        _retrying_actor.reset(token)
    if event.status == StripeEvent.Status.FAILED:
        raise ReconciliationError(
            f"The retry still fails: {_failure_detail(event)}", code="retry_failed"
        )
    posting_failure_resolve(event=event, actor=actor)
    return ReconciliationException.objects.get(pk=exception.pk)


def _on_stripe_event_failed(sender: Any, *, event: StripeEvent, **_: Any) -> None:
    posting_failure_record(event=event)


def _on_stripe_event_recovered(sender: Any, *, event: StripeEvent, **_: Any) -> None:
    posting_failure_resolve(event=event, actor=_retrying_actor.get())


# --- Selectors -------------------------------------------------------------------------------
