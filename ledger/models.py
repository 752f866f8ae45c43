"""The double-entry ledger: chart of accounts, journal entries and their legs, accounting periods.

Every movement of money is a ``JournalEntry`` of two or more ``JournalLeg`` rows in one
currency whose amounts sum to zero. Amounts are integers in minor units (cents for USD),
signed: **debit positive, credit negative**. An asset or expense account therefore has a
positive ("debit") balance in the normal course; a liability, revenue or equity account a
negative ("credit") one. Balances are never stored: they are sums of legs
(``ledger.services`` has the selectors).

Chart of accounts (``AccountCode``; kind in brackets; "per holder" and "per licensee" accounts
carry the organisation, platform accounts carry none; one account per currency):

========================= ========= ======== ===============================================
code                      kind      scope    meaning
========================= ========= ======== ===============================================
licensee_receivable       asset     licensee billed to the licensee, not yet collected
platform_cash             asset     platform the platform's Stripe balance
holder_recoverable        asset     holder   a holder's negative balance after a clawback
                                             (refund or lost dispute after payout), recovered
                                             from the holder's future earnings
holder_pending            liability holder   earned by the holder, not yet collected from the
                                             licensee ("pay when paid")
holder_payable            liability holder   collected, owed to the holder, not yet paid out
platform_commission       revenue   platform the platform's commission (debited on clawbacks)
platform_equity           equity    platform the operator's own money put into or taken out
                                             of the Stripe balance; opening balances
stripe_fees               expense   platform Stripe's processing and dispute fees
dispute_losses            expense   platform funds withdrawn by an open dispute (moved to
                                             the holders and commission if it is lost)
write_offs                expense   platform receivables or recoverables given up
advance_unrecouped        memo      licensee what is left to recoup of one agreement's
                                             recoupable advance (``subledger_key``
                                             "agreement:<id>"); a debit balance
advance_unrecouped_contra memo      platform the other side of every advance memo leg
========================= ========= ======== ===============================================

Memo accounts are off balance sheet: their legs come in pairs within an entry, so they sum to
zero on their own and never change a real balance. ``subledger_key`` splits one party's account
further when a sub-ledger is needed (the advance per agreement); it is empty otherwise.

There is no "payout in transit" account: a Stripe Connect transfer moves money to the holder's
connected account at once (it succeeds or fails when created), and a transfer reversal is an
explicit event of its own. The holder's bank payout is the connected account's business.

The posting rules for each business event are in the docstring of ``ledger.services``.

Invariants enforced by PostgreSQL, whatever writes
(``royalties/migrations/0002_ledger_invariants.sql``):

- an entry has two or more legs, all in the entry's currency, summing to zero: checked at
  commit by a deferred constraint trigger per entry, and at once for every INSERT statement
  of legs (set-based over the statement's transition table, which also checks each leg
  against its account's currency);
- all legs of an entry arrive in one INSERT statement (so nothing can be added to an entry
  later, old or new);
- entries and legs are append-only: UPDATE and DELETE are rejected (TRUNCATE is left alone so
  the test database can be flushed); corrections are reversing entries;
- an entry dated into a closed accounting period is rejected, naming the period;
- a ledger account's identity (code, kind, organisation, currency, sub-ledger key) never
  changes, and an accounting period is never deleted.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

import pghistory
from django.conf import settings
from django.db import models
from django.db.models import Q
from django_fsm import FSMField, transition

from accounts.models import Organisation, User
from accounts.tenancy import TenantQuerySet
from core.fields import ClockDateTimeField

CURRENCY_CODE_REGEX = r"^[A-Z]{3}$"


class AccountKind(models.TextChoices):
    ASSET = "asset", "Asset"
    LIABILITY = "liability", "Liability"
    EQUITY = "equity", "Equity"
    REVENUE = "revenue", "Revenue"
    EXPENSE = "expense", "Expense"
    MEMO = "memo", "Memo (off balance sheet)"


class AccountCode(models.TextChoices):
    """The chart of accounts; the module docstring says what each one means."""

    LICENSEE_RECEIVABLE = "licensee_receivable", "Licensee receivable"
    PLATFORM_CASH = "platform_cash", "Platform cash at Stripe"
    HOLDER_RECOVERABLE = "holder_recoverable", "Rights holder recoverable"
    HOLDER_PENDING = "holder_pending", "Rights holder pending (earned, not yet collected)"
    HOLDER_PAYABLE = "holder_payable", "Rights holder payable"
    PLATFORM_COMMISSION = "platform_commission", "Platform commission revenue"
    PLATFORM_EQUITY = "platform_equity", "Platform equity"
    STRIPE_FEES = "stripe_fees", "Stripe fees"
    DISPUTE_LOSSES = "dispute_losses", "Dispute losses"
    WRITE_OFFS = "write_offs", "Write-offs"
    ADVANCE_UNRECOUPED = "advance_unrecouped", "Unrecouped advance (memo)"
    ADVANCE_UNRECOUPED_CONTRA = "advance_unrecouped_contra", "Unrecouped advance contra (memo)"


ACCOUNT_KIND_BY_CODE: dict[str, str] = {
    AccountCode.LICENSEE_RECEIVABLE: AccountKind.ASSET,
    AccountCode.PLATFORM_CASH: AccountKind.ASSET,
    AccountCode.HOLDER_RECOVERABLE: AccountKind.ASSET,
    AccountCode.HOLDER_PENDING: AccountKind.LIABILITY,
    AccountCode.HOLDER_PAYABLE: AccountKind.LIABILITY,
    AccountCode.PLATFORM_COMMISSION: AccountKind.REVENUE,
    AccountCode.PLATFORM_EQUITY: AccountKind.EQUITY,
    AccountCode.STRIPE_FEES: AccountKind.EXPENSE,
    AccountCode.DISPUTE_LOSSES: AccountKind.EXPENSE,
    AccountCode.WRITE_OFFS: AccountKind.EXPENSE,
    AccountCode.ADVANCE_UNRECOUPED: AccountKind.MEMO,
    AccountCode.ADVANCE_UNRECOUPED_CONTRA: AccountKind.MEMO,
}
"""Each code's fixed kind (a check constraint keeps the stored kind equal to it)."""

