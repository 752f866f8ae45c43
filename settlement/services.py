"""Settlement runs: rate a period's usage, allocate it, post it to the ledger, produce statements.

Lifecycle (``SettlementRun``): created → running → completed (or failed, and started again).

1. ``settlement_run_create`` makes the run of a month (one per month; idempotent).
2. ``settlement_run_start`` freezes the inputs in one transaction: which agreements the run
   settles and over which usage period (a month; a calendar quarter for agreements settled
   quarterly, in the run of the quarter's last month), their terms and split-snapshot hash,
   the current usage report versions, and every corrected or late report of a period already
   settled (an adjustment: the difference between the current version and the settled one).
   It cuts the agreements into chunks balanced by usage lines and queues a Celery chord: one
   task per chunk, then ``settlement_run_finalise``. Starting a running run again re-queues
   its unfinished chunks (how a run killed mid-way resumes); a completed run is left alone.
3. ``settlement_chunk_settle`` settles one chunk in one transaction, keyed by (run, chunk): it
   locks the chunk row and returns at once if the chunk is done, so a redelivered task writes
   nothing. Usage is summed per (agreement, work, metric, usage period) in SQL; each agreement
   is settled by ``settlement_rules.settle_agreement``; rated lines, statement lines and the
   carry state are written with COPY, and the ledger entries (one per run and agreement, rules
   in ``ledger.services``) are posted set-based from the statement lines just written.
4. ``settlement_run_finalise`` runs when every chunk is done: fee lines posted since the last
   run join this run's statements, and one statement per (holder, currency) is made with one
   INSERT … SELECT, with its opening and closing balances and a SHA-256 of its lines.

``settlement_run_recompute`` recomputes a completed run from its frozen inputs and compares
every statement's hash (the ``settlement_recompute`` command).
"""

# ruff: noqa: S608 (SQL is built only from model table names and constants; values are bound)
from __future__ import annotations

import datetime as dt
import hashlib
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import structlog
from django.db import connection, transaction

from accounts.models import User
from core import clock
from core.errors import DomainError
from core.tasks import task_queue
from ledger.models import (
    AccountCode,
    AccountingPeriod,
    EntryKind,
    JournalEntry,
    LedgerAccount,
    PeriodStatus,
)
from ledger.services import (
    journal_post_bulk,
    ledger_account_for,
    ledger_account_ids_for_organisations,
)
from marketplace.models import Agreement, AgreementSplit
from settlement.allocation import CarryState
from settlement.models import (
    AgreementPosition,
    CarryBalance,
    RatedLine,
    SettlementAgreement,
    SettlementChunk,
    SettlementReport,
    SettlementRun,
    Statement,
    StatementLine,
)
from settlement.rules import (
    AgreementOutcome,
    AgreementTerms,
    GuaranteeYear,
    LineKind,
    UsageAggregate,
    settle_agreement,
)
from usage.models import UsageLine, UsageReport

logger = structlog.get_logger(__name__)

CHUNK_TARGET_LINES = 50_000
"""Usage lines per chunk: small enough to show progress and spread over workers."""

CHUNK_MAX_AGREEMENTS = 25

TABLES = {
    model.__name__: model._meta.db_table
    for model in (
        Agreement,
        AgreementSplit,
        AgreementPosition,
        CarryBalance,
        JournalEntry,
        LedgerAccount,
        RatedLine,
        SettlementAgreement,
        SettlementChunk,
        SettlementReport,
        Statement,
        StatementLine,
        UsageLine,
        UsageReport,
    )
}


class SettlementError(DomainError):
    """A run cannot be created or started as asked; the message says why."""

    code = "settlement_error"


# --- periods -------------------------------------------------------------------------------


def month_start(day: dt.date) -> dt.date:
    return day.replace(day=1)


def next_month(day: dt.date) -> dt.date:
    return (day.replace(day=28) + dt.timedelta(days=4)).replace(day=1)


def usage_period_for(*, frequency: str, period_start: dt.date) -> tuple[dt.date, dt.date] | None:
    """The usage period a run of the month starting ``period_start`` settles for an agreement
    of this frequency; None when that agreement waits for a later run (mid-quarter)."""
    period_end = next_month(period_start)
    if frequency != Agreement.SettlementFrequency.QUARTERLY:
        return period_start, period_end
    if period_start.month % 3:
        return None
    quarter_start = period_start.replace(month=period_start.month - 2)
    return quarter_start, period_end


def contract_years(agreement: Agreement) -> Iterator[tuple[dt.date, dt.date]]:
    """(first day, last day) of each contract year of the term; the last may be short."""
    start = agreement.starts_on
    while start <= agreement.ends_on:
        try:
            following = start.replace(year=start.year + 1)
        except ValueError:  # 29 February
            following = start.replace(year=start.year + 1, day=28)
        yield start, min(following - dt.timedelta(days=1), agreement.ends_on)
        start = following


# --- create and start ----------------------------------------------------------------------


@transaction.atomic
def settlement_run_create(
    *, period_start: dt.date, actor: User | None = None, today: dt.date | None = None
) -> SettlementRun:
    """The run of the month starting ``period_start`` (made once; later calls return it)."""
    today = today or clock.today()
    if period_start.day != 1:
        raise SettlementError("A settlement period starts on the first day of a month.")
    period_end = next_month(period_start)
    if period_end > today:
        raise SettlementError(
            f"{period_start:%B %Y} has not ended yet: it can be settled from {period_end}."
        )
    last_day = period_end - dt.timedelta(days=1)
    closed = AccountingPeriod.objects.filter(
        year=last_day.year, month=last_day.month, status=PeriodStatus.CLOSED
    ).exists()
    run, _ = SettlementRun.objects.get_or_create(
        period_start=period_start,
        defaults={
            "period_end": period_end,
            # Entries are dated in the settled month, or today once that month's books closed.
            "posting_date": today if closed else last_day,
            "created_by": actor,
        },
    )
    return run


