"""Usage reports: what a licensee says it used of each licensed work, per agreement and month.

A *report* is identified by the licensee's own id for it (``report_id``) within an agreement,
and covers one calendar month (UTC), stored half-open: ``[period_start, period_end)``, both
first days of a month. Reports of one agreement and month add up: a licensee may send several
(one per training run, say), each under its own id.

Each submission with new content stores a new *version* of its report: version 1, then 2, …
Versions are never edited: a correction is a new version that supersedes the previous one
(``supersedes``; only the newest version ``is_current``). Settlement rates the current
versions, and a correction of a period already settled as an adjustment in the next run.

``UsageLine`` is the lean, large table (millions of rows per period): the report, the line
number in the submitted file, the resolved work, the metric, the quantity (``revenue`` in
minor units of the report's currency) and the use. Its primary key ``(report_id, line_no)`` is
its only index: settlement reads a report's lines set-based by it, and a report's lines are
written in line order by one COPY, so the index only ever grows at its right edge. It is a
plain table, not partitioned: a period's lines are found through its reports, so partitions
would buy nothing the key does not, and would cost Django's own migrations.

Invariants held by PostgreSQL, whatever writes:

- a report's id is unique per agreement and version, and one version per report is current;
- reports are never deleted; once out of ``receiving`` (the state a report has only inside the
  transaction that writes its lines) nothing changes but ``is_current``, and only from true to
  false (plus the submitter, which is forgotten when an account is deleted);
- no report is committed while ``receiving``, its currency is its agreement's, and every line
  it has then names a work of its agreement (one set-based query per report, deferred to the
  commit of the transaction that creates it, which is the one that writes its lines);
- usage lines are append-only, and a line number is used once per report;
- quantities are never negative; metrics are the five the issue names; versions start at 1
  and a version above 1 supersedes another.
"""

from __future__ import annotations

import pgtrigger
from django.db import models
from django.db.models import Q

from accounts.models import ApiKey, User
from accounts.tenancy import TenantQuerySet
from catalog.models import AiUse, UsageMetric, Work
from core import clock
from marketplace.models import Agreement


