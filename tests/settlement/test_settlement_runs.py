"""Settlement runs against the database: the worked examples settle to the statements computed
by hand, a finished run writes nothing more, corrections arrive as adjustments, quarterly
agreements wait for their quarter, guarantees are topped up, and a closed period recomputes
to identical statements."""

from __future__ import annotations

import datetime as dt
from collections import Counter

import pytest
from django.core.management import call_command
from django.db.models import Sum

from ledger.models import AccountCode, JournalEntry, JournalLeg
from marketplace.models import Agreement
from marketplace.signals import UpfrontFeePayment, agreement_activated
from settlement.models import (
    AgreementPosition,
    CarryBalance,
    RatedLine,
    SettlementAgreement,
    SettlementRun,
    Statement,
    StatementLine,
)
from settlement.services import (
    SettlementError,
    settlement_chunk_settle,
    settlement_run_create,
    settlement_run_execute,
    settlement_run_finalise,
    settlement_run_progress,
    settlement_run_recompute,
    settlement_run_start,
    statement_hash,
)
from tests.money.settlement_world import NOVEMBER, OCTOBER, report_usage, worked_example

pytestmark = [pytest.mark.django_db, pytest.mark.clock("2026-11-20T12:00:00Z")]

TODAY = dt.date(2027, 2, 1)


def settle(period_start: dt.date, *, today: dt.date = TODAY):
    run = settlement_run_create(period_start=period_start, today=today)
    run = settlement_run_start(run=run, dispatch=False)
    return settlement_run_execute(run=run)


def october_usage(world):
    return report_usage(
        world.agreement,
        OCTOBER,
        [(world.w1, "tokens_trained", 12_000_000), (world.w2, "tokens_trained", 4_000_000)],
    )


def earned(run) -> dict[str, int]:
    return {s.holder.name: s.earned_minor for s in Statement.objects.filter(run=run)}


def balances(code: str) -> dict[str, int]:
    rows = (
        JournalLeg.objects.filter(account__code=code)
        .values("account__organisation__name")
        .annotate(total=Sum("amount_minor"))
    )
    return {row["account__organisation__name"]: row["total"] for row in rows}


def test_october_settles_to_the_statements_computed_by_hand():
    world = worked_example()
    october_usage(world)
    run = settle(OCTOBER)

    assert run.status == "completed"
    assert earned(run) == {
        "Ana Rivera": 2268,
        "Harbour Press": 1242,
        "Ben Ode": 540,
        "Chloe Marsh": 270,
    }
    harbour = Statement.objects.get(run=run, holder=world.harbour)
    assert (harbour.opening_balance_minor, harbour.closing_balance_minor) == (0, 1242)
    assert harbour.line_count == 2
    lines = StatementLine.objects.filter(run=run, holder=world.harbour).order_by("work_id")
    assert [(line.work_id, line.share_bp, line.amount_minor) for line in lines] == [
        (world.w1.pk, 3000, 972),
        (world.w2.pk, 2500, 270),
    ]
    assert harbour.sha256 == statement_hash(lines)

    frozen = SettlementAgreement.objects.get(run=run)
    assert (frozen.charge_minor, frozen.invoiced_minor, frozen.commission_minor) == (
        4800,
        4800,
        480,
    )
    assert frozen.terms["rates"] == {"tokens_trained": "0.3000000000"}
    rated = RatedLine.objects.get(run=run, work=world.w1)
    assert (rated.quantity, rated.exact_minor, rated.line_count) == (12_000_000, 3600, 1)

    entry = JournalEntry.objects.get(reference=f"settlement_run:{run.pk}")
    assert entry.kind == "usage_settlement"
    assert balances(AccountCode.LICENSEE_RECEIVABLE) == {"Northwind AI": 4800}
    assert balances(AccountCode.PLATFORM_COMMISSION) == {None: -480}
    assert balances(AccountCode.HOLDER_PENDING) == {
        "Ana Rivera": -2268,
        "Harbour Press": -1242,
        "Ben Ode": -540,
        "Chloe Marsh": -270,
    }
    progress = settlement_run_progress(run=run)
    assert (progress.lines_total, progress.lines_rated, progress.percent) == (2, 2, 100)


def test_running_a_finished_run_again_writes_nothing():
    world = worked_example()
    october_usage(world)
    run = settle(OCTOBER)

    def snapshot():
        return (
            JournalLeg.objects.count(),
            StatementLine.objects.count(),
            RatedLine.objects.count(),
            Statement.objects.count(),
            list(CarryBalance.objects.values_list("entitled_exact", "allocated_minor")),
        )

    before = snapshot()
    assert settlement_run_start(run=run, dispatch=False).status == "completed"
    assert settlement_chunk_settle(run_id=run.pk, chunk_no=1) == 0
    settlement_run_finalise(run_id=run.pk)
    settlement_run_execute(run=run)
    assert settlement_run_create(period_start=OCTOBER, today=TODAY) == run
    assert snapshot() == before