def settlement_run_start(
    *, run: SettlementRun, actor: User | None = None, dispatch: bool = True
) -> SettlementRun:
    """Freeze the inputs and queue the chunks (or re-queue the unfinished ones of a running run).

    Runs settle in period order (each carries remainders into the next), so a run cannot
    start while an earlier one is unfinished. ``dispatch=False`` leaves the chunks for the
    caller to settle in-process (``settlement_run_execute``)."""
    with transaction.atomic():
        run = SettlementRun.objects.select_for_update().get(pk=run.pk)
        if run.status == SettlementRun.Status.COMPLETED:
            return run
        if run.status != SettlementRun.Status.RUNNING:
            earlier = SettlementRun.objects.filter(period_start__lt=run.period_start).exclude(
                status=SettlementRun.Status.COMPLETED
            )
            if earlier.exists():
                raise SettlementError(
                    "An earlier period's run is not completed yet: "
                    f"{', '.join(f'{r.period_start:%Y-%m}' for r in earlier)}."
                )
            if not run.chunks.exists():
                _freeze_inputs(run)
            run.start()
            run.started_at = clock.now()
            run.save(update_fields=["status", "error", "started_at"])
        if dispatch:
            transaction.on_commit(lambda: _dispatch(run.pk))
    return run


def settlement_run_execute(*, run: SettlementRun) -> SettlementRun:
    """Settle a started run's unfinished chunks and finalise it in this process (the
    recompute command's and small installations' path; Celery workers do the same)."""
    for chunk_no in pending_chunk_numbers(run=run):
        settlement_chunk_settle(run_id=run.pk, chunk_no=chunk_no)
    return settlement_run_finalise(run_id=run.pk)


def _dispatch(run_id: int) -> None:
    task_queue("settlement.tasks.settlement_run_dispatch", run_id)


def pending_chunk_numbers(*, run: SettlementRun) -> list[int]:
    return list(
        run.chunks.filter(done_at__isnull=True)
        .order_by("chunk_no")
        .values_list("chunk_no", flat=True)
    )


def _freeze_inputs(run: SettlementRun) -> None:
    """Which agreements, reports, terms and splits this run settles: written once, then fixed."""
    plans = _plan_agreements(run)
    SettlementAgreement.objects.bulk_create(
        SettlementAgreement(
            run=run,
            agreement=plan.agreement,
            chunk_no=0,
            usage_period_start=plan.usage_start,
            usage_period_end=plan.usage_end,
            currency=plan.agreement.currency.upper(),
            terms=_terms_json(plan.agreement),
            splits_sha256="",
        )
        for plan in plans
    )
    _freeze_reports(run, plans)
    _freeze_split_hashes(run)
    _make_chunks(run)
    _ensure_positions(run)
    _ensure_accounts(run)


@dataclass
class _Plan:
    agreement: Agreement
    usage_start: dt.date
    usage_end: dt.date


def _plan_agreements(run: SettlementRun) -> list[_Plan]:
    """Every agreement with something to settle in this run: usage, a correction or late
    report of an earlier period, or a contract year ending (for a minimum guarantee)."""
    candidates = Agreement.objects.exclude(status=Agreement.Status.AWAITING_PAYMENT).filter(
        starts_on__lt=run.period_end
    )
    with_reports = set(
        UsageReport.objects.filter(is_current=True, period_start__lt=run.period_end).values_list(
            "agreement_id", flat=True
        )
    )
    plans = []
    for agreement in candidates.order_by("id"):
        period = usage_period_for(
            frequency=agreement.settlement_frequency, period_start=run.period_start
        )
        if period is None:
            continue
        guarantee_ends = agreement.minimum_guarantee_minor > 0 and any(
            period[0] <= last_day < period[1] for _, last_day in contract_years(agreement)
        )
        if agreement.id in with_reports or guarantee_ends:
            plans.append(_Plan(agreement, *period))
    return plans


def _terms_json(agreement: Agreement) -> dict[str, Any]:
    rates = {
        metric: str(agreement.rate_for(metric))
        for metric in ("tokens_trained", "training_examples", "retrievals", "outputs_attributed")
        if agreement.rate_for(metric) is not None
    }
    return {
        "currency": agreement.currency.upper(),
        "commission_bp": agreement.commission_bp,
        "rates": rates,
        "revenue_share_bp": agreement.revenue_share_bp,
        "minimum_guarantee_minor": agreement.minimum_guarantee_minor,
        "advance_recoupable": agreement.advance_recoupable,
        "starts_on": agreement.starts_on.isoformat(),
        "ends_on": agreement.ends_on.isoformat(),
        "settlement_frequency": agreement.settlement_frequency,
    }


def _freeze_reports(run: SettlementRun, plans: list[_Plan]) -> None:
    """One INSERT … SELECT: per planned agreement, every current report version of its usage
    period or earlier whose logical report (agreement, report id) was not settled at this
    version, with the version settled before (if any) as ``adjusts``."""
    if not plans:
        return
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            WITH planned(agreement_id, usage_start, usage_end) AS (
                SELECT * FROM unnest(%s::bigint[], %s::date[], %s::date[])
            ), settled AS (
                SELECT DISTINCT ON (r.agreement_id, r.report_id)
                       r.agreement_id, r.report_id, sr.report_id AS settled_id
                  FROM {TABLES["SettlementReport"]} sr
                  JOIN {TABLES["UsageReport"]} r ON r.id = sr.report_id
                 WHERE sr.agreement_id IN (SELECT agreement_id FROM planned)
                 ORDER BY r.agreement_id, r.report_id, sr.run_id DESC, sr.id DESC
            )
            INSERT INTO {TABLES["SettlementReport"]}
                (run_id, agreement_id, report_id, usage_period_start, usage_period_end, adjusts_id)
            SELECT %s, r.agreement_id, r.id,
                   CASE WHEN r.period_start >= p.usage_start THEN p.usage_start
                        ELSE r.period_start END,
                   CASE WHEN r.period_start >= p.usage_start THEN p.usage_end
                        ELSE r.period_end END,
                   s.settled_id
              FROM {TABLES["UsageReport"]} r
              JOIN planned p ON p.agreement_id = r.agreement_id
              LEFT JOIN settled s
                ON s.agreement_id = r.agreement_id AND s.report_id = r.report_id
             WHERE r.is_current AND r.period_start < p.usage_end
               AND s.settled_id IS DISTINCT FROM r.id
            """,
            [
                [plan.agreement.id for plan in plans],
                [plan.usage_start for plan in plans],
                [plan.usage_end for plan in plans],
                run.pk,
            ],
        )


def _freeze_split_hashes(run: SettlementRun) -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            UPDATE {TABLES["SettlementAgreement"]} sa
               SET splits_sha256 = h.digest
              FROM (
                SELECT s.agreement_id,
                       encode(sha256(convert_to(string_agg(
                           concat_ws(':', s.work_id, s.holder_id, s.role, s.share_bp), ','
                           ORDER BY s.work_id, s.holder_id, s.role), 'UTF8')), 'hex') AS digest
                  FROM {TABLES["AgreementSplit"]} s
                 WHERE s.agreement_id IN (
                     SELECT agreement_id FROM {TABLES["SettlementAgreement"]} WHERE run_id = %s)
                 GROUP BY s.agreement_id
              ) h
             WHERE sa.run_id = %s AND sa.agreement_id = h.agreement_id
            """,
            [run.pk, run.pk],
        )