class UsageReport(models.Model):
    """One version of a licensee's usage report for an agreement and a month."""

    class Status(models.TextChoices):
        RECEIVING = "receiving", "Receiving lines"
        ACCEPTED = "accepted", "Accepted"
        PARTIALLY_ACCEPTED = "partially_accepted", "Partially accepted (bad lines left out)"

    class Source(models.TextChoices):
        API = "api", "API (JSON Lines)"
        WEB = "web", "Web upload (CSV)"

    agreement = models.ForeignKey(Agreement, on_delete=models.PROTECT, related_name="usage_reports")
    report_id = models.CharField(max_length=100, help_text="The licensee's id for the report.")
    period_start = models.DateField(help_text="First day of the month reported (UTC).")
    period_end = models.DateField(help_text="First day after the month reported (exclusive).")
    version = models.PositiveIntegerField(default=1)
    is_current = models.BooleanField(default=True)
    supersedes = models.OneToOneField(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="superseded_by"
    )
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.ACCEPTED)
    # The agreement's currency (ISO 4217, upper case): `revenue` quantities are minor units of it.
    currency = models.CharField(max_length=3)
    line_count = models.PositiveIntegerField(default=0, help_text="Lines stored.")
    rejected_line_count = models.PositiveIntegerField(
        default=0, help_text="Bad lines left out (partial acceptance only)."
    )
    errors = models.JSONField(
        default=list, blank=True, help_text="The first bad lines left out: line, field, reason."
    )
    content_sha256 = models.CharField(
        max_length=64, blank=True, default="", help_text="SHA-256 of the decompressed content."
    )
    source = models.CharField(max_length=10, choices=Source.choices, default=Source.API)
    submitted_by = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    submitted_with_key = models.ForeignKey(
        ApiKey, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    submitted_at = models.DateTimeField(default=clock.now)

    objects = TenantQuerySet.as_manager()
    tenant_lookups = ("agreement__licensee", "agreement__licensor")

    class Meta:
        db_table = "royalties_usagereport"
        ordering = ["-period_start", "agreement_id", "report_id", "-version"]
        constraints = [
            models.UniqueConstraint(
                fields=["agreement", "report_id", "version"], name="usage_report_version_unique"
            ),
            models.UniqueConstraint(
                fields=["agreement", "report_id"],
                condition=Q(is_current=True),
                name="usage_report_one_current_version",
            ),
            models.CheckConstraint(
                condition=Q(period_start__day=1)
                & Q(period_end__day=1)
                & Q(period_end__gt=models.F("period_start")),
                name="usage_report_period_is_whole_months",
            ),
            models.CheckConstraint(
                condition=(Q(version=1) & Q(supersedes__isnull=True))
                | (Q(version__gt=1) & Q(supersedes__isnull=False)),
                name="usage_report_version_supersedes",
            ),
            models.CheckConstraint(
                condition=Q(currency__regex=r"^[A-Z]{3}$"), name="usage_report_currency_iso"
            ),
            models.CheckConstraint(
                condition=(Q(status="partially_accepted") & Q(rejected_line_count__gt=0))
                | (~Q(status="partially_accepted") & Q(rejected_line_count=0)),
                name="usage_report_partial_iff_rejected_lines",
            ),
            models.CheckConstraint(
                condition=Q(report_id__regex=r"^\S(.*\S)?$"), name="usage_report_id_trimmed"
            ),
        ]
        indexes = [
            models.Index(fields=["agreement", "period_start"], name="usage_report_period_idx"),
        ]
        triggers = [
            pgtrigger.Protect(name="usage_report_never_deleted", operation=pgtrigger.Delete),
            pgtrigger.Trigger(
                name="usage_report_sealed",
                when=pgtrigger.Before,
                operation=pgtrigger.Update,
                declare=[("mutable", "text[]")],
                func="""
                    mutable := '{is_current,submitted_by_id,submitted_with_key_id}';
                    IF OLD.status <> 'receiving' AND (
                        (to_jsonb(OLD) - mutable) IS DISTINCT FROM (to_jsonb(NEW) - mutable)
                        OR (NEW.is_current AND NOT OLD.is_current)
                    ) THEN
                        RAISE EXCEPTION 'usage report %: versions are never edited; '
                            'only is_current may turn false when a newer version supersedes it',
                            OLD.id USING ERRCODE = 'check_violation';
                    END IF;
                    RETURN NEW;
                """,
            ),
            pgtrigger.Trigger(
                name="usage_report_committed_complete",
                when=pgtrigger.After,
                operation=pgtrigger.Insert,
                timing=pgtrigger.Deferred,
                declare=[("bad", "record")],
                func="""
                    IF EXISTS (
                        SELECT 1 FROM royalties_usagereport r
                        JOIN marketplace_agreement a ON a.id = r.agreement_id
                        WHERE r.id = NEW.id
                          AND (r.status = 'receiving' OR r.currency <> upper(a.currency))
                    ) THEN
                        RAISE EXCEPTION 'usage report %: committed while receiving lines, or in '
                            'a currency other than its agreement''s', NEW.id
                            USING ERRCODE = 'check_violation';
                    END IF;
                    -- Set-based: the report's distinct works less the agreement's (a hash).
                    SELECT work_id INTO bad FROM (
                        SELECT work_id FROM royalties_usageline WHERE report_id = NEW.id
                        EXCEPT
                        SELECT work_id FROM marketplace_agreementwork
                        WHERE agreement_id = NEW.agreement_id
                    ) unlicensed
                    LIMIT 1;
                    IF FOUND THEN
                        RAISE EXCEPTION 'usage report %: work % is not licensed by the '
                            'report''s agreement', NEW.id, bad.work_id
                            USING ERRCODE = 'foreign_key_violation';
                    END IF;
                    RETURN NULL;
                """,
            ),
        ]

    def __str__(self) -> str:
        return f"usage report {self.report_id} v{self.version} ({self.period_start:%Y-%m})"

    @property
    def period_label(self) -> str:
        return f"{self.period_start:%Y-%m}"


class UsageLine(models.Model):
    """One stored line of a report version: a quantity of one metric of one licensed work."""

    # The primary key is (report, line number): the one index the table needs (settlement reads
    # a report's lines by it), and lines arrive in line order, so it grows at its right edge.
    pk = models.CompositePrimaryKey("report", "line_no")
    # Foreign keys without database constraints: a per-row RI check would cost more than the
    # COPY itself. The report's deferred check (above) verifies more than they would, once per
    # report: every line names a work of the report's agreement.
    report = models.ForeignKey(
        UsageReport,
        on_delete=models.PROTECT,
        related_name="lines",
        db_constraint=False,
        db_index=False,
    )
    line_no = models.PositiveIntegerField(help_text="Line number in the submitted file.")
    work = models.ForeignKey(
        Work, on_delete=models.PROTECT, related_name="+", db_constraint=False, db_index=False
    )
    metric = models.CharField(max_length=20, choices=UsageMetric.choices)
    # A count of the metric's unit; for `revenue`, minor units of the report's currency. ≥ 0.
    quantity = models.PositiveBigIntegerField()
    use = models.CharField(
        max_length=30, choices=AiUse.choices, blank=True, default="", help_text="As reported."
    )

    objects = TenantQuerySet.as_manager()
    tenant_lookups = ("report__agreement__licensee", "report__agreement__licensor")

    class Meta:
        db_table = "royalties_usageline"
        ordering = ["report_id", "line_no"]
        constraints = [
            models.CheckConstraint(
                condition=Q(metric__in=UsageMetric.values), name="usage_line_metric_known"
            ),
        ]
        triggers = [
            pgtrigger.Protect(
                name="usage_line_append_only", operation=pgtrigger.Update | pgtrigger.Delete
            ),
        ]

    def __str__(self) -> str:
        return f"line {self.line_no}: {self.quantity} {self.metric} of work {self.work_id}"