ORGANISATION_KIND_BY_CODE: dict[str, str] = {
    AccountCode.LICENSEE_RECEIVABLE: Organisation.Kind.AI_DEVELOPER,
    AccountCode.ADVANCE_UNRECOUPED: Organisation.Kind.AI_DEVELOPER,
    AccountCode.HOLDER_RECOVERABLE: Organisation.Kind.CREATOR,
    AccountCode.HOLDER_PENDING: Organisation.Kind.CREATOR,
    AccountCode.HOLDER_PAYABLE: Organisation.Kind.CREATOR,
}
"""Per-party codes and the kind of organisation they belong to; every other code is the
platform's and has no organisation."""

CREDIT_NORMAL_KINDS = frozenset({AccountKind.LIABILITY, AccountKind.EQUITY, AccountKind.REVENUE})
"""Kinds whose normal balance is a credit (negative in our sign convention)."""


def _one_of(conditions: Iterable[Q]) -> Q:
    combined = Q()
    for condition in conditions:
        combined |= condition
    return combined


class LedgerAccount(models.Model):
    """One account of the chart, for one party (or the platform), one currency and optionally
    one sub-ledger. Get them with ``ledger.services.ledger_account_for``."""

    code = models.CharField(max_length=40, choices=AccountCode.choices)
    kind = models.CharField(max_length=10, choices=AccountKind.choices, editable=False)
    organisation = models.ForeignKey(
        Organisation,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="ledger_accounts",
        help_text="The party of a per-party account; empty for the platform's own accounts.",
    )
    currency = models.CharField(max_length=3, help_text="ISO 4217, uppercase.")
    subledger_key = models.CharField(
        max_length=100,
        blank=True,
        default="",
        help_text='Splits a party\'s account further, e.g. "agreement:12"; empty otherwise.',
    )
    created_at = ClockDateTimeField(auto_now_add=True)

    objects = TenantQuerySet.as_manager()
    tenant_lookups = ("organisation",)

    class Meta:
        db_table = "royalties_ledgeraccount"
        ordering = ["code", "organisation_id", "currency", "subledger_key"]
        constraints = [
            models.UniqueConstraint(
                fields=["code", "organisation", "currency", "subledger_key"],
                nulls_distinct=False,
                name="ledger_account_unique",
            ),
            models.CheckConstraint(
                condition=Q(currency__regex=CURRENCY_CODE_REGEX),
                name="ledger_account_currency_iso",
            ),
            models.CheckConstraint(
                condition=_one_of(
                    Q(code=code, kind=kind) for code, kind in ACCOUNT_KIND_BY_CODE.items()
                ),
                name="ledger_account_kind_matches_code",
            ),
            models.CheckConstraint(
                condition=(
                    Q(code__in=list(ORGANISATION_KIND_BY_CODE), organisation__isnull=False)
                    | (~Q(code__in=list(ORGANISATION_KIND_BY_CODE)) & Q(organisation__isnull=True))
                ),
                name="ledger_account_organisation_iff_per_party",
            ),
        ]

    def __str__(self) -> str:
        party = f" {self.organisation_id}" if self.organisation_id else ""
        sub = f" [{self.subledger_key}]" if self.subledger_key else ""
        return f"{self.code}{party} {self.currency}{sub}"

    def natural_balance_minor(self, balance_minor: int) -> int:
        """A signed (debit-positive) balance in this account's normal direction: what a
        liability owes, what an asset holds."""
        return -balance_minor if self.kind in CREDIT_NORMAL_KINDS else balance_minor