def _make_chunks(run: SettlementRun) -> None:
    """Whole agreements per chunk, in id order, each chunk up to the target number of lines."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            SELECT sa.agreement_id, COALESCE(c.lines, 0)
              FROM {TABLES["SettlementAgreement"]} sa
              LEFT JOIN (
                SELECT sr.agreement_id, count(*) AS lines
                  FROM {TABLES["SettlementReport"]} sr
                  JOIN {TABLES["UsageLine"]} l ON l.report_id = sr.report_id
                 WHERE sr.run_id = %s
                 GROUP BY sr.agreement_id
              ) c ON c.agreement_id = sa.agreement_id
             WHERE sa.run_id = %s
             ORDER BY sa.agreement_id
            """,
            [run.pk, run.pk],
        )
        counts = cursor.fetchall()
    chunks: list[tuple[list[int], int]] = []
    ids: list[int] = []
    total = 0
    for agreement_id, lines in counts:
        if ids and (total + lines > CHUNK_TARGET_LINES or len(ids) >= CHUNK_MAX_AGREEMENTS):
            chunks.append((ids, total))
            ids, total = [], 0
        ids.append(agreement_id)
        total += lines
    if ids:
        chunks.append((ids, total))
    SettlementChunk.objects.bulk_create(
        SettlementChunk(run=run, chunk_no=number, agreement_ids=ids, lines_total=lines)
        for number, (ids, lines) in enumerate(chunks, start=1)
    )
    for number, (ids, _) in enumerate(chunks, start=1):
        SettlementAgreement.objects.filter(run=run, agreement_id__in=ids).update(chunk_no=number)
    run.agreements_total = len(counts)
    run.chunks_total = len(chunks)
    run.lines_total = sum(lines for _, lines in chunks)
    run.save(update_fields=["agreements_total", "chunks_total", "lines_total"])


def _ensure_positions(run: SettlementRun) -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            INSERT INTO {TABLES["AgreementPosition"]}
                (agreement_id, currency, fee_minor, recoupable, unrecouped_advance_minor,
                 recouped_minor, updated_at)
            SELECT sa.agreement_id, sa.currency, 0, false, 0, 0, %s
              FROM {TABLES["SettlementAgreement"]} sa
             WHERE sa.run_id = %s
            ON CONFLICT (agreement_id) DO NOTHING
            """,
            [clock.now(), run.pk],
        )


# --- one chunk -------------------------------------------------------------------------------


@dataclass
class _ChunkOutput:
    rated: list[tuple] = field(default_factory=list)
    lines: list[tuple] = field(default_factory=list)
    carries: list[tuple] = field(default_factory=list)
    results: list[tuple] = field(default_factory=list)
    positions: list[tuple] = field(default_factory=list)


def settlement_chunk_settle(*, run_id: int, chunk_no: int) -> int:
    """Settle one chunk of a running run; returns the usage lines it rated. A chunk already
    done is not touched again (its writes and its 'done' mark commit together)."""
    with transaction.atomic():
        chunk = (
            SettlementChunk.objects.select_for_update(of=("self",))
            .select_related("run")
            .get(run_id=run_id, chunk_no=chunk_no)
        )
        if chunk.done_at is not None:
            return 0
        run = chunk.run
        if run.status != SettlementRun.Status.RUNNING:
            raise SettlementError(f"run {run.pk} is {run.status}, not running")
        frozen = list(
            SettlementAgreement.objects.filter(run=run, chunk_no=chunk_no)
            .select_related("agreement")
            .order_by("agreement_id")
        )
        agreement_ids = [row.agreement_id for row in frozen]
        positions = {
            position.agreement_id: position
            for position in AgreementPosition.objects.select_for_update()
            .filter(agreement_id__in=agreement_ids)
            .order_by("agreement_id")
        }
        inputs = _load_chunk_inputs(run, agreement_ids)
        output = _ChunkOutput()
        for row in frozen:
            position = positions[row.agreement_id]
            outcome = _settle_frozen(
                run=run,
                row=row,
                aggregates=inputs.aggregates.get(row.agreement_id, []),
                splits=inputs.splits.get(row.agreement_id, {}),
                carries=inputs.carries.get(row.agreement_id, {}),
                unrecouped=position.unrecouped_advance_minor,
                recouped=position.recouped_minor,
            )
            _collect(
                output,
                run=run,
                row=row,
                outcome=outcome,
                position=position,
                carries_before=inputs.carries.pop(row.agreement_id, {}),
            )
        _write_chunk(run, agreement_ids, output)
        lines = _post_chunk(run, frozen)
        chunk.lines_rated = chunk.lines_total
        chunk.done_at = clock.now()
        chunk.save(update_fields=["lines_rated", "done_at"])
    logger.info("settlement_chunk_done", run_id=run_id, chunk_no=chunk_no, legs=lines)
    return chunk.lines_rated


@dataclass
class _ChunkInputs:
    aggregates: dict[int, list[UsageAggregate]]
    splits: dict[int, dict[int, dict[int, int]]]
    carries: dict[int, dict[tuple[int, int], CarryState]]


def _load_chunk_inputs(run: SettlementRun, agreement_ids: list[int]) -> _ChunkInputs:
    return _ChunkInputs(
        aggregates=_aggregate_usage(run.pk, agreement_ids),
        splits=splits_for_agreements(agreement_ids),
        carries=carries_for_agreements(agreement_ids),
    )


def _aggregate_usage(run_id: int, agreement_ids: Sequence[int]) -> dict[int, list[UsageAggregate]]:
    """Usage summed in SQL per (agreement, work, metric, usage period): the frozen reports'
    lines, and for adjustments the lines of the version settled before."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            WITH frozen AS (
                SELECT agreement_id, report_id, adjusts_id, usage_period_start AS ps,
                       usage_period_end AS pe,
                       (adjusts_id IS NOT NULL OR usage_period_start < (
                           SELECT usage_period_start FROM {TABLES["SettlementAgreement"]} sa
                            WHERE sa.run_id = sr.run_id AND sa.agreement_id = sr.agreement_id
                       )) AS is_adjustment
                  FROM {TABLES["SettlementReport"]} sr
                 WHERE run_id = %(run)s AND agreement_id = ANY(%(ids)s)
            ), quantities AS (
                SELECT f.agreement_id, l.work_id, l.metric, f.ps, f.pe, f.is_adjustment,
                       l.quantity AS new_quantity, 0::bigint AS settled_quantity, 1 AS counted
                  FROM frozen f JOIN {TABLES["UsageLine"]} l ON l.report_id = f.report_id
                UNION ALL
                SELECT f.agreement_id, l.work_id, l.metric, f.ps, f.pe, true,
                       0::bigint, l.quantity, 0
                  FROM frozen f JOIN {TABLES["UsageLine"]} l ON l.report_id = f.adjusts_id
            )
            SELECT agreement_id, work_id, metric, ps, pe, is_adjustment,
                   sum(new_quantity)::bigint, sum(settled_quantity)::bigint, sum(counted)::bigint
              FROM quantities
             GROUP BY agreement_id, work_id, metric, ps, pe, is_adjustment
             ORDER BY agreement_id, work_id, metric, ps
            """,
            {"run": run_id, "ids": list(agreement_ids)},
        )
        aggregates: dict[int, list[UsageAggregate]] = defaultdict(list)
        for agreement, work, metric, ps, pe, adjustment, new, settled, count in cursor:
            aggregates[agreement].append(
                UsageAggregate(
                    work_id=work,
                    metric=metric,
                    quantity=new,
                    period_start=ps,
                    period_end=pe,
                    kind=LineKind.ADJUSTMENT if adjustment else LineKind.USAGE,
                    settled_quantity=settled,
                    line_count=count,
                )
            )
    return aggregates


def splits_for_agreements(agreement_ids: Sequence[int]) -> dict[int, dict[int, dict[int, int]]]:
    splits: dict[int, dict[int, dict[int, int]]] = defaultdict(lambda: defaultdict(dict))
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            SELECT agreement_id, work_id, holder_id, sum(share_bp)::int
              FROM {TABLES["AgreementSplit"]}
             WHERE agreement_id = ANY(%s)
             GROUP BY agreement_id, work_id, holder_id
            """,
            [list(agreement_ids)],
        )
        for agreement, work, holder, bp in cursor:
            splits[agreement][work][holder] = bp
    return splits