def test_the_upfront_fee_is_posted_and_allocated_when_the_agreement_activates():
    world = worked_example(upfront_fee_minor=120_000)
    payment = UpfrontFeePayment(
        amount_minor=120_000,
        currency="USD",
        recoupable_advance=False,
        stripe_payment_intent_id="pi_1",
        stripe_charge_id="ch_1",
        stripe_customer_id="cus_1",
        checkout_attempt_id=1,
    )
    for _ in range(2):  # a repeated signal changes nothing
        agreement_activated.send(Agreement, agreement_id=world.agreement.pk, payment=payment)

    entry = JournalEntry.objects.get(idempotency_key=f"upfront_fee:agreement:{world.agreement.pk}")
    assert entry.kind == "upfront_fee"
    assert balances(AccountCode.LICENSEE_RECEIVABLE) == {"Northwind AI": 120_000}
    assert balances(AccountCode.PLATFORM_COMMISSION) == {None: -12_000}
    assert balances(AccountCode.HOLDER_PENDING) == {
        "Ana Rivera": -37_800,
        "Harbour Press": -29_700,
        "Ben Ode": -27_000,
        "Chloe Marsh": -13_500,
    }
    per_pair = Counter(
        {
            (line.work_id, line.holder.name): line.amount_minor
            for line in StatementLine.objects.filter(kind="upfront_fee", run__isnull=True)
        }
    )
    assert per_pair[world.w1.pk, "Harbour Press"] == 16_200
    assert per_pair[world.w2.pk, "Harbour Press"] == 13_500
    assert AgreementPosition.objects.get(agreement=world.agreement).unrecouped_advance_minor == 0

    # The fee joins the statements of the next run after it was posted.
    report_usage(world.agreement, dt.date(2026, 11, 1), [(world.w1, "tokens_trained", 0)])
    settle(OCTOBER)
    november = settle(NOVEMBER, today=TODAY)
    assert earned(november)["Ana Rivera"] == 37_800


def test_a_recoupable_advance_absorbs_usage_until_it_is_recouped():
    world = worked_example(upfront_fee_minor=120_000, advance_recoupable=True)
    payment = UpfrontFeePayment(120_000, "USD", True, "pi_2", "ch_2", "cus_2", 2)
    agreement_activated.send(Agreement, agreement_id=world.agreement.pk, payment=payment)
    assert JournalEntry.objects.get(reference=f"agreement:{world.agreement.pk}").kind == "advance"
    holders_after_advance = balances(AccountCode.HOLDER_PENDING)

    october_usage(world)
    run = settle(OCTOBER)
    frozen = SettlementAgreement.objects.get(run=run)
    assert (frozen.recouped_minor, frozen.invoiced_minor, frozen.allocated_minor) == (4800, 0, 0)
    position = AgreementPosition.objects.get(agreement=world.agreement)
    assert position.unrecouped_advance_minor == 115_200
    assert balances(AccountCode.HOLDER_PENDING) == holders_after_advance  # no new earnings
    memo = balances(AccountCode.ADVANCE_UNRECOUPED)
    assert memo == {"Northwind AI": 120_000 - 4800}

    # November's usage passes what is left of the advance: only the excess is owed.
    report_usage(
        world.agreement, NOVEMBER, [(world.w1, "tokens_trained", 400_000_000)]
    )  # 120,000 ¢
    november = settle(NOVEMBER)
    frozen = SettlementAgreement.objects.get(run=november)
    assert (frozen.charge_minor, frozen.recouped_minor, frozen.invoiced_minor) == (
        120_000,
        115_200,
        4800,
    )
    assert frozen.commission_minor == 480
    assert AgreementPosition.objects.get(agreement=world.agreement).unrecouped_advance_minor == 0


