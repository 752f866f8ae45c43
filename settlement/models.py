"""Settlement runs, their frozen inputs and results, statements and the carry state.

A ``SettlementRun`` settles one period (a calendar month in UTC; agreements settled quarterly
are settled in the run of a quarter's last month, for the whole quarter). Its work is split into
``SettlementChunk`` rows (whole agreements, balanced by usage lines); each chunk's writes
happen in one transaction that also marks the chunk done, so a chunk redelivered after a
crash is a no-op and a killed run resumes where it stopped.

Per (run, agreement) a ``SettlementAgreement`` row freezes the terms the run used and records
what the agreement came to; ``SettlementReport`` rows freeze the usage report versions it
rated; ``RatedLine`` rows keep the rated usage aggregated per (work, metric, usage period);
``StatementLine`` rows are the allocations per (work, rights holder), each with the holder's
carry state after it, and ``Statement`` is one holder's statement per run and currency, with a
SHA-256 of its lines so a recompute can prove it unchanged. ``CarryBalance`` is the current
carry state per (agreement, work, holder) and ``AgreementPosition`` each agreement's advance.

Money columns are integers in minor units of the row's currency; exact amounts (fractions of a
minor unit) are ``numeric`` columns named ``*_exact``, written only by rating.

Invariants held by PostgreSQL:
- one run per period; one chunk row per (run, chunk number); one frozen row per (run,
  agreement); one statement per (run, holder, currency); one carry row per (agreement, work,
  holder); one fee posting per agreement;
- rated lines, statement lines and frozen inputs are append-only (a statement line's run is
  set once, when a fee line joins the next run's statement);
- a carry row's allocation never runs a whole unit ahead of its entitlement, and never below 0;
- the high-volume rows (rated lines, statement lines, carry) name a work (and holder) of their
  agreement's split snapshot, checked set-based once per statement instead of per-row foreign
  keys (the snapshot's own keys keep those works and holders from being deleted).
"""

from __future__ import annotations

from typing import Any

import pgtrigger
from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.db.models import F, Q
from django_fsm import FSMField, transition

from accounts.models import Organisation
from accounts.tenancy import TenantQuerySet
from catalog.models import Work
from core.fields import ClockDateTimeField
from marketplace.models import Agreement
from settlement.rules import LineKind

EXACT_DIGITS = 40
EXACT_PLACES = 18
"""Exact amounts: numeric(40, 18), the precision ``allocation`` records entitlements to."""

_APPEND_ONLY = pgtrigger.Protect(name="append_only", operation=pgtrigger.Update | pgtrigger.Delete)


def _exact_field(**kwargs: Any) -> models.DecimalField:
    return models.DecimalField(max_digits=EXACT_DIGITS, decimal_places=EXACT_PLACES, **kwargs)


class SettlementRun(models.Model):
    class Status(models.TextChoices):
        CREATED = "created", "Created"
        RUNNING = "running", "Running"
        COMPLETED = "completed", "Completed"
        FAILED = "failed", "Failed"

    period_start = models.DateField(unique=True, help_text="First day of the settled month.")
    period_end = models.DateField(help_text="First day after the settled month.")
    posting_date = models.DateField(help_text="Effective date of the run's journal entries.")
    status = FSMField(max_length=10, choices=Status.choices, default=Status.CREATED, protected=True)
    agreements_total = models.PositiveIntegerField(default=0)
    chunks_total = models.PositiveIntegerField(default=0)
    lines_total = models.BigIntegerField(default=0, help_text="Usage lines to rate.")
    statements_total = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True, default="")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = ClockDateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "royalties_settlementrun"
        ordering = ["-period_start"]
        constraints = [
            models.CheckConstraint(
                condition=Q(period_end__gt=F("period_start")), name="settlement_run_period_order"
            )
        ]

    def __str__(self) -> str:
        return f"Settlement {self.period_start:%Y-%m} ({self.status})"

    # Transitions are called only from settlement.services, under select_for_update.
    @transition(field=status, source=[Status.CREATED, Status.FAILED], target=Status.RUNNING)
    def start(self) -> None:
        self.error = ""

    @transition(field=status, source=Status.RUNNING, target=Status.COMPLETED)
    def complete(self) -> None:
        pass

    @transition(field=status, source=Status.RUNNING, target=Status.FAILED)
    def fail(self, *, error: str) -> None:
        self.error = error