def carries_for_agreements(
    agreement_ids: Sequence[int],
) -> dict[int, dict[tuple[int, int], CarryState]]:
    carries: dict[int, dict[tuple[int, int], CarryState]] = defaultdict(dict)
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            SELECT agreement_id, work_id, holder_id, entitled_exact, allocated_minor
              FROM {TABLES["CarryBalance"]} WHERE agreement_id = ANY(%s)
            """,
            [list(agreement_ids)],
        )
        for agreement, work, holder, entitled, allocated in cursor:
            carries[agreement][work, holder] = CarryState(
                entitled_exact=entitled, allocated_minor=allocated
            )
    return carries


def _terms_from_json(agreement_id: int, terms: dict[str, Any]) -> AgreementTerms:
    return AgreementTerms(
        agreement_id=agreement_id,
        currency=terms["currency"],
        commission_bp=terms["commission_bp"],
        rates={metric: Decimal(rate) for metric, rate in terms["rates"].items()},
        revenue_share_bp=terms["revenue_share_bp"],
        minimum_guarantee_minor=terms["minimum_guarantee_minor"],
    )


def _settle_frozen(
    *,
    run: SettlementRun,
    row: SettlementAgreement,
    aggregates: list[UsageAggregate],
    splits: dict[int, dict[int, int]],
    carries: dict[tuple[int, int], CarryState],
    unrecouped: int,
    recouped: int,
) -> AgreementOutcome:
    return settle_agreement(
        terms=_terms_from_json(row.agreement_id, row.terms),
        aggregates=aggregates,
        splits=splits,
        carries=carries,
        unrecouped_advance_minor=unrecouped,
        recouped_so_far_minor=recouped,
        guarantee_year=_guarantee_year(run, row),
    )


def _guarantee_year(run: SettlementRun, row: SettlementAgreement) -> GuaranteeYear | None:
    """The contract year ending inside this usage period, with what earlier runs billed in it."""
    if not row.terms["minimum_guarantee_minor"]:
        return None
    agreement = row.agreement
    ending = [
        (first, last)
        for first, last in contract_years(agreement)
        if row.usage_period_start <= last < row.usage_period_end
    ]
    if not ending:
        return None
    first, last = ending[0]
    earlier = SettlementAgreement.objects.filter(
        agreement=agreement,
        run__period_start__lt=run.period_start,
        usage_period_start__gte=first,
        usage_period_start__lte=last,
    )
    paid = sum(r.invoiced_minor - r.shortfall_minor for r in earlier)
    position = AgreementPosition.objects.filter(agreement=agreement).first()
    fee_day = position.fee_paid_on if position is not None and position.recoupable else None
    if position is not None and fee_day is not None and first <= fee_day <= last:
        paid += position.fee_minor  # an advance paid in this contract year
    gross: dict[int, Decimal] = defaultdict(Decimal)
    for work_id, exact in RatedLine.objects.filter(
        agreement=agreement,
        run__period_start__lt=run.period_start,
        usage_period_start__gte=first,
        usage_period_start__lte=last,
    ).values_list("work_id", "exact_minor"):
        gross[work_id] += exact
    return GuaranteeYear(
        starts_on=first, ends_on=last, paid_before_minor=paid, gross_before_by_work=gross
    )


def _collect(
    output: _ChunkOutput,
    *,
    run: SettlementRun,
    row: SettlementAgreement,
    outcome: AgreementOutcome,
    position: AgreementPosition,
    carries_before: dict[tuple[int, int], CarryState],
) -> None:
    agreement_id = row.agreement_id
    for rated in outcome.rated:
        usage = rated.usage
        output.rated.append(
            (
                run.pk,
                agreement_id,
                usage.work_id,
                usage.metric,
                usage.kind,
                usage.period_start,
                usage.period_end,
                usage.quantity,
                usage.settled_quantity,
                usage.line_count,
                rated.rate_minor,
                rated.revenue_share_bp,
                rated.exact_minor,
            )
        )
    for line in outcome.lines:
        output.lines.append(
            (
                run.pk,
                agreement_id,
                line.work_id,
                line.holder_id,
                row.currency,
                line.kind,
                row.usage_period_start,
                row.usage_period_end,
                line.share_bp,
                line.gross_exact,
                line.commission_exact,
                line.amount_minor,
                line.entitled_after,
                line.allocated_after,
                run.posting_date,
            )
        )
    for pair, carry in outcome.carries.items():
        if carries_before.get(pair) != carry:  # only changed pairs are written back
            output.carries.append(
                (agreement_id, pair[0], pair[1], carry.entitled_exact, carry.allocated_minor)
            )
    allocated = sum(line.amount_minor for line in outcome.lines)
    output.results.append(
        (
            agreement_id,
            position.unrecouped_advance_minor,
            outcome.charge_minor,
            outcome.credit_minor,
            outcome.recouped_minor,
            outcome.advance_restored_minor,
            outcome.shortfall_minor,
            outcome.receivable_minor,
            outcome.commission_minor,
            allocated,
        )
    )
    output.positions.append(
        (
            agreement_id,
            outcome.unrecouped_after_minor,
            position.recouped_minor + outcome.recouped_minor - outcome.advance_restored_minor,
        )
    )


CHUNK_LINES = "settlement_chunk_lines"
"""Temporary table of the statement lines one chunk writes."""

RATED_COLUMNS = (
    "run_id, agreement_id, work_id, metric, kind, usage_period_start, usage_period_end, "
    "quantity, settled_quantity, line_count, rate_minor, revenue_share_bp, exact_minor"
)
LINE_COLUMNS = (
    "run_id, agreement_id, work_id, holder_id, currency, kind, usage_period_start, "
    "usage_period_end, share_bp, gross_exact, commission_exact, amount_minor, entitled_after, "
    "allocated_after, accrued_on"
)


def copy_rows(cursor: Any, table: str, columns: str, rows: Iterable[tuple]) -> None:
    with cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)


def _write_chunk(run: SettlementRun, agreement_ids: list[int], output: _ChunkOutput) -> None:
    with connection.cursor() as cursor:
        copy_rows(cursor, TABLES["RatedLine"], RATED_COLUMNS, output.rated)
        # The chunk's lines go through a temporary table: the ledger legs are then built from
        # these rows alone, whatever the size of the statement-line table.
        cursor.execute(
            f"CREATE TEMP TABLE IF NOT EXISTS {CHUNK_LINES} ON COMMIT DELETE ROWS AS"
            f" SELECT {LINE_COLUMNS} FROM {TABLES['StatementLine']} WITH NO DATA"
        )
        cursor.execute(f"TRUNCATE {CHUNK_LINES}")
        copy_rows(cursor, CHUNK_LINES, LINE_COLUMNS, output.lines)
        cursor.execute(f"ANALYZE {CHUNK_LINES}")
        cursor.execute(
            f"INSERT INTO {TABLES['StatementLine']} ({LINE_COLUMNS})"
            f" SELECT {LINE_COLUMNS} FROM {CHUNK_LINES}"
        )
        carry_write(cursor, output.carries)
        cursor.execute(
            f"""
            UPDATE {TABLES["SettlementAgreement"]} sa
               SET unrecouped_before_minor = v.unrecouped, charge_minor = v.charge,
                   credit_minor = v.credit, recouped_minor = v.recouped,
                   advance_restored_minor = v.restored, shortfall_minor = v.shortfall,
                   invoiced_minor = v.invoiced, commission_minor = v.commission,
                   allocated_minor = v.allocated, settled_at = %s
              FROM unnest(%s::bigint[], %s::bigint[], %s::bigint[], %s::bigint[], %s::bigint[],
                          %s::bigint[], %s::bigint[], %s::bigint[], %s::bigint[], %s::bigint[])
                   AS v(agreement_id, unrecouped, charge, credit, recouped, restored, shortfall,
                        invoiced, commission, allocated)
             WHERE sa.run_id = %s AND sa.agreement_id = v.agreement_id
            """,
            [clock.now(), *map(list, zip(*output.results, strict=True)), run.pk],
        )
        if output.positions:
            ids, unrecouped, recouped = map(list, zip(*output.positions, strict=True))
            cursor.execute(
                f"""
                UPDATE {TABLES["AgreementPosition"]} p
                   SET unrecouped_advance_minor = v.unrecouped, recouped_minor = v.recouped,
                       updated_at = %s
                  FROM unnest(%s::bigint[], %s::bigint[], %s::bigint[])
                       AS v(agreement_id, unrecouped, recouped)
                 WHERE p.agreement_id = v.agreement_id
                   AND (p.unrecouped_advance_minor, p.recouped_minor)
                       IS DISTINCT FROM (v.unrecouped, v.recouped)
                """,
                [clock.now(), ids, unrecouped, recouped],
            )


def carry_write(cursor: Any, carries: list[tuple]) -> None:
    """Upsert changed carry rows: COPY into a temporary table, then one INSERT … ON CONFLICT."""
    if not carries:
        return
    cursor.execute(
        "CREATE TEMP TABLE IF NOT EXISTS settlement_carry_staging ("
        " agreement_id bigint, work_id bigint, holder_id bigint,"
        " entitled_exact numeric(40, 18), allocated_minor bigint) ON COMMIT DELETE ROWS"
    )
    copy_rows(
        cursor,
        "settlement_carry_staging",
        "agreement_id, work_id, holder_id, entitled_exact, allocated_minor",
        carries,
    )
    cursor.execute(
        f"""
        INSERT INTO {TABLES["CarryBalance"]}
            (agreement_id, work_id, holder_id, entitled_exact, allocated_minor, updated_at)
        SELECT agreement_id, work_id, holder_id, entitled_exact, allocated_minor, %s
          FROM settlement_carry_staging
        ON CONFLICT (agreement_id, work_id, holder_id) DO UPDATE
           SET entitled_exact = EXCLUDED.entitled_exact,
               allocated_minor = EXCLUDED.allocated_minor,
               updated_at = EXCLUDED.updated_at
        """,
        [clock.now()],
    )
    cursor.execute("TRUNCATE settlement_carry_staging")


def settlement_entry_key(run_id: int, agreement_id: int) -> str:
    return f"settlement_run:{run_id}:agreement:{agreement_id}"


def _post_chunk(run: SettlementRun, frozen: list[SettlementAgreement]) -> int:
    """One usage_settlement entry per agreement of the chunk, built in SQL from the rows just
    written (posting rules in ``ledger.services``)."""
    by_currency: dict[str, list[SettlementAgreement]] = defaultdict(list)
    for row in frozen:
        by_currency[row.currency].append(row)
    legs = 0
    for currency, rows in sorted(by_currency.items()):
        ids = [row.agreement_id for row in rows]
        result = journal_post_bulk(
            kind=EntryKind.USAGE_SETTLEMENT,
            effective_date=run.posting_date,
            memo=f"Settlement of {run.period_start:%B %Y}",
            legs_query=_LEGS_QUERY.format(chunk_lines=CHUNK_LINES, **TABLES),
            params={
                "run": run.pk,
                "ids": ids,
                "currency": currency,
                "prefix": f"settlement_run:{run.pk}:agreement:",
                "reference": f"settlement_run:{run.pk}",
                "receivable": AccountCode.LICENSEE_RECEIVABLE,
                "pending": AccountCode.HOLDER_PENDING,
                "commission": AccountCode.PLATFORM_COMMISSION,
                "advance": AccountCode.ADVANCE_UNRECOUPED,
                "contra": AccountCode.ADVANCE_UNRECOUPED_CONTRA,
            },
        )
        legs += result.legs_created
        with connection.cursor() as cursor:
            cursor.execute(
                f"""
                UPDATE {TABLES["SettlementAgreement"]} sa SET journal_entry_id = e.id
                  FROM {TABLES["JournalEntry"]} e
                 WHERE sa.run_id = %s AND sa.agreement_id = ANY(%s)
                   AND e.idempotency_key = %s || sa.agreement_id
                """,
                [run.pk, ids, f"settlement_run:{run.pk}:agreement:"],
            )
    return legs


_LEGS_QUERY = """
    WITH sa AS (
        SELECT s.agreement_id, s.invoiced_minor, s.commission_minor,
               s.recouped_minor - s.advance_restored_minor AS absorbed, a.licensee_id
          FROM {SettlementAgreement} s JOIN {Agreement} a ON a.id = s.agreement_id
         WHERE s.run_id = %(run)s AND s.agreement_id = ANY(%(ids)s)
    )
    SELECT %(prefix)s || sa.agreement_id AS idempotency_key, %(reference)s AS reference,
           %(currency)s AS currency, acct.id AS account_id, sa.invoiced_minor AS amount_minor,
           'billed' AS memo
      FROM sa JOIN {LedgerAccount} acct
        ON acct.code = %(receivable)s AND acct.organisation_id = sa.licensee_id
       AND acct.currency = %(currency)s AND acct.subledger_key = ''
    UNION ALL
    SELECT %(prefix)s || sa.agreement_id, %(reference)s, %(currency)s, acct.id,
           -sa.commission_minor, 'commission'
      FROM sa JOIN {LedgerAccount} acct
        ON acct.code = %(commission)s AND acct.organisation_id IS NULL
       AND acct.currency = %(currency)s AND acct.subledger_key = ''
    UNION ALL
    SELECT %(prefix)s || l.agreement_id, %(reference)s, %(currency)s, acct.id,
           -l.amount_minor, 'work:' || l.work_id
      FROM {chunk_lines} l JOIN {LedgerAccount} acct
        ON acct.code = %(pending)s AND acct.organisation_id = l.holder_id
       AND acct.currency = %(currency)s AND acct.subledger_key = ''
     WHERE l.agreement_id = ANY(%(ids)s)
    UNION ALL
    SELECT %(prefix)s || sa.agreement_id, %(reference)s, %(currency)s, acct.id,
           sa.absorbed, 'advance recouped'
      FROM sa JOIN {LedgerAccount} acct
        ON acct.code = %(contra)s AND acct.organisation_id IS NULL
       AND acct.currency = %(currency)s AND acct.subledger_key = ''
    UNION ALL
    SELECT %(prefix)s || sa.agreement_id, %(reference)s, %(currency)s, acct.id,
           -sa.absorbed, 'advance recouped'
      FROM sa JOIN {LedgerAccount} acct
        ON acct.code = %(advance)s AND acct.organisation_id = sa.licensee_id
       AND acct.currency = %(currency)s AND acct.subledger_key = 'agreement:' || sa.agreement_id
