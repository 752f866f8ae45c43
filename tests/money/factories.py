"""Builders for royalties tests, and the royalties models exposed by the API registered in
FACTORY_FOR_MODEL (the tenancy walk uses them)."""

from __future__ import annotations

import datetime as dt
import io
import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from django.db import transaction
from django.utils import timezone

from accounts.models import Organisation
from catalog.models import Catalogue, RightsShare, Work
from marketplace.models import Agreement, AgreementSplit, AgreementWork
from tests.factories import FACTORY_FOR_MODEL
from tests.marketplace.factories import creator_org, developer_org
from usage.ingest import ContentFormat
from usage.models import UsageReport
from usage.services import UsageSubmission, usage_report_submit

# --- usage reports ---------------------------------------------------------------------------

_usage_sequence = itertools.count(1)


@dataclass
class UsageWorld:
    """An agreement built directly in the database, with works that carry identifiers."""

    agreement: Agreement
    works: list[Work]
    licensee: Organisation
    licensor: Organisation


def isrc_for(n: int) -> str:
    return f"GBTRR26{n:05d}"


@transaction.atomic
def _work(catalogue: Catalogue, **fields: object) -> Work:
    """A work with a complete split sheet; ``fields``: its identifiers (and an explicit id)."""
    work = Work.objects.create(
        catalogue=catalogue,
        title=f"Usage work {next(_usage_sequence)}",
        kind=Work.Kind.AUDIO_RECORDING,
        **fields,
    )
    RightsShare.objects.create(
        work=work, holder=catalogue.owner, role=RightsShare.Role.LABEL, share_bp=10_000
    )
    return work


def usage_world(
    *,
    licensee: Organisation | None = None,
    licensor: Organisation | None = None,
    works: int = 3,
    starts_on: dt.date = dt.date(2026, 1, 1),
    ends_on: dt.date = dt.date(2026, 12, 31),
    status: str = Agreement.Status.ACTIVE,
    rates: dict[str, Decimal] | None = None,
    revenue_share_bp: int | None = 1_500,
    permitted_uses: Sequence[str] = ("ai-train", "ai-input"),
    currency: str = "USD",
    identifiers: Sequence[dict[str, object]] | None = None,
) -> UsageWorld:
    """``works`` licensed works; work i has ISRC ``isrc_for(i)`` unless ``identifiers`` says
    otherwise (a dict of Work fields per work: identifiers, or an explicit id). Rates default
    to tokens_trained and retrievals priced, training_examples and outputs_attributed not."""
    licensee = licensee or developer_org()
    licensor = licensor or creator_org()
    rates = (
        rates
        if rates is not None
        else {"tokens_trained": Decimal("0.3"), "retrievals": Decimal("0.01")}
    )
    with transaction.atomic():
        catalogue = Catalogue.objects.create(
            owner=licensor, name=f"Usage catalogue {next(_usage_sequence)}"
        )
        made = [
            _work(catalogue, **(identifiers[i] if identifiers else {"isrc": isrc_for(i)}))
            for i in range(works)
        ]
        agreement = Agreement.objects.create(
            licensee=licensee,
            licensor=licensor,
            status=status,
            starts_on=starts_on,
            ends_on=ends_on,
            commission_bp=1_000,
            accepted_at=timezone.now(),
            currency=currency,
            revenue_share_bp=revenue_share_bp,
            permitted_uses=list(permitted_uses),
            territories=["WORLD"],
            **{f"rate_{metric}_minor": rate for metric, rate in rates.items()},
        )
        for work in made:
            AgreementWork.objects.create(
                agreement=agreement,
                work=work,
                title=work.title,
                identifiers={
                    scheme: getattr(work, scheme)
                    for scheme in ("isbn13", "isrc", "iswc", "doi")
                    if getattr(work, scheme)
                },
            )
            AgreementSplit.objects.create(
                agreement=agreement, work=work, holder=licensor, role="label", share_bp=10_000
            )
    return UsageWorld(agreement, made, licensee, licensor)


def license_another_work(world: UsageWorld, **fields: object) -> Work:
    """Add a work from a new catalogue of the licensor to the agreement (as if licensed so)."""
    catalogue = Catalogue.objects.create(
        owner=world.licensor, name=f"Usage catalogue {next(_usage_sequence)}"
    )
    work = _work(catalogue, **fields)
    AgreementWork.objects.create(agreement=world.agreement, work=work, title=work.title)
    AgreementSplit.objects.create(
        agreement=world.agreement, work=work, holder=world.licensor, role="label", share_bp=10_000
    )
    world.works.append(work)
    return work