class SettlementChunk(models.Model):
    """A batch of whole agreements settled in one transaction."""

    run = models.ForeignKey(SettlementRun, on_delete=models.PROTECT, related_name="chunks")
    chunk_no = models.PositiveIntegerField()
    agreement_ids = ArrayField(models.BigIntegerField())
    lines_total = models.BigIntegerField(default=0)
    lines_rated = models.BigIntegerField(default=0)
    done_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "royalties_settlementchunk"
        ordering = ["run_id", "chunk_no"]
        constraints = [
            models.UniqueConstraint(fields=["run", "chunk_no"], name="settlement_chunk_unique")
        ]

    def __str__(self) -> str:
        return f"chunk {self.chunk_no} of run {self.run_id}"


class SettlementAgreement(models.Model):
    """One agreement in one run: the terms the run froze and what the agreement came to."""

    run = models.ForeignKey(SettlementRun, on_delete=models.PROTECT, related_name="agreements")
    agreement = models.ForeignKey(Agreement, on_delete=models.PROTECT, related_name="+")
    chunk_no = models.PositiveIntegerField()
    usage_period_start = models.DateField()
    usage_period_end = models.DateField(help_text="First day after the usage period.")
    currency = models.CharField(max_length=3)
    terms = models.JSONField(help_text="The pricing the run used, frozen.")
    splits_sha256 = models.CharField(max_length=64, help_text="Hash of the split snapshot used.")
    # All below: minor units of `currency`, filled when the agreement's chunk commits.
    unrecouped_before_minor = models.BigIntegerField(default=0)  # advance left before, ≥ 0
    charge_minor = models.BigIntegerField(default=0)  # usage rated, rounded, ≥ 0
    credit_minor = models.BigIntegerField(default=0)  # downward corrections, rounded, ≥ 0
    recouped_minor = models.BigIntegerField(default=0)  # charge absorbed by the advance, ≥ 0
    advance_restored_minor = models.BigIntegerField(default=0)  # credit put back on it, ≥ 0
    shortfall_minor = models.BigIntegerField(default=0)  # minimum guarantee top-up, ≥ 0
    invoiced_minor = models.BigIntegerField(default=0)  # owed by the licensee; < 0: credited
    commission_minor = models.BigIntegerField(default=0)  # platform's; < 0 on a net credit
    allocated_minor = models.BigIntegerField(default=0)  # to holders; invoiced - commission
    journal_entry = models.ForeignKey(
        "ledger.JournalEntry", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    settled_at = models.DateTimeField(null=True, blank=True)

    objects = TenantQuerySet.as_manager()
    tenant_lookups = ("agreement__licensee", "agreement__licensor")

    class Meta:
        db_table = "royalties_settlementagreement"
        ordering = ["run_id", "agreement_id"]
        constraints = [
            models.UniqueConstraint(
                fields=["run", "agreement"], name="settlement_agreement_unique"
            ),
            models.CheckConstraint(
                condition=Q(invoiced_minor=F("commission_minor") + F("allocated_minor")),
                name="settlement_agreement_conserves",
            ),
        ]

    def __str__(self) -> str:
        return f"agreement {self.agreement_id} in run {self.run_id}"


class SettlementReport(models.Model):
    """A usage report version a run rated (frozen input). ``adjusts`` names the version that
    was settled before when this one arrived as a correction of a settled period."""

    run = models.ForeignKey(SettlementRun, on_delete=models.PROTECT, related_name="reports")
    agreement = models.ForeignKey(Agreement, on_delete=models.PROTECT, related_name="+")
    report = models.ForeignKey("usage.UsageReport", on_delete=models.PROTECT, related_name="+")
    usage_period_start = models.DateField()
    usage_period_end = models.DateField()
    adjusts = models.ForeignKey(
        "usage.UsageReport", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        db_table = "royalties_settlementreport"
        ordering = ["run_id", "agreement_id", "usage_period_start", "report_id"]
        constraints = [
            models.UniqueConstraint(fields=["run", "report"], name="settlement_report_unique")
        ]
        indexes = [
            models.Index(
                fields=["agreement", "usage_period_start"], name="settlement_report_period_idx"
            )
        ]
        triggers = [_APPEND_ONLY]

    def __str__(self) -> str:
        return f"report {self.report_id} in run {self.run_id}"


def _bulk_fk(model: type[models.Model] | str, **kwargs: Any) -> models.ForeignKey:
    """A foreign key of a high-volume settlement table without a database constraint: a
    per-row RI check costs more than the COPY itself. A statement-level trigger checks the
    rows of each INSERT or COPY set-based instead (``_ROWS_OF_SNAPSHOT``)."""
    return models.ForeignKey(
        model,
        on_delete=models.PROTECT,
        related_name="+",
        db_constraint=False,
        db_index=False,
        **kwargs,
    )


def _rows_of_snapshot(table: str, *, pair_table: str, holder: bool) -> pgtrigger.Trigger:
    """Every inserted row names a (work[, holder]) of its agreement's snapshot, and an existing
    run: checked once per statement over its new rows."""
    holder_join = " AND s.holder_id = n.holder_id" if holder else ""
    run_check = (
        "OR (n.run_id IS NOT NULL AND NOT EXISTS ("
        "SELECT 1 FROM royalties_settlementrun r WHERE r.id = n.run_id))"
        if table != "carry"
        else ""
    )
    return pgtrigger.Trigger(
        name=f"{table}_rows_of_snapshot",
        level=pgtrigger.Statement,
        when=pgtrigger.After,
        operation=pgtrigger.Insert,
        referencing=pgtrigger.Referencing(new="new_rows"),
        func=f"""
            IF EXISTS (
                SELECT 1 FROM new_rows n
                 WHERE NOT EXISTS (
                     SELECT 1 FROM {pair_table} s
                      WHERE s.agreement_id = n.agreement_id AND s.work_id = n.work_id
                            {holder_join})
                    {run_check}
            ) THEN
                RAISE EXCEPTION '{table}: a row names a work or holder outside its '
                    'agreement''s snapshot, or no run' USING ERRCODE = 'foreign_key_violation';
            END IF;
            RETURN NULL;
        """,  # noqa: S608 (the table names are constants)
    )


class RatedLine(models.Model):
    """Usage of one work and metric in one usage period, summed and priced exactly."""

    run = _bulk_fk(SettlementRun)
    agreement = _bulk_fk(Agreement)
    work = _bulk_fk(Work)
    metric = models.CharField(max_length=30)
    kind = models.CharField(max_length=20, choices=LineKind.CHOICES)
    usage_period_start = models.DateField()
    usage_period_end = models.DateField()
    quantity = models.BigIntegerField(help_text="Summed quantity (revenue: minor units).")
    settled_quantity = models.BigIntegerField(
        default=0, help_text="For an adjustment: the quantity settled before."
    )
    line_count = models.BigIntegerField(default=0, help_text="Usage lines summed.")
    # Minor units of the agreement's currency per pricing unit (exact); null for revenue.
    rate_minor = models.DecimalField(max_digits=24, decimal_places=10, null=True, blank=True)
    revenue_share_bp = models.PositiveIntegerField(null=True, blank=True)
    # Exact royalty, minor units; negative only for a downward correction.
    exact_minor = _exact_field()

    class Meta:
        db_table = "royalties_ratedline"
        ordering = ["run_id", "agreement_id", "work_id", "metric", "usage_period_start"]
        indexes = [
            models.Index(fields=["run", "agreement", "work"], name="rated_line_run_work_idx"),
            models.Index(fields=["agreement", "usage_period_start"], name="rated_line_period_idx"),
        ]
        triggers = [
            _APPEND_ONLY,
            _rows_of_snapshot("rated_line", pair_table="marketplace_agreementwork", holder=False),
        ]

    def __str__(self) -> str:
        return f"{self.quantity} {self.metric} of work {self.work_id}"


class StatementLine(models.Model):
    """One allocation to one rights holder from one work of one agreement, with the holder's
    carry state for that (agreement, work) after it."""

    run = _bulk_fk(SettlementRun, null=True, blank=True)
    agreement = _bulk_fk(Agreement)
    work = _bulk_fk(Work)
    holder = _bulk_fk(Organisation)
    currency = models.CharField(max_length=3)
    kind = models.CharField(max_length=20, choices=LineKind.CHOICES)
    usage_period_start = models.DateField(null=True, blank=True)
    usage_period_end = models.DateField(null=True, blank=True)
    share_bp = models.PositiveIntegerField()
    gross_exact = _exact_field()  # exact minor units; see settlement_rules.AllocationLine
    commission_exact = _exact_field()  # exact minor units, the gross's commission
    amount_minor = models.BigIntegerField()  # minor units to the holder; < 0 only for a credit
    entitled_after = _exact_field()  # cumulative exact entitlement of the pair, minor units
    allocated_after = models.BigIntegerField()  # cumulative allocation of the pair, minor units
    accrued_on = models.DateField()
    collected_on = models.DateField(null=True, blank=True, help_text="Set by collections.")

    objects = TenantQuerySet.as_manager()
    tenant_lookups = ("holder",)

    class Meta:
        db_table = "royalties_statementline"
        ordering = ["id"]
        indexes = [
            models.Index(fields=["run", "holder"], name="statement_line_run_holder_idx"),
            models.Index(fields=["holder", "currency"], name="statement_line_holder_idx"),
            models.Index(
                fields=["agreement", "work", "holder", "id"], name="statement_line_pair_idx"
            ),
            models.Index(
                fields=["agreement", "holder"],
                condition=Q(run__isnull=True),
                name="statement_line_unassigned_idx",
            ),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(amount_minor__gte=0) | Q(kind=LineKind.CREDIT),
                name="statement_line_negative_only_credit",
            ),
        ]
        triggers = [
            _rows_of_snapshot(
                "statement_line", pair_table="marketplace_agreementsplit", holder=True
            ),
            pgtrigger.Protect(name="statement_line_no_delete", operation=pgtrigger.Delete),
            pgtrigger.Trigger(
                name="statement_line_run_set_once",
                when=pgtrigger.Before,
                operation=pgtrigger.Update,
                func="""
                    IF (OLD.run_id IS NOT NULL AND NEW.run_id IS DISTINCT FROM OLD.run_id)
                       OR (to_jsonb(NEW) - 'run_id' - 'collected_on')
                          <> (to_jsonb(OLD) - 'run_id' - 'collected_on') THEN
                        RAISE EXCEPTION 'statement line %: only run (once) and collected_on may'
                            ' change', OLD.id USING ERRCODE = 'check_violation';
                    END IF;
                    RETURN NEW;
                """,
            ),
        ]

    def __str__(self) -> str:
        return f"{self.amount_minor} {self.currency} to {self.holder_id} from work {self.work_id}"


class Statement(models.Model):
    """What one rights holder earned in one run's period, in one currency."""

    run = models.ForeignKey(SettlementRun, on_delete=models.PROTECT, related_name="statements")
    holder = models.ForeignKey(Organisation, on_delete=models.PROTECT, related_name="statements")
    currency = models.CharField(max_length=3)
    period_start = models.DateField()
    period_end = models.DateField()
    # Minor units of `currency`: the previous statement's closing balance.
    opening_balance_minor = models.BigIntegerField()
    # Minor units: the sum of this statement's lines (negative only after credits).
    earned_minor = models.BigIntegerField()
    # Minor units: opening + earned (payouts, the next capability, will subtract).
    closing_balance_minor = models.BigIntegerField()
    # Exact minor units still owed to the holder below one unit, carried to later periods.
    carry_forward_exact = _exact_field()
    line_count = models.PositiveIntegerField()
    sha256 = models.CharField(max_length=64, help_text="SHA-256 of the canonical lines.")
    created_at = ClockDateTimeField(auto_now_add=True)

    objects = TenantQuerySet.as_manager()
    tenant_lookups = ("holder",)

    class Meta:
        db_table = "royalties_statement"
        ordering = ["-period_start", "holder_id", "currency"]
        constraints = [
            models.UniqueConstraint(
                fields=["run", "holder", "currency"], name="statement_unique_per_run"
            ),
            models.CheckConstraint(
                condition=Q(closing_balance_minor=F("opening_balance_minor") + F("earned_minor")),
                name="statement_closing_is_opening_plus_earned",
            ),
        ]
        indexes = [models.Index(fields=["holder", "currency", "period_start"], name="stmt_holder")]
        triggers = [_APPEND_ONLY]

    def __str__(self) -> str:
        return f"statement {self.period_start:%Y-%m} of {self.holder_id} ({self.currency})"


class CarryBalance(models.Model):
    """The carry state of one (agreement, work, holder): cumulative exact entitlement and
    cumulative integer allocation (see ``settlement.allocation``)."""

    agreement = _bulk_fk(Agreement)
    work = _bulk_fk(Work)
    holder = _bulk_fk(Organisation)
    entitled_exact = _exact_field()  # exact minor units, cumulative, ≥ 0
    allocated_minor = models.BigIntegerField()  # minor units, cumulative, ≥ 0
    updated_at = ClockDateTimeField(auto_now=True)

    class Meta:
        db_table = "royalties_carrybalance"
        ordering = ["agreement_id", "work_id", "holder_id"]
        constraints = [
            models.UniqueConstraint(
                fields=["agreement", "work", "holder"], name="carry_balance_unique"
            ),
            models.CheckConstraint(
                condition=Q(allocated_minor__gte=0)
                & Q(entitled_exact__gte=0)
                & Q(allocated_minor__lt=F("entitled_exact") + 1),
                name="carry_balance_never_a_unit_ahead",
            ),
        ]
        triggers = [
            _rows_of_snapshot("carry", pair_table="marketplace_agreementsplit", holder=True)
        ]

    def __str__(self) -> str:
        return f"carry {self.agreement_id}/{self.work_id}/{self.holder_id}"


class AgreementPosition(models.Model):
    """One agreement's upfront fee as posted, and what is left of it to recoup."""

    agreement = models.OneToOneField(Agreement, on_delete=models.PROTECT, related_name="+")
    currency = models.CharField(max_length=3)
    fee_minor = models.BigIntegerField(default=0)  # upfront fee paid, minor units, ≥ 0
    recoupable = models.BooleanField(default=False)
    fee_paid_on = models.DateField(null=True, blank=True)
    # Minor units of the advance not yet offset by usage royalties, ≥ 0.
    unrecouped_advance_minor = models.BigIntegerField(default=0)
    # Minor units recouped so far (a credit can restore at most this much), ≥ 0.
    recouped_minor = models.BigIntegerField(default=0)
    fee_entry = models.ForeignKey(
        "ledger.JournalEntry", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    updated_at = ClockDateTimeField(auto_now=True)

    class Meta:
        db_table = "royalties_agreementposition"
        ordering = ["agreement_id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(unrecouped_advance_minor__gte=0)
                & Q(recouped_minor__gte=0)
                & Q(fee_minor__gte=0)
                & Q(unrecouped_advance_minor__lte=F("fee_minor")),
                name="agreement_position_amounts_valid",
            )
        ]

    def __str__(self) -> str:
        return f"position of agreement {self.agreement_id}"