"""


def _ensure_accounts(run: SettlementRun) -> None:
    """The ledger accounts the run's entries post to, created once when the run starts (so
    parallel chunks never wait on each other creating the same account). The advance memo
    accounts were created when the advance was posted."""
    frozen = SettlementAgreement.objects.filter(run=run).select_related("agreement")
    by_currency: dict[str, list[Agreement]] = defaultdict(list)
    for row in frozen:
        by_currency[row.currency].append(row.agreement)
    for currency, agreements in by_currency.items():
        ledger_account_for(code=AccountCode.PLATFORM_COMMISSION, currency=currency)
        ledger_account_ids_for_organisations(
            code=AccountCode.LICENSEE_RECEIVABLE,
            currency=currency,
            organisation_ids={agreement.licensee_id for agreement in agreements},
        )
        holders = AgreementSplit.objects.filter(agreement__in=agreements).values_list(
            "holder_id", flat=True
        )
        ledger_account_ids_for_organisations(
            code=AccountCode.HOLDER_PENDING,
            currency=currency,
            organisation_ids=set(holders),
        )


# --- finalise --------------------------------------------------------------------------------

CANONICAL_LINE_SQL = (
    "concat_ws('|', l.kind, l.agreement_id, l.work_id, l.usage_period_start, "
    "l.usage_period_end, l.share_bp, l.gross_exact, l.commission_exact, l.amount_minor, "
    "l.entitled_after, l.allocated_after)"
)
"""A statement line as hashed: every figure, in a fixed text form; no ids of our own rows."""

CANONICAL_ORDER_SQL = "l.agreement_id, l.work_id, l.kind, l.usage_period_start"

FEE_KINDS = (LineKind.UPFRONT_FEE, LineKind.ADVANCE)


def statement_hash_sql(lines_table: str, where: str) -> str:
    """SELECT holder_id, currency, count, sum, sha256 per statement over ``lines_table``."""
    return f"""
        SELECT l.holder_id, l.currency, count(*) AS line_count,
               sum(l.amount_minor) AS earned,
               encode(sha256(convert_to(
                   string_agg({CANONICAL_LINE_SQL}, E'\\n' ORDER BY {CANONICAL_ORDER_SQL}),
                   'UTF8')), 'hex') AS digest
          FROM {lines_table} l
         WHERE {where}
         GROUP BY l.holder_id, l.currency
    """


def settlement_run_finalise(*, run_id: int) -> SettlementRun:
    """Produce the run's statements once every chunk is done; a no-op otherwise or if done."""
    with transaction.atomic():
        run = SettlementRun.objects.select_for_update().get(pk=run_id)
        if run.status != SettlementRun.Status.RUNNING or pending_chunk_numbers(run=run):
            return run
        with connection.cursor() as cursor:
            cursor.execute(
                f"""
                UPDATE {TABLES["StatementLine"]} SET run_id = %s
                 WHERE run_id IS NULL AND accrued_on < %s
                """,
                [run.pk, run.period_end],
            )
            cursor.execute(
                f"""
                WITH made AS ({statement_hash_sql(TABLES["StatementLine"], "l.run_id = %(run)s")}),
                previous AS (
                    SELECT DISTINCT ON (s.holder_id, s.currency)
                           s.holder_id, s.currency, s.closing_balance_minor
                      FROM {TABLES["Statement"]} s
                     WHERE s.period_start < %(start)s
                     ORDER BY s.holder_id, s.currency, s.period_start DESC
                ), carried AS (
                    SELECT c.holder_id, sa.currency,
                           sum(c.entitled_exact - c.allocated_minor) AS carry
                      FROM {TABLES["CarryBalance"]} c
                      JOIN {TABLES["AgreementPosition"]} sa ON sa.agreement_id = c.agreement_id
                     GROUP BY c.holder_id, sa.currency
                )
                INSERT INTO {TABLES["Statement"]}
                    (run_id, holder_id, currency, period_start, period_end,
                     opening_balance_minor, earned_minor, closing_balance_minor,
                     carry_forward_exact, line_count, sha256, created_at)
                SELECT %(run)s, m.holder_id, m.currency, %(start)s, %(end)s,
                       COALESCE(p.closing_balance_minor, 0), m.earned,
                       COALESCE(p.closing_balance_minor, 0) + m.earned,
                       COALESCE(c.carry, 0), m.line_count, m.digest, %(now)s
                  FROM made m
                  LEFT JOIN previous p ON p.holder_id = m.holder_id AND p.currency = m.currency
                  LEFT JOIN carried c ON c.holder_id = m.holder_id AND c.currency = m.currency
                ON CONFLICT (run_id, holder_id, currency) DO NOTHING
                """,
                {
                    "run": run.pk,
                    "start": run.period_start,
                    "end": run.period_end,
                    "now": clock.now(),
                },
            )
        run.statements_total = Statement.objects.filter(run=run).count()
        run.complete()
        run.completed_at = clock.now()
        run.save(update_fields=["status", "statements_total", "completed_at"])
    logger.info("settlement_run_completed", run_id=run.pk, statements=run.statements_total)
    return run