def test_a_corrected_report_of_a_settled_period_is_adjusted_in_the_next_run():
    world = worked_example()
    first = october_usage(world)
    settle(OCTOBER)
    report_usage(
        world.agreement,
        OCTOBER,
        [(world.w1, "tokens_trained", 14_000_000), (world.w2, "tokens_trained", 4_000_000)],
        corrects=first,
    )
    report_usage(world.agreement, NOVEMBER, [(world.w2, "tokens_trained", 4_000_000)])
    november = settle(NOVEMBER)

    adjustment = RatedLine.objects.get(run=november, kind="adjustment", work=world.w1)
    assert (adjustment.quantity, adjustment.settled_quantity, adjustment.exact_minor) == (
        14_000_000,
        12_000_000,
        600,
    )
    assert adjustment.usage_period_start == OCTOBER
    frozen = SettlementAgreement.objects.get(run=november)
    assert frozen.invoiced_minor == 600 + 1200  # the correction plus November's usage
    assert earned(november)["Ana Rivera"] == 378  # 70 % of 540
    assert settle(NOVEMBER).pk == november.pk

    # A downward correction is credited and clawed back from the holders it paid.
    second = SettlementAgreement.objects.get(run=november)
    assert second.journal_entry is not None
    current = world.agreement.usage_reports.get(is_current=True, period_start=OCTOBER)
    report_usage(
        world.agreement, OCTOBER, [(world.w2, "tokens_trained", 4_000_000)], corrects=current
    )
    december = settle(dt.date(2026, 12, 1))
    frozen = SettlementAgreement.objects.get(run=december)
    assert (frozen.credit_minor, frozen.invoiced_minor, frozen.commission_minor) == (
        4200,
        -4200,
        -420,
    )
    assert earned(december) == {"Ana Rivera": -2646, "Harbour Press": -1134}


def test_quarterly_agreements_settle_in_the_run_of_the_quarters_last_month():
    world = worked_example(frequency=Agreement.SettlementFrequency.QUARTERLY)
    october_usage(world)
    report_usage(world.agreement, NOVEMBER, [(world.w1, "tokens_trained", 1_000_000)])
    assert settle(OCTOBER).agreements_total == 0
    assert settle(NOVEMBER).agreements_total == 0
    december = settle(dt.date(2026, 12, 1))
    frozen = SettlementAgreement.objects.get(run=december)
    assert (frozen.usage_period_start, frozen.usage_period_end) == (OCTOBER, dt.date(2027, 1, 1))
    assert frozen.invoiced_minor == 4800 + 300


def test_the_guarantee_shortfall_is_billed_when_the_contract_year_ends():
    world = worked_example(
        minimum_guarantee_minor=10_000,
        starts_on=dt.date(2025, 11, 1),
        ends_on=dt.date(2027, 10, 31),
    )
    october_usage(world)
    run = settle(OCTOBER)
    frozen = SettlementAgreement.objects.get(run=run)
    assert (frozen.shortfall_minor, frozen.invoiced_minor) == (5200, 10_000)
    assert frozen.commission_minor + frozen.allocated_minor == 10_000
    assert StatementLine.objects.filter(run=run, kind="guarantee_shortfall").exists()


def test_runs_settle_in_order_and_only_after_the_month_ends():
    world = worked_example()
    october_usage(world)
    with pytest.raises(SettlementError, match="has not ended"):
        settlement_run_create(period_start=NOVEMBER, today=dt.date(2026, 11, 30))
    settlement_run_create(period_start=OCTOBER, today=TODAY)
    november = settlement_run_create(period_start=NOVEMBER, today=TODAY)
    with pytest.raises(SettlementError, match="earlier period"):
        settlement_run_start(run=november, dispatch=False)


def test_a_closed_period_recomputes_to_identical_statements(capsys):
    world = worked_example()
    october_usage(world)
    october = settle(OCTOBER)
    report_usage(world.agreement, NOVEMBER, [(world.w1, "tokens_trained", 1_234_567)])
    november = settle(NOVEMBER)

    result = settlement_run_recompute(run=october)
    assert result.identical and result.statements_checked == 4
    assert settlement_run_recompute(run=november).identical
    call_command("settlement_recompute", "2026-11")
    assert "identical" in capsys.readouterr().out

    # Collection dates are not figures; a tampered frozen rate is caught by the hashes.
    StatementLine.objects.filter(run=november, holder=world.ana).update(collected_on=TODAY)
    assert settlement_run_recompute(run=november).identical
    frozen = SettlementAgreement.objects.get(run=november)
    frozen.terms["rates"]["tokens_trained"] = "0.4"
    frozen.save(update_fields=["terms"])
    tampered = settlement_run_recompute(run=november)
    assert tampered.mismatched_agreement_ids == [world.agreement.pk]
    assert set(tampered.mismatched_holder_ids) == {world.ana.pk, world.harbour.pk}


def test_the_demo_has_last_month_settled_to_the_worked_example():
    from frontend.demo import seed_demo

    seed_demo()
    lines_after_first_seed = StatementLine.objects.count()
    seed_demo()
    assert StatementLine.objects.count() == lines_after_first_seed
    run = SettlementRun.objects.get(status="completed")
    assert earned(run) == {
        "Ana Rivera": 2268,
        "Harbour Press": 1242,
        "Ben Ode": 540,
        "Chloe Marsh": 270,
    }