class EntryKind(models.TextChoices):
    """The business event an entry records; ``ledger.services`` has the rule for each."""

    UPFRONT_FEE = "upfront_fee", "Upfront fee"
    ADVANCE = "advance", "Recoupable advance"
    USAGE_SETTLEMENT = "usage_settlement", "Usage settlement"
    COLLECTION = "collection", "Collection from licensee"
    PAYOUT = "payout", "Payout to rights holder"
    PAYOUT_REVERSAL = "payout_reversal", "Payout reversal"
    RECOVERY = "recovery", "Recovery of a holder's negative balance"
    REFUND = "refund", "Refund to licensee"
    DISPUTE = "dispute", "Dispute"
    STRIPE_FEE = "stripe_fee", "Stripe fee"
    ADJUSTMENT = "adjustment", "Adjustment"
    REVERSAL = "reversal", "Reversal of an entry"


class JournalEntry(models.Model):
    """One business event's postings. Append-only: correct a mistake with
    ``ledger.services.journal_reverse`` and a new entry.

    Not tenant data as a whole: an entry spans several parties (a licensee, many holders, the
    platform), so a party sees only its own legs (``JournalLeg`` is tenant-scoped)."""

    kind = models.CharField(max_length=20, choices=EntryKind.choices)
    effective_date = models.DateField(
        help_text="The accounting date; its calendar month (UTC) is the accounting period."
    )
    posted_at = models.DateTimeField(db_default=models.functions.Now())
    memo = models.TextField(blank=True, default="")
    reference = models.CharField(
        max_length=100,
        help_text='Our business id of what is posted, e.g. "agreement:12", "payout:55".',
    )
    # NULL when the entry mirrors no Stripe object (settlement, adjustments).
    stripe_object_id = models.CharField(  # noqa: DJ001
        max_length=255,
        null=True,
        blank=True,
        help_text="The Stripe object (ch_, tr_, re_, dp_, …) whose balance transaction this "
        "entry mirrors; reconciliation matches on it.",
    )
    idempotency_key = models.CharField(
        max_length=200, help_text="Posting the same business event twice returns the first entry."
    )
    reverses = models.OneToOneField(
        "self",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="reversed_by",
        help_text="The entry this one reverses (an entry is reversed at most once).",
    )
    currency = models.CharField(max_length=3, help_text="ISO 4217, uppercase; every leg's too.")
    intended_date = models.DateField(
        null=True,
        blank=True,
        help_text="A late receipt's own date: the event belongs to this date's period, which "
        "was closed, so the entry is dated in the open period instead. Empty otherwise.",
    )

    class Meta:
        db_table = "royalties_journalentry"
        ordering = ["effective_date", "id"]
        verbose_name_plural = "journal entries"
        constraints = [
            models.UniqueConstraint(
                fields=["idempotency_key"], name="journal_entry_idempotency_key_unique"
            ),
            models.CheckConstraint(
                condition=Q(currency__regex=CURRENCY_CODE_REGEX),
                name="journal_entry_currency_iso",
            ),
            models.CheckConstraint(
                condition=Q(kind=EntryKind.REVERSAL, reverses__isnull=False)
                | (~Q(kind=EntryKind.REVERSAL) & Q(reverses__isnull=True)),
                name="journal_entry_reversal_iff_reverses",
            ),
        ]
        indexes = [
            models.Index(fields=["effective_date"], name="journal_entry_date_idx"),
            models.Index(fields=["reference"], name="journal_entry_ref_idx"),
            models.Index(fields=["stripe_object_id"], name="journal_entry_stripe_idx"),
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.kind} {self.effective_date} {self.currency} {self.reference}"

    @property
    def belongs_to_period(self) -> str:
        """The accounting period ("YYYY-MM") the event belongs to: a late receipt's intended
        date's, else the entry's own."""
        day = self.intended_date or self.effective_date
        return f"{day.year:04d}-{day.month:02d}"

    @property
    def is_late_receipt(self) -> bool:
        return self.intended_date is not None