def settlement_run_fail(*, run_id: int, error: str) -> None:
    with transaction.atomic():
        run = SettlementRun.objects.select_for_update().get(pk=run_id)
        if run.status == SettlementRun.Status.RUNNING:
            run.fail(error=error[:2000])
            run.save(update_fields=["status", "error"])


# --- progress --------------------------------------------------------------------------------


@dataclass(frozen=True)
class RunProgress:
    lines_total: int
    lines_rated: int
    chunks_total: int
    chunks_done: int

    @property
    def percent(self) -> int:
        if self.lines_total:
            return self.lines_rated * 100 // self.lines_total
        return self.chunks_done * 100 // self.chunks_total if self.chunks_total else 0


def settlement_run_progress(*, run: SettlementRun) -> RunProgress:
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            SELECT count(*) FILTER (WHERE done_at IS NOT NULL),
                   COALESCE(sum(lines_rated), 0)
              FROM {TABLES["SettlementChunk"]} WHERE run_id = %s
            """,
            [run.pk],
        )
        chunks_done, lines_rated = cursor.fetchone()
    if run.status == SettlementRun.Status.COMPLETED:
        chunks_done, lines_rated = run.chunks_total, run.lines_total
    return RunProgress(
        lines_total=run.lines_total,
        lines_rated=int(lines_rated),
        chunks_total=run.chunks_total,
        chunks_done=chunks_done,
    )


# --- recompute -------------------------------------------------------------------------------


@dataclass(frozen=True)
class RecomputeResult:
    statements_checked: int
    mismatched_holder_ids: list[int]
    agreements_checked: int
    mismatched_agreement_ids: list[int]

    @property
    def identical(self) -> bool:
        return not self.mismatched_holder_ids and not self.mismatched_agreement_ids


def settlement_run_recompute(*, run: SettlementRun) -> RecomputeResult:
    """Settle a completed run again from its frozen inputs (reports, terms, split snapshot,
    carry and advance as they stood before it) and compare each statement's SHA-256 and each
    agreement's figures with what was stored. Writes nothing that outlives the transaction."""
    if run.status != SettlementRun.Status.COMPLETED:
        raise SettlementError(f"Only a completed run can be recomputed; this one is {run.status}.")
    mismatched_agreements = []
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("DROP TABLE IF EXISTS settlement_recomputed")
        cursor.execute(
            "CREATE TEMP TABLE settlement_recomputed ON COMMIT DROP AS"
            f" SELECT * FROM {TABLES['StatementLine']} WITH NO DATA"
        )
        frozen = list(
            SettlementAgreement.objects.filter(run=run)
            .select_related("agreement")
            .order_by("agreement_id")
        )
        for chunk_ids in _batches([row.agreement_id for row in frozen], CHUNK_MAX_AGREEMENTS):
            rows = [row for row in frozen if row.agreement_id in set(chunk_ids)]
            aggregates = _aggregate_usage(run.pk, chunk_ids)
            splits = splits_for_agreements(chunk_ids)
            carries = _carries_before(run, chunk_ids)
            output = _ChunkOutput()
            for row in rows:
                outcome = _settle_frozen(
                    run=run,
                    row=row,
                    aggregates=aggregates.get(row.agreement_id, []),
                    splits=splits.get(row.agreement_id, {}),
                    carries=carries.get(row.agreement_id, {}),
                    unrecouped=row.unrecouped_before_minor,
                    recouped=_recouped_before(run, row),
                )
                if (outcome.receivable_minor, outcome.commission_minor) != (
                    row.invoiced_minor,
                    row.commission_minor,
                ):
                    mismatched_agreements.append(row.agreement_id)
                position = AgreementPosition(unrecouped_advance_minor=row.unrecouped_before_minor)
                _collect(
                    output,
                    run=run,
                    row=row,
                    outcome=outcome,
                    position=position,
                    carries_before=carries.get(row.agreement_id, {}),
                )
            copy_rows(cursor, "settlement_recomputed", LINE_COLUMNS, output.lines)
        cursor.execute(
            f"""
            INSERT INTO settlement_recomputed ({LINE_COLUMNS}, id)
            SELECT {LINE_COLUMNS}, id FROM {TABLES["StatementLine"]}
             WHERE run_id = %s AND kind = ANY(%s)
            """,
            [run.pk, list(FEE_KINDS)],
        )
        cursor.execute(
            f"""
            WITH recomputed AS ({statement_hash_sql("settlement_recomputed", "true")})
            SELECT COALESCE(s.holder_id, r.holder_id)
              FROM (SELECT holder_id, currency, sha256 FROM {TABLES["Statement"]}
                     WHERE run_id = %s) s
              FULL JOIN recomputed r ON r.holder_id = s.holder_id AND r.currency = s.currency
             WHERE s.sha256 IS DISTINCT FROM r.digest
             ORDER BY 1
            """,
            [run.pk],
        )
        mismatched_holders = [holder for (holder,) in cursor.fetchall()]
    return RecomputeResult(
        statements_checked=Statement.objects.filter(run=run).count(),
        mismatched_holder_ids=mismatched_holders,
        agreements_checked=len(frozen),
        mismatched_agreement_ids=mismatched_agreements,
    )


