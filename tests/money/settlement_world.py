"""The worked example's marketplace (docs/domain.md), built directly in the database for the
settlement tests: Northwind AI licenses Harbour Press's two works for ai-train at 0.3 ¢ per
1,000 tokens, commission 10 %; W1 Ana 70 % / Harbour 30 %; W2 Ben 50 % / Chloe 25 % /
Harbour 25 %."""

from __future__ import annotations

import datetime as dt
import itertools
from dataclasses import dataclass
from decimal import Decimal

from django.db import transaction
from django.utils import timezone

from accounts.models import Organisation
from catalog.models import Catalogue, RightsShare, Work
from marketplace.models import Agreement, AgreementSplit, AgreementWork
from settlement.models import SettlementRun, Statement
from tests.factories import FACTORY_FOR_MODEL, OrganisationFactory
from usage.models import UsageLine, UsageReport

OCTOBER = dt.date(2026, 10, 1)
NOVEMBER = dt.date(2026, 11, 1)
_report_ids = itertools.count(1)


@dataclass
class World:
    agreement: Agreement
    northwind: Organisation
    harbour: Organisation
    ana: Organisation
    ben: Organisation
    chloe: Organisation
    w1: Work
    w2: Work


@transaction.atomic
def worked_example(
    *,
    upfront_fee_minor: int = 0,
    advance_recoupable: bool = False,
    minimum_guarantee_minor: int = 0,
    starts_on: dt.date = dt.date(2026, 1, 1),
    ends_on: dt.date = dt.date(2027, 12, 31),
    frequency: str = Agreement.SettlementFrequency.MONTHLY,
    parties: dict[str, Organisation] | None = None,
) -> World:
    parties = parties or {}

    def org(key: str, name: str, kind: str = Organisation.Kind.CREATOR) -> Organisation:
        return parties.get(key) or OrganisationFactory(name=name, kind=kind)

    northwind = org("northwind", "Northwind AI", Organisation.Kind.AI_DEVELOPER)
    harbour = org("harbour", "Harbour Press")
    ana, ben, chloe = org("ana", "Ana Rivera"), org("ben", "Ben Ode"), org("chloe", "Chloe Marsh")
    catalogue = Catalogue.objects.create(owner=harbour, name="Harbour Press list")
    w1 = Work.objects.create(catalogue=catalogue, title="Salt Roads", kind=Work.Kind.BOOK)
    w2 = Work.objects.create(catalogue=catalogue, title="The Quiet Key", kind=Work.Kind.BOOK)
    agreement = Agreement.objects.create(
        licensee=northwind,
        licensor=harbour,
        status=Agreement.Status.ACTIVE,
        starts_on=starts_on,
        ends_on=ends_on,
        commission_bp=1000,
        settlement_frequency=frequency,
        accepted_at=timezone.now(),
        currency="USD",
        upfront_fee_minor=upfront_fee_minor,
        advance_recoupable=advance_recoupable,
        rate_tokens_trained_minor=Decimal("0.3"),
        minimum_guarantee_minor=minimum_guarantee_minor,
        permitted_uses=["ai-train"],
        territories=["WORLD"],
    )
    for work in (w1, w2):
        AgreementWork.objects.create(agreement=agreement, work=work, title=work.title)
    for work, holder, role, bp in (
        (w1, ana, "author", 7000),
        (w1, harbour, "publisher", 3000),
        (w2, ben, "author", 5000),
        (w2, chloe, "author", 2500),
        (w2, harbour, "publisher", 2500),
    ):
        RightsShare.objects.create(work=work, holder=holder, role=role, share_bp=bp)
        AgreementSplit.objects.create(
            agreement=agreement, work=work, holder=holder, role=role, share_bp=bp
        )
    return World(agreement, northwind, harbour, ana, ben, chloe, w1, w2)


def report_usage(
    agreement: Agreement,
    period_start: dt.date,
    lines: list[tuple[Work, str, int]],
    *,
    report_id: str | None = None,
    corrects: UsageReport | None = None,
) -> UsageReport:
    """A current usage report version (superseding ``corrects`` when given)."""
    period_end = (period_start.replace(day=28) + dt.timedelta(days=4)).replace(day=1)
    if corrects is not None:
        UsageReport.objects.filter(pk=corrects.pk).update(is_current=False)
    report = UsageReport.objects.create(
        agreement=agreement,
        report_id=report_id or (corrects.report_id if corrects else f"r-{next(_report_ids)}"),
        period_start=period_start,
        period_end=period_end,
        version=(corrects.version + 1) if corrects else 1,
        is_current=True,
        supersedes=corrects,
        currency="USD",
    )
    UsageLine.objects.bulk_create(
        UsageLine(report=report, line_no=number, work=work, metric=metric, quantity=quantity)
        for number, (work, metric, quantity) in enumerate(lines, start=1)
    )
    return report


# --- the tenancy walk's factories for the settlement API ---------------------------------------


def _run_for(_organisation: Organisation) -> SettlementRun:
    """A run: only the platform's finance team sees runs, never an ordinary organisation."""
    period = dt.date(2000 + next(_report_ids) % 50, 1, 1)
    return SettlementRun.objects.get_or_create(
        period_start=period,
        defaults={"period_end": period.replace(month=2), "posting_date": period},
    )[0]


def _statement_for(organisation: Organisation) -> Statement:
    """A statement of ``organisation`` (only it, and platform finance, may read it)."""
    run = _run_for(organisation)
    return Statement.objects.create(
        run=run,
        holder=organisation,
        currency="USD",
        period_start=run.period_start,
        period_end=run.period_end,
        opening_balance_minor=0,
        earned_minor=0,
        closing_balance_minor=0,
        carry_forward_exact=0,
        line_count=0,
        sha256="0" * 64,
    )


FACTORY_FOR_MODEL[SettlementRun] = _run_for
FACTORY_FOR_MODEL[Statement] = _statement_for