def submit_usage(
    world: UsageWorld,
    content: bytes | str,
    *,
    report_id: str | None = None,
    period: dt.date = dt.date(2026, 10, 1),
    partial: bool = False,
    content_format: ContentFormat = ContentFormat.JSON_LINES,
) -> UsageSubmission:
    """Submit through the real service; returns its UsageSubmission (or raises)."""
    return usage_report_submit(
        agreement=world.agreement,
        report_id=report_id or f"report-{next(_usage_sequence)}",
        period_start=period,
        content=io.BytesIO(content.encode() if isinstance(content, str) else content),
        content_format=content_format,
        partial=partial,
    )


def _usage_report_for(organisation: Organisation) -> UsageReport:
    """A report only ``organisation`` (as licensee or licensor) and a fresh party may see."""
    if organisation.kind == Organisation.Kind.AI_DEVELOPER:
        world = usage_world(licensee=organisation, works=1)
    else:
        world = usage_world(licensor=organisation, works=1)
    work_id = world.works[0].pk
    line = f'{{"work_id": {work_id}, "metric": "tokens_trained", "quantity": 1000}}\n'
    return submit_usage(world, line).report


FACTORY_FOR_MODEL[UsageReport] = _usage_report_for


# --- finance (platform books: no organisation but the platform's finance staff sees them) ------


def _reconciliation_run(_organisation: Organisation):
    from finance.models import ReconciliationRun

    start = timezone.now().replace(microsecond=0)
    return ReconciliationRun.objects.create(
        window_start=start, window_end=start + dt.timedelta(days=1)
    )


def _reconciliation_exception(organisation: Organisation):
    from finance.models import ReconciliationException

    run = _reconciliation_run(organisation)
    return ReconciliationException.objects.create(
        run=run,
        last_seen_run=run,
        kind=ReconciliationException.Kind.MISSING_IN_LEDGER,
        stripe_object_id=f"tr_factory{next(_usage_sequence)}",
        occurred_on=run.window_start.date(),
        currency="USD",
        actual_minor=-100,
    )


def _accounting_period(_organisation: Organisation):
    from ledger.services import accounting_period_for

    return accounting_period_for(day=timezone.now().date())


def _finance_export(_organisation: Organisation):
    from finance.models import FinanceExport

    return FinanceExport.objects.create(kind="trial_balance", file_format="csv")


def _register_finance_factories() -> None:
    from finance.models import (
        FinanceExport,
        ReconciliationException,
        ReconciliationRun,
    )
    from ledger.models import AccountingPeriod

    FACTORY_FOR_MODEL[ReconciliationRun] = _reconciliation_run
    FACTORY_FOR_MODEL[ReconciliationException] = _reconciliation_exception
    FACTORY_FOR_MODEL[AccountingPeriod] = _accounting_period
    FACTORY_FOR_MODEL[FinanceExport] = _finance_export


_register_finance_factories()


# --- payouts and collections (the holder's, the licensee's; finance sees all) -------------------


def payout_for(organisation: Organisation, **fields: object):
    """A failed payout of ``organisation`` (failed: not open, so any number may exist)."""
    from payouts.models import Payout

    n = next(_usage_sequence)
    values: dict[str, object] = {
        "holder": organisation,
        "currency": "USD",
        "amount_minor": 1_000,
        "status": Payout.Status.FAILED,
        "failure_reason": "Stripe refused it (factory).",
        "idempotency_key": f"transfer:payout:factory-{n}",
        "destination_account_id": f"acct_factory{n}",
    }
    values.update(fields)
    return Payout.objects.create(**values)


def collection_for(organisation: Organisation, **fields: object):
    """A collection due from ``organisation`` for a run of its own."""
    from payouts.models import Collection
    from tests.money.settlement_world import _run_for

    values: dict[str, object] = {
        "licensee": organisation,
        "run": _run_for(organisation),
        "currency": "USD",
        "amount_due_minor": 5_000,
    }
    values.update(fields)
    return Collection.objects.create(**values)


def _register_payout_factories() -> None:
    from payouts.models import Collection, Payout

    FACTORY_FOR_MODEL[Payout] = payout_for
    FACTORY_FOR_MODEL[Collection] = collection_for


_register_payout_factories()

# The settlement API's models (runs, statements) register their factories there.
import tests.money.settlement_world  # noqa: E402, F401