def _batches(items: list[int], size: int) -> Iterator[list[int]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _carries_before(
    run: SettlementRun, agreement_ids: list[int]
) -> dict[int, dict[tuple[int, int], CarryState]]:
    """The carry state as it stood when the run settled these agreements: per pair, its latest
    statement line written before the run's own lines for that agreement."""
    carries: dict[int, dict[tuple[int, int], CarryState]] = defaultdict(dict)
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            WITH firsts AS (
                SELECT agreement_id, min(id) AS first_id
                  FROM {TABLES["StatementLine"]}
                 WHERE run_id = %(run)s AND agreement_id = ANY(%(ids)s)
                   AND NOT kind = ANY(%(fees)s)
                 GROUP BY agreement_id
            )
            SELECT DISTINCT ON (l.agreement_id, l.work_id, l.holder_id)
                   l.agreement_id, l.work_id, l.holder_id, l.entitled_after, l.allocated_after
              FROM {TABLES["StatementLine"]} l
              LEFT JOIN firsts f ON f.agreement_id = l.agreement_id
             WHERE l.agreement_id = ANY(%(ids)s)
               AND l.id < COALESCE(f.first_id, 0) AND l.kind <> %(credit)s
             ORDER BY l.agreement_id, l.work_id, l.holder_id, l.id DESC
            """,
            {
                "run": run.pk,
                "ids": agreement_ids,
                "fees": list(FEE_KINDS),
                "credit": LineKind.CREDIT,
            },
        )
        for agreement, work, holder, entitled, allocated in cursor:
            carries[agreement][work, holder] = CarryState(
                entitled_exact=entitled, allocated_minor=allocated
            )
    return carries


def _recouped_before(run: SettlementRun, row: SettlementAgreement) -> int:
    earlier = SettlementAgreement.objects.filter(
        agreement_id=row.agreement_id, run__period_start__lt=run.period_start
    )
    return sum(r.recouped_minor - r.advance_restored_minor for r in earlier)


def statement_canonical_text(lines: Iterable[StatementLine]) -> str:
    """The text whose SHA-256 a statement stores (as rendered in SQL by CANONICAL_LINE_SQL),
    for an auditor who wants to check a hash by hand from the CSV figures."""
    ordered = sorted(
        lines,
        key=lambda line: (
            line.agreement_id,
            line.work_id,
            line.kind,
            line.usage_period_start or dt.date.min,
        ),
    )
    return "\n".join(
        "|".join(
            str(value)
            for value in (
                line.kind,
                line.agreement_id,
                line.work_id,
                line.usage_period_start,
                line.usage_period_end,
                line.share_bp,
                line.gross_exact,
                line.commission_exact,
                line.amount_minor,
                line.entitled_after,
                line.allocated_after,
            )
            if value is not None
        )
        for line in ordered
    )


def statement_hash(lines: Iterable[StatementLine]) -> str:
    return hashlib.sha256(statement_canonical_text(lines).encode()).hexdigest()