class JournalLeg(models.Model):
    """One debit or credit of an entry on one account."""

    entry = models.ForeignKey(JournalEntry, on_delete=models.PROTECT, related_name="legs")
    account = models.ForeignKey(
        LedgerAccount, on_delete=models.PROTECT, related_name="legs", db_index=False
    )
    # Minor units of `currency`, signed: debit positive, credit negative. Never zero.
    amount_minor = models.BigIntegerField()
    currency = models.CharField(
        max_length=3, help_text="Equal to the entry's and the account's currency."
    )
    memo = models.CharField(max_length=200, blank=True, default="")

    objects = TenantQuerySet.as_manager()
    tenant_lookups = ("account__organisation",)

    class Meta:
        db_table = "royalties_journalleg"
        ordering = ["entry_id", "id"]
        constraints = [
            models.CheckConstraint(condition=~Q(amount_minor=0), name="journal_leg_amount_nonzero"),
        ]
        indexes = [
            # Balances are sums per account: index-only scans on an append-only table.
            models.Index(
                fields=["account"], include=["amount_minor"], name="journal_leg_account_amount"
            ),
        ]

    def __str__(self) -> str:
        side = "Dr" if self.amount_minor > 0 else "Cr"
        return f"{side} {abs(self.amount_minor)} {self.currency} on account {self.account_id}"


class PeriodStatus(models.TextChoices):
    OPEN = "open", "Open"
    CLOSED = "closed", "Closed"


@pghistory.track(append_only=True, meta={"db_table": "royalties_accountingperiodevent"})
class AccountingPeriod(models.Model):
    """One calendar month (UTC) of the books. The first posting into a month creates its row,
    open. A closed period rejects postings dated into it; corrections go into the open period
    as adjustments. Every change is kept in ``AccountingPeriodEvent`` (pghistory)."""

    Status = PeriodStatus

    year = models.PositiveSmallIntegerField()
    month = models.PositiveSmallIntegerField()
    status = FSMField(max_length=10, choices=PeriodStatus.choices, default=PeriodStatus.OPEN)
    closed_at = models.DateTimeField(null=True, blank=True, help_text="When last closed.")
    closed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    reopened_at = models.DateTimeField(null=True, blank=True, help_text="When last reopened.")
    reopened_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    reopen_reason = models.TextField(blank=True, default="")

    class Meta:
        db_table = "royalties_accountingperiod"
        ordering = ["year", "month"]
        constraints = [
            models.UniqueConstraint(fields=["year", "month"], name="accounting_period_unique"),
            models.CheckConstraint(
                condition=Q(month__gte=1, month__lte=12), name="accounting_period_month_valid"
            ),
            models.CheckConstraint(
                condition=~Q(status=PeriodStatus.CLOSED)
                | Q(closed_at__isnull=False, closed_by__isnull=False),
                name="accounting_period_closed_has_closer",
            ),
            models.CheckConstraint(
                condition=Q(reopened_at__isnull=True)
                | (Q(reopened_by__isnull=False) & ~Q(reopen_reason="")),
                name="accounting_period_reopen_has_owner_and_reason",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.label} ({self.status})"

    @property
    def label(self) -> str:
        return f"{self.year:04d}-{self.month:02d}"

    @transition(field=status, source=PeriodStatus.OPEN, target=PeriodStatus.CLOSED)
    def close(self, *, by: User, at: datetime) -> None:
        self.closed_by = by
        self.closed_at = at

    @transition(field=status, source=PeriodStatus.CLOSED, target=PeriodStatus.OPEN)
    def reopen(self, *, by: User, at: datetime, reason: str) -> None:
        self.reopened_by = by
        self.reopened_at = at
        self.reopen_reason = reason
