"""The ledger's services and selectors: posting rules, Python-side checks, idempotency,
reversal, bulk posting and the period lock (the database invariants themselves are in
test_ledger_invariants.py)."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.exceptions import PermissionDenied
from django.db import IntegrityError, connection, transaction

from accounts.models import Membership, Organisation
from ledger.models import AccountCode, AccountingPeriod, EntryKind, JournalEntry, JournalLeg
from ledger.selectors import (
    account_balance,
    balances_by_code,
    entries_for_reference,
    entries_for_stripe_object,
    holder_balances,
    trial_balance,
)
from ledger.services import (
    AlreadyReversedError,
    BulkLeg,
    ClosedPeriodError,
    IdempotencyConflictError,
    LedgerError,
    LegSpec,
    UnbalancedEntryError,
    accounting_period_for,
    journal_post,
    journal_post_bulk,
    journal_post_bulk_rows,
    journal_reverse,
    ledger_account_for,
    ledger_account_ids_for_organisations,
    period_close,
    period_reopen,
)
from tests.factories import MembershipFactory, OrganisationFactory

pytestmark = pytest.mark.django_db

OCTOBER = dt.date(2025, 10, 31)
NOVEMBER = dt.date(2025, 11, 3)


def creator(name: str) -> Organisation:
    return OrganisationFactory(name=name, kind=Organisation.Kind.CREATOR)


def licensee(name: str) -> Organisation:
    return OrganisationFactory(name=name, kind=Organisation.Kind.AI_DEVELOPER)


def account(code: str, organisation: Organisation | None = None, currency: str = "USD"):
    return ledger_account_for(code=code, currency=currency, organisation=organisation)


def post(legs, *, key: str, kind=EntryKind.ADJUSTMENT, day=OCTOBER, currency="USD", **extra):
    return journal_post(
        kind=kind,
        currency=currency,
        effective_date=day,
        legs=legs,
        memo=extra.pop("memo", "test"),
        reference=extra.pop("reference", "test:1"),
        idempotency_key=key,
        **extra,
    )


@pytest.fixture
def northwind() -> Organisation:
    return licensee("Northwind AI")


@pytest.fixture
def holders() -> dict[str, Organisation]:
    return {name: creator(name) for name in ("Ana", "Harbour Press", "Ben", "Chloe")}


@pytest.fixture
def platform_people():
    platform = OrganisationFactory(name="TrainRight", kind=Organisation.Kind.PLATFORM)
    owner = MembershipFactory(organisation=platform, role=Membership.Role.OWNER).user
    finance = MembershipFactory(organisation=platform, role=Membership.Role.FINANCE).user
    return owner, finance


def post_worked_example_upfront_fee(northwind, holders, *, kind=EntryKind.UPFRONT_FEE):
    """docs/domain.md: $1,200 upfront fee at 10 % commission, W1 and W2 each a 54,000 ¢ pool."""
    pending = {name: account(AccountCode.HOLDER_PENDING, org) for name, org in holders.items()}
    legs = [
        LegSpec(account(AccountCode.LICENSEE_RECEIVABLE, northwind), 120_000),
        LegSpec(account(AccountCode.PLATFORM_COMMISSION), -12_000),
        LegSpec(pending["Ana"], -37_800, "W1 Salt Roads"),
        LegSpec(pending["Harbour Press"], -16_200, "W1 Salt Roads"),
        LegSpec(pending["Ben"], -27_000, "W2 The Quiet Key"),
        LegSpec(pending["Chloe"], -13_500, "W2 The Quiet Key"),
        LegSpec(pending["Harbour Press"], -13_500, "W2 The Quiet Key"),
    ]
    return post(legs, kind=kind, key=f"{kind}:agreement:12", reference="agreement:12")


EXAMPLE_SHARES = {"Ana": 37_800, "Harbour Press": 29_700, "Ben": 27_000, "Chloe": 13_500}


def test_worked_example_upfront_fee_posts_commission_and_holder_pending(northwind, holders):
    entry = post_worked_example_upfront_fee(northwind, holders)

    amounts = sorted(entry.legs.values_list("amount_minor", flat=True))
    assert amounts == [-37_800, -27_000, -16_200, -13_500, -13_500, -12_000, 120_000]
    for name, share in EXAMPLE_SHARES.items():
        balances = holder_balances(organisation=holders[name], currency="USD")
        assert (balances.pending_minor, balances.payable_minor) == (share, 0)
    assert balances_by_code(code=AccountCode.PLATFORM_COMMISSION, currency="USD") == {None: -12_000}
    assert balances_by_code(code=AccountCode.LICENSEE_RECEIVABLE, currency="USD") == {
        northwind.pk: 120_000
    }
    books = trial_balance()
    assert books.totals_by_currency == {"USD": 0}
    assert books.is_balanced
    assert list(entries_for_reference(reference="agreement:12")) == [entry]


def test_collection_payout_and_payout_reversal_follow_the_posting_rules(northwind, holders):
    upfront = post_worked_example_upfront_fee(northwind, holders)
    pending = {leg.account.organisation.name: leg.account for leg in upfront.legs.all()[2:]}
    payable = {name: account(AccountCode.HOLDER_PAYABLE, org) for name, org in holders.items()}
    cash = account(AccountCode.PLATFORM_CASH)
    stripe_fee = 3_510
    collection_legs = [
        LegSpec(cash, 120_000 - stripe_fee),
        LegSpec(account(AccountCode.STRIPE_FEES), stripe_fee),
        LegSpec(account(AccountCode.LICENSEE_RECEIVABLE, northwind), -120_000),
    ]
    for name, share in EXAMPLE_SHARES.items():
        collection_legs += [LegSpec(pending[name], share), LegSpec(payable[name], -share)]
    post(
        collection_legs,
        kind=EntryKind.COLLECTION,
        key="stripe:ch_1",
        reference="agreement:12",
        stripe_object_id="ch_1",
    )
    post(
        [LegSpec(payable["Ana"], 37_800), LegSpec(cash, -37_800)],
        kind=EntryKind.PAYOUT,
        key="payout:55",
        reference="payout:55",
        stripe_object_id="tr_55",
    )
    post(
        [LegSpec(cash, 800), LegSpec(payable["Ana"], -800)],
        kind=EntryKind.PAYOUT_REVERSAL,
        key="stripe:trr_9",
        reference="payout:55",
        stripe_object_id="trr_9",
    )

    ana = holder_balances(organisation=holders["Ana"], currency="USD")
    assert (ana.pending_minor, ana.payable_minor, ana.paid_minor) == (0, 800, 37_000)
    harbour = holder_balances(organisation=holders["Harbour Press"], currency="USD")
    assert (harbour.pending_minor, harbour.payable_minor, harbour.paid_minor) == (0, 29_700, 0)
    assert account_balance(account=cash) == 120_000 - stripe_fee - 37_000
    assert balances_by_code(code=AccountCode.LICENSEE_RECEIVABLE, currency="USD") == {
        northwind.pk: 0
    }
    assert trial_balance().is_balanced


def test_refund_after_payout_moves_the_holder_share_to_recoverable(northwind, holders):
    ben = holders["Ben"]
    payable, recoverable = (
        account(AccountCode.HOLDER_PAYABLE, ben),
        account(AccountCode.HOLDER_RECOVERABLE, ben),
    )
    cash, commission = account(AccountCode.PLATFORM_CASH), account(AccountCode.PLATFORM_COMMISSION)
    post([LegSpec(cash, 1_000), LegSpec(commission, -100), LegSpec(payable, -900)], key="earn")
    post([LegSpec(payable, 600), LegSpec(cash, -600)], kind=EntryKind.PAYOUT, key="payout:1")
    post(
        [
            LegSpec(cash, -1_000),
            LegSpec(commission, 100),
            LegSpec(payable, 300),
            LegSpec(recoverable, 600),
        ],
        kind=EntryKind.REFUND,
        key="stripe:re_1",
    )
    post([LegSpec(cash, 500), LegSpec(commission, -50), LegSpec(payable, -450)], key="earn2")
    post([LegSpec(payable, 450), LegSpec(recoverable, -450)], kind=EntryKind.RECOVERY, key="r1")

    balances = holder_balances(organisation=ben, currency="USD")
    assert (balances.payable_minor, balances.recoverable_minor, balances.paid_minor) == (
        0,
        150,
        600,
    )


def test_recoupable_advance_tracks_what_is_left_to_recoup(northwind, holders):
    post_worked_example_upfront_fee(northwind, holders, kind=EntryKind.ADVANCE)
    unrecouped = ledger_account_for(
        code=AccountCode.ADVANCE_UNRECOUPED,
        currency="USD",
        organisation=northwind,
        subledger_key="agreement:12",
    )
    contra = account(AccountCode.ADVANCE_UNRECOUPED_CONTRA)
    post(
        [LegSpec(unrecouped, 120_000), LegSpec(contra, -120_000)],
        kind=EntryKind.ADVANCE,
        key="advance:agreement:12:memo",
    )
    post(
        [LegSpec(contra, 4_800), LegSpec(unrecouped, -4_800)],
        kind=EntryKind.USAGE_SETTLEMENT,
        key="settlement_run:3:agreement:12",
        reference="settlement_run:3",
    )

    assert account_balance(account=unrecouped) == 115_200
    assert holder_balances(organisation=holders["Ana"], currency="USD").pending_minor == 37_800
    assert trial_balance().is_balanced


@pytest.mark.parametrize(
    ("legs", "error", "message"),
    [
        (lambda a: [LegSpec(a["cash"], 100)], UnbalancedEntryError, "two or more legs, not 1"),
        (
            lambda a: [LegSpec(a["cash"], 100), LegSpec(a["fees"], -90)],
            UnbalancedEntryError,
            "sum to 10 USD minor units instead of zero (debits 100, credits 90)",
        ),
        (
            lambda a: [LegSpec(a["cash"], 100), LegSpec(a["euro_fees"], -100)],
            UnbalancedEntryError,
            "is in EUR, the entry in USD",
        ),
        (lambda a: [LegSpec(a["cash"], 0), LegSpec(a["fees"], 0)], LedgerError, "non-zero"),
        (
            lambda a: [LegSpec(a["cash"], 1.5), LegSpec(a["fees"], -1.5)],
            LedgerError,
            "integers in minor units, not 1.5",
        ),
        (
            lambda a: [LegSpec(a["cash"], True), LegSpec(a["fees"], -1)],
            LedgerError,
            "integers in minor units",
        ),
    ],
)
def test_python_rejects_bad_postings_with_clear_errors(legs, error, message):
    accounts = {
        "cash": account(AccountCode.PLATFORM_CASH),
        "fees": account(AccountCode.STRIPE_FEES),
        "euro_fees": account(AccountCode.STRIPE_FEES, currency="EUR"),
    }
    with pytest.raises(error, match=message.replace("(", r"\(").replace(")", r"\)")):
        post(legs(accounts), key="bad")
    assert not JournalEntry.objects.exists()


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ({"currency": "usd"}, "uppercase"),
        ({"currency": "US"}, "3-letter ISO 4217"),
        ({"kind": "gift"}, "'gift' is not an entry kind"),
        ({"kind": EntryKind.REVERSAL}, "posted with journal_reverse"),
        ({"day": dt.datetime(2025, 10, 1, tzinfo=dt.UTC)}, "is a date"),
        ({"reference": ""}, "reference of 1 to 100"),
        ({"key": ""}, "idempotency key of 1 to 200"),
    ],
)
def test_python_rejects_bad_entry_fields(override, message):
    legs = [
        LegSpec(account(AccountCode.PLATFORM_CASH), 5),
        LegSpec(account(AccountCode.STRIPE_FEES), -5),
    ]
    arguments = {"key": "k", **override}
    with pytest.raises(LedgerError, match=message):
        post(legs, **arguments)


def test_unsaved_accounts_and_wrong_parties_are_refused(northwind):
    cash = account(AccountCode.PLATFORM_CASH)
    unsaved = type(cash)(code=AccountCode.STRIPE_FEES, kind="expense", currency="USD")
    with pytest.raises(LedgerError, match="saved accounts"):
        post([LegSpec(cash, 5), LegSpec(unsaved, -5)], key="k")
    with pytest.raises(LedgerError, match="platform account"):
        account(AccountCode.PLATFORM_CASH, northwind)
    with pytest.raises(LedgerError, match="organisation of kind creator"):
        account(AccountCode.HOLDER_PAYABLE, northwind)
    with pytest.raises(LedgerError, match="not in the chart"):
        account("petty_cash")


def test_ledger_account_for_returns_the_same_account_each_time(holders):
    first = account(AccountCode.HOLDER_PAYABLE, holders["Ana"])
    assert account(AccountCode.HOLDER_PAYABLE, holders["Ana"]) == first
    assert account(AccountCode.HOLDER_PAYABLE, holders["Ana"], currency="EUR") != first
    assert account(AccountCode.PLATFORM_CASH) == account(AccountCode.PLATFORM_CASH)
    assert first.kind == "liability"


def test_ledger_account_ids_for_organisations_creates_in_bulk(holders, northwind):
    existing = account(AccountCode.HOLDER_PENDING, holders["Ben"])
    ids = [org.pk for org in holders.values()]

    mapping = ledger_account_ids_for_organisations(
        code=AccountCode.HOLDER_PENDING, currency="USD", organisation_ids=ids
    )

    assert set(mapping) == set(ids)
    assert mapping[holders["Ben"].pk] == existing.pk
    again = ledger_account_ids_for_organisations(
        code=AccountCode.HOLDER_PENDING, currency="USD", organisation_ids=ids
    )
    assert again == mapping
    with pytest.raises(LedgerError, match=rf"ids \[{northwind.pk}\]"):
        ledger_account_ids_for_organisations(
            code=AccountCode.HOLDER_PENDING, currency="USD", organisation_ids=[northwind.pk]
        )


def test_same_idempotency_key_returns_the_first_entry_or_names_the_difference():
    cash, fees = account(AccountCode.PLATFORM_CASH), account(AccountCode.STRIPE_FEES)
    first = post([LegSpec(fees, 30), LegSpec(cash, -30)], key="stripe:txn_1", memo="fee")

    again = post([LegSpec(fees, 30), LegSpec(cash, -30)], key="stripe:txn_1", memo="retried")

    assert again == first
    assert JournalEntry.objects.count() == 1
    with pytest.raises(IdempotencyConflictError, match="differs in: legs"):
        post([LegSpec(fees, 31), LegSpec(cash, -31)], key="stripe:txn_1")
    with pytest.raises(IdempotencyConflictError, match="differs in: effective_date"):
        post([LegSpec(fees, 30), LegSpec(cash, -30)], key="stripe:txn_1", day=NOVEMBER)


def test_reversal_negates_every_leg_once_and_keeps_the_stripe_object():
    cash, fees = account(AccountCode.PLATFORM_CASH), account(AccountCode.STRIPE_FEES)
    wrong = post(
        [LegSpec(fees, 300, "typo"), LegSpec(cash, -300)],
        kind=EntryKind.STRIPE_FEE,
        key="stripe:ch_7:fee",
        reference="charge:7",
        stripe_object_id="ch_7",
    )

    reversal = journal_reverse(
        entry=wrong, effective_date=NOVEMBER, memo="fee was 30", idempotency_key="reverse:1"
    )

    assert reversal.kind == EntryKind.REVERSAL
    assert reversal.reverses == wrong
    assert (reversal.reference, reversal.stripe_object_id) == ("charge:7", "ch_7")
    assert sorted(reversal.legs.values_list("amount_minor", "memo")) == [(-300, "typo"), (300, "")]
    assert account_balance(account=fees) == 0
    assert account_balance(account=fees, as_of=OCTOBER) == 300
    assert len(entries_for_stripe_object(stripe_object_id="ch_7")) == 2
    assert (
        journal_reverse(
            entry=wrong, effective_date=NOVEMBER, memo="retry", idempotency_key="reverse:1"
        )
        == reversal
    )
    with pytest.raises(AlreadyReversedError, match=f"already reversed by entry #{reversal.pk}"):
        journal_reverse(entry=wrong, effective_date=NOVEMBER, memo="", idempotency_key="other")


def test_selectors_filter_by_date_organisation_currency_and_period(holders):
    ana, ben = holders["Ana"], holders["Ben"]
    cash = account(AccountCode.PLATFORM_CASH)
    for key, day, org, amount in [
        ("a1", OCTOBER, ana, 100),
        ("a2", NOVEMBER, ana, 50),
        ("b1", OCTOBER, ben, 70),
    ]:
        payable_account = account(AccountCode.HOLDER_PAYABLE, org)
        post([LegSpec(cash, amount), LegSpec(payable_account, -amount)], key=key, day=day)
    euro_cash = account(AccountCode.PLATFORM_CASH, currency="EUR")
    euro_equity = account(AccountCode.PLATFORM_EQUITY, currency="EUR")
    post([LegSpec(euro_cash, 9), LegSpec(euro_equity, -9)], key="e1", currency="EUR")

    payable = AccountCode.HOLDER_PAYABLE
    assert balances_by_code(code=payable, currency="USD") == {ana.pk: -150, ben.pk: -70}
    assert balances_by_code(code=payable, currency="USD", as_of=OCTOBER) == {
        ana.pk: -100,
        ben.pk: -70,
    }
    assert balances_by_code(code=payable, currency="USD", organisation_ids=[ben.pk]) == {
        ben.pk: -70
    }
    october = trial_balance(period=accounting_period_for(day=OCTOBER))
    october_payable = {
        row.organisation_id: row.balance_minor for row in october.rows if row.code == payable
    }
    assert october_payable == {ana.pk: -100, ben.pk: -70}
    assert october.totals_by_currency == {"USD": 0, "EUR": 0}
    assert trial_balance(currency="EUR").totals_by_currency == {"EUR": 0}
    assert account(payable, ana).natural_balance_minor(-150) == 150


def stage_settlement_legs(holders, northwind, *, runs=("settlement_run:3",), pool=900):
    """Legs as the settlement engine would stage them: one entry per (run, agreement)."""
    receivable = account(AccountCode.LICENSEE_RECEIVABLE, northwind)
    commission = account(AccountCode.PLATFORM_COMMISSION)
    pending = ledger_account_ids_for_organisations(
        code=AccountCode.HOLDER_PENDING,
        currency="USD",
        organisation_ids=[org.pk for org in holders.values()],
    )
    rows = []
    for run in runs:
        for agreement in (12, 13):
            key = f"{run}:agreement:{agreement}"
            rows.append(BulkLeg(key, run, "USD", receivable.pk, 1_000))
            rows.append(BulkLeg(key, run, "USD", commission.pk, -100))
            rows.append(BulkLeg(key, run, "USD", pending[holders["Ana"].pk], -(pool - 300)))
            rows.append(BulkLeg(key, run, "USD", pending[holders["Ben"].pk], -300, "W2"))
            rows.append(BulkLeg(key, run, "USD", pending[holders["Chloe"].pk], 0))
    return rows


def test_bulk_post_from_a_query_creates_one_entry_per_key_and_is_idempotent(holders, northwind):
    rows = stage_settlement_legs(holders, northwind)
    values = ", ".join(["(%s, %s, %s, %s, %s, %s)"] * len(rows))
    query = (
        "SELECT * FROM (VALUES "
        + values
        + ") AS v (idempotency_key, reference, currency, account_id, amount_minor, memo)"
    )
    params = [value for row in rows for value in row]

    def run_bulk():
        return journal_post_bulk(
            kind=EntryKind.USAGE_SETTLEMENT,
            effective_date=OCTOBER,
            memo="October usage",
            legs_query=query,
            params=params,
        )

    result = run_bulk()

    assert (result.entries_created, result.legs_created, result.entries_already_posted) == (
        2,
        8,
        0,
    )
    entries = list(entries_for_reference(reference="settlement_run:3"))
    assert [entry.idempotency_key for entry in entries] == [
        "settlement_run:3:agreement:12",
        "settlement_run:3:agreement:13",
    ]
    assert holder_balances(organisation=holders["Ana"], currency="USD").pending_minor == 1_200
    assert trial_balance().is_balanced
    again = run_bulk()
    assert (again.entries_created, again.entries_already_posted) == (0, 2)
    assert JournalLeg.objects.count() == 8


def test_bulk_post_rows_streams_with_copy_and_refuses_changed_or_unbalanced_postings(
    holders, northwind
):
    def run_bulk(rows):
        return journal_post_bulk_rows(
            kind=EntryKind.USAGE_SETTLEMENT, effective_date=OCTOBER, memo="", rows=rows
        )

    result = run_bulk(iter(stage_settlement_legs(holders, northwind, runs=("r:1", "r:2"))))
    assert (result.entries_created, result.legs_created) == (4, 16)

    changed = stage_settlement_legs(holders, northwind, runs=("r:2",), pool=901)
    with pytest.raises(UnbalancedEntryError, match="'r:2:agreement:12': 4 legs summing to -1"):
        run_bulk(changed)
    changed[0] = changed[0]._replace(amount_minor=1_001)
    changed[5] = changed[5]._replace(amount_minor=1_001)
    with pytest.raises(IdempotencyConflictError, match="r:2:agreement:12"):
        run_bulk(changed)
    assert JournalEntry.objects.count() == 4


def test_postings_into_a_closed_period_are_refused_naming_it(platform_people, holders):
    owner, _ = platform_people
    cash, fees = account(AccountCode.PLATFORM_CASH), account(AccountCode.STRIPE_FEES)
    post([LegSpec(fees, 1), LegSpec(cash, -1)], key="before close")
    october = accounting_period_for(day=OCTOBER)

    period_close(period=october, actor=owner)

    with pytest.raises(ClosedPeriodError, match="2025-10 is closed"):
        post([LegSpec(fees, 2), LegSpec(cash, -2)], key="late")
    with pytest.raises(ClosedPeriodError, match="2025-10 is closed"):
        journal_post_bulk_rows(
            kind=EntryKind.ADJUSTMENT,
            effective_date=OCTOBER,
            memo="",
            rows=[BulkLeg("b", "x", "USD", fees.pk, 2), BulkLeg("b", "x", "USD", cash.pk, -2)],
        )
    with (
        pytest.raises(IntegrityError, match="accounting period 2025-10 is closed"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute(
            "INSERT INTO royalties_journalentry"
            " (kind, effective_date, memo, reference, idempotency_key, currency)"
            " VALUES ('adjustment', '2025-10-15', '', 'x', 'raw', 'USD')"
        )
    november = post([LegSpec(fees, 2), LegSpec(cash, -2)], key="adjusted", day=NOVEMBER)
    assert november.effective_date == NOVEMBER


def test_closing_and_reopening_need_platform_roles_and_are_kept_in_history(
    platform_people, holders
):
    owner, finance = platform_people
    outsider = MembershipFactory(organisation=holders["Ana"], role=Membership.Role.OWNER).user
    october = accounting_period_for(day=OCTOBER)

    with pytest.raises(PermissionDenied):
        period_close(period=october, actor=outsider)
    closed = period_close(period=october, actor=finance)
    assert (closed.status, closed.closed_by) == (AccountingPeriod.Status.CLOSED, finance)
    with pytest.raises(LedgerError, match="already closed"):
        period_close(period=october, actor=owner)
    with pytest.raises(PermissionDenied, match="owner"):
        period_reopen(period=october, actor=finance, reason="late Stripe fee")
    with pytest.raises(LedgerError, match="needs a reason"):
        period_reopen(period=october, actor=owner, reason="  ")

    reopened = period_reopen(period=october, actor=owner, reason="late Stripe fee")

    assert reopened.status == AccountingPeriod.Status.OPEN
    assert (reopened.reopened_by, reopened.reopen_reason) == (owner, "late Stripe fee")
    events = list(
        AccountingPeriod.pgh_event_model.objects.filter(pgh_obj=october).order_by("pgh_id")
    )
    assert [(event.pgh_label, event.status) for event in events] == [
        ("insert", "open"),
        ("update", "closed"),
        ("update", "open"),
    ]
    assert events[-1].reopened_by_id == owner.pk
    assert events[-1].pgh_context.metadata == {
        "action": "period_reopen",
        "actor_id": owner.pk,
        "reason": "late Stripe fee",
    }
    cash, fees = account(AccountCode.PLATFORM_CASH), account(AccountCode.STRIPE_FEES)
    assert post([LegSpec(fees, 3), LegSpec(cash, -3)], key="after reopen").pk
    with pytest.raises(LedgerError, match="is not closed"):
        period_reopen(period=october, actor=owner, reason="again")
