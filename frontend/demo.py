"""Demo data: a small marketplace a newcomer can click through. Idempotent: every object is
found by a natural key before it is created, so running it twice changes nothing.

Each capability adds its part here (catalogue, negotiations, settlement, payouts, close)."""

from __future__ import annotations

import datetime as dt
import io
import json
from dataclasses import dataclass
from decimal import Decimal

import structlog
from django.conf import settings
from django.db import transaction

from accounts.models import Membership, Organisation, User
from accounts.tenancy import principal_for_user
from catalog import services as catalog_services
from catalog.models import Catalogue, RightsShare, Work
from core import clock
from marketplace.demo import DEMO_SEED_CARD, seed_marketplace, seed_marketplace_payment
from marketplace.models import Agreement, AgreementSplit, AgreementWork
from payments.connect import connected_account_ensure, connected_account_sync
from settlement.models import SettlementRun
from settlement.services import (
    settlement_run_create,
    settlement_run_execute,
    settlement_run_start,
)
from usage.ingest import ContentFormat
from usage.services import usage_report_submit

DEMO_PASSWORD = "trainright-demo-2026"

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class DemoLogin:
    persona: str
    email: str
    organisation: str


DEMO_LOGINS = [
    DemoLogin("creator", "creator@trainright.demo", "Harbour Press"),
    DemoLogin("AI developer", "developer@trainright.demo", "Northwind AI"),
    DemoLogin("finance", "finance@trainright.demo", "TrainRight"),
]


def _user(email: str, full_name: str, *, staff: bool = False) -> User:
    user, created = User.objects.get_or_create(
        email=email, defaults={"full_name": full_name, "is_staff": staff, "is_superuser": staff}
    )
    if created:
        user.set_password(DEMO_PASSWORD)
        user.save(update_fields=["password"])
    return user


def _organisation(name: str, slug: str, kind: str, category: str = "") -> Organisation:
    organisation, _ = Organisation.objects.get_or_create(
        slug=slug,
        defaults={"name": name, "kind": kind, "creator_category": category, "country": "GB"},
    )
    return organisation


def _member(user: User, organisation: Organisation, role: str) -> None:
    Membership.objects.get_or_create(user=user, organisation=organisation, defaults={"role": role})


@dataclass(frozen=True)
class DemoParties:
    harbour: Organisation
    northwind: Organisation
    platform: Organisation
    ana: Organisation
    ben: Organisation
    chloe: Organisation


def seed_parties() -> DemoParties:
    platform = _organisation("TrainRight", "trainright", Organisation.Kind.PLATFORM)
    harbour = _organisation("Harbour Press", "harbour-press", "creator", "publisher")
    northwind = _organisation("Northwind AI", "northwind-ai", Organisation.Kind.AI_DEVELOPER)
    ana = _organisation("Ana Rivera", "ana-rivera", "creator", "author")
    ben = _organisation("Ben Ode", "ben-ode", "creator", "author")
    chloe = _organisation("Chloe Marsh", "chloe-marsh", "creator", "artist")

    _member(_user("creator@trainright.demo", "Hana Harbour"), harbour, Membership.Role.OWNER)
    _member(_user("developer@trainright.demo", "Nia Northwind"), northwind, Membership.Role.OWNER)
    _member(_user("finance@trainright.demo", "Fran Ledger"), platform, Membership.Role.FINANCE)
    _member(_user("admin@trainright.demo", "Platform Admin", staff=True), platform, "owner")
    for person, organisation in (("ana", ana), ("ben", ben), ("chloe", chloe)):
        _member(_user(f"{person}@trainright.demo", organisation.name), organisation, "owner")
    return DemoParties(harbour, northwind, platform, ana, ben, chloe)


DEMO_CATALOGUE = "Harbour Press Backlist"
# (title, kind, identifier, own consent, [(holder attribute, role, share_bp)], confirmed)
DEMO_WORKS = [
    ("Salt Roads", "book", ("isbn13", "9780306406157"), {},
     [("ana", "author", 7000), ("harbour", "publisher", 3000)], True),
    ("The Quiet Key", "book", ("isbn13", "9780804429573"), {},
     [("ben", "author", 5000), ("chloe", "author", 2500), ("harbour", "publisher", 2500)], True),
    ("Harbour Lights (audiobook)", "audio_recording", ("isrc", "GBHPR2400017"),
     {"ai-train": False, "ai-input": True, "ai-index": True},
     [("ana", "performer", 4000), ("harbour", "label", 6000)], True),
    ("Tide Tables: A Study", "article", ("doi", "10.5555/harbour.2023.004"),
     {"ai-train": False, "ai-index": True}, [("harbour", "publisher", 10000)], True),
    ("Unpublished Letters", "book", ("isbn13", "9791234567896"),
     {"ai-train": False}, [("harbour", "publisher", 10000)], True),
    ("Northern Crossing", "book", ("isbn13", "9780141036144"), {},
     [("ana", "author", 6000), ("harbour", "publisher", 4000)], False),
]  # fmt: skip


def seed_catalogue(parties: DemoParties) -> Catalogue:
    """Harbour Press's catalogue: the worked example's W1 and W2 (consent ai-train, terms
    USD 1,200.00 per catalogue and 0.3 ¢ per 1,000 tokens), a few works with other consent,
    one with no consent at all (invisible to licensees) and one awaiting Ana's confirmation.
    Co-holders confirm through the same service their pages use."""
    owner = principal_for_user(User.objects.get(email="creator@trainright.demo"))
    catalogue = Catalogue.objects.filter(owner=parties.harbour, name=DEMO_CATALOGUE).first()
    if catalogue is None:
        catalogue = catalog_services.catalogue_create(
            owner=parties.harbour,
            name=DEMO_CATALOGUE,
            description="Harbour Press's novels, audiobooks and articles since 1998.",
            actor=owner,
        )
    catalog_services.catalogue_consent_set(
        catalogue=catalogue, consents={"ai-train": True}, actor=owner
    )
    catalog_services.licence_terms_set(
        catalogue=catalogue,
        actor=owner,
        values={
            "currency": "USD",
            "upfront_fee_minor": 120_000,
            "upfront_fee_basis": "per_catalogue",
            "rate_tokens_trained_minor": "0.3",
            "term_months": 12,
            "territories": ["WORLD"],
            "permitted_uses": ["ai-train", "ai-input", "ai-index"],
        },
    )
    for title, kind, (scheme, identifier), consent, shares, confirmed in DEMO_WORKS:
        work = Work.objects.filter(catalogue=catalogue, **{scheme: identifier}).first()
        if work is not None:
            continue
        work = catalog_services.work_create(
            catalogue=catalogue,
            title=title,
            kind=kind,
            language="en-GB",
            identifiers={scheme: identifier},
            shares=[
                catalog_services.ShareLine(getattr(parties, holder), role, share_bp)
                for holder, role, share_bp in shares
            ],
            consent=consent,
            actor=owner,
        )
        if confirmed:
            _confirm_as_co_holders(work)
    return catalogue


def _confirm_as_co_holders(work: Work) -> None:
    pending = RightsShare.objects.filter(work=work, confirmed_at__isnull=True)
    for holder in {share.holder for share in pending.select_related("holder")}:
        person = User.objects.filter(memberships__organisation=holder).first()
        catalog_services.work_shares_confirm(
            work=work, holder=holder, actor=principal_for_user(person)
        )


def seed_payee_accounts(parties: DemoParties) -> None:
    """Ana, Ben and Chloe get connected accounts that have finished onboarding (through the
    emulator's control API, as if they had filled in Stripe's form), so payouts can reach
    them. Harbour Press, the demo creator login, is left to onboard on the "Get paid" page.
    Skipped when the emulator is not running (the rest of the demo does not need it) and
    against Stripe itself, where payees onboard themselves."""
    if not settings.STRIPE_API_BASE:
        return
    from stripe_emulator.control import ControlError, EmulatorControl

    control = EmulatorControl(settings.STRIPE_API_BASE)
    try:
        control.config()
    except (ControlError, OSError):
        log.warning("demo_payees_skipped", reason="Stripe emulator not running")
        return
    for payee in (parties.ana, parties.ben, parties.chloe):
        account = connected_account_ensure(organisation=payee)
        if not account.can_receive_transfers:
            control.complete_onboarding(account.stripe_account_id)
            connected_account_sync(stripe_account_id=account.stripe_account_id)


SETTLEMENT_DEMO_SOURCE = "demo-settlement"
"""Marks the agreement the demo's settled month belongs to (its natural key)."""


def seed_settlement(parties: DemoParties) -> None:
    """Last month settled: Northwind's licence of Salt Roads and The Quiet Key (the worked
    example: 0.3 ¢ per 1,000 tokens, commission 10 %) reported 12,000,000 and 4,000,000 tokens,
    and the month's settlement run made statements for Harbour Press, Ana, Ben and Chloe."""
    works = list(
        Work.objects.filter(
            catalogue__owner=parties.harbour, title__in=["Salt Roads", "The Quiet Key"]
        ).order_by("title")
    )
    if len(works) != 2:
        return
    last_month = (clock.today().replace(day=1) - dt.timedelta(days=1)).replace(day=1)
    agreement = Agreement.objects.filter(terms_snapshot__source=SETTLEMENT_DEMO_SOURCE).first()
    if agreement is None:
        agreement = Agreement.objects.create(
            licensee=parties.northwind,
            licensor=parties.harbour,
            status=Agreement.Status.ACTIVE,
            starts_on=(last_month - dt.timedelta(days=60)).replace(day=1),
            ends_on=last_month.replace(year=last_month.year + 1),
            commission_bp=1000,
            accepted_at=clock.now(),
            activated_at=clock.now(),
            currency="USD",
            rate_tokens_trained_minor=Decimal("0.3"),
            permitted_uses=["ai-train"],
            territories=["WORLD"],
            terms_snapshot={"source": SETTLEMENT_DEMO_SOURCE},
        )
        for work in works:
            AgreementWork.objects.create(agreement=agreement, work=work, title=work.title)
            AgreementSplit.objects.bulk_create(
                AgreementSplit(
                    agreement=agreement,
                    work=work,
                    holder_id=share.holder_id,
                    role=share.role,
                    share_bp=share.share_bp,
                )
                for share in RightsShare.objects.filter(work=work)
            )
    quantities = {"Salt Roads": 12_000_000, "The Quiet Key": 4_000_000}
    lines = "".join(
        json.dumps(
            {"work_id": work.pk, "metric": "tokens_trained", "quantity": quantities[work.title]}
        )
        + "\n"
        for work in works
    )
    usage_report_submit(
        agreement=agreement,
        report_id=f"northwind-{last_month:%Y-%m}",
        period_start=last_month,
        content=io.BytesIO(lines.encode()),
        content_format=ContentFormat.JSON_LINES,
        partial=False,
    )  # the same content again is recognised as a duplicate
    run = SettlementRun.objects.filter(period_start=last_month).first()
    if run is None or run.status != SettlementRun.Status.COMPLETED:
        run = settlement_run_create(period_start=last_month)
        settlement_run_execute(run=settlement_run_start(run=run, dispatch=False))


def seed_usage() -> None:
    """This month's usage so far, sent by Northwind with partial acceptance: two lines stored
    (one naming its work by ISBN) and one left out (a work the agreement does not license),
    so the usage pages show a report, its lines and a bad line by number."""
    agreement = Agreement.objects.filter(terms_snapshot__source=SETTLEMENT_DEMO_SOURCE).first()
    if agreement is None:
        return
    this_month = clock.today().replace(day=1)
    salt_roads = AgreementWork.objects.get(agreement=agreement, title="Salt Roads")
    outside = Work.objects.filter(title="Harbour Lights (audiobook)").first()
    lines = [
        {"work_id": salt_roads.work_id, "metric": "tokens_trained", "quantity": 3_000_000},
        {"identifier_scheme": "isbn13", "identifier": "978-0-8044-2957-3",
         "metric": "tokens_trained", "quantity": 1_500_000},
        {"work_id": outside.pk if outside else 0, "metric": "tokens_trained", "quantity": 10},
    ]  # fmt: skip
    usage_report_submit(
        agreement=agreement,
        report_id=f"northwind-{this_month:%Y-%m}-run-1",
        period_start=this_month,
        content=io.BytesIO("".join(json.dumps(line) + "\n" for line in lines).encode()),
        content_format=ContentFormat.JSON_LINES,
        partial=True,
    )  # the same content again is a duplicate: stored once


def seed_reconciliation() -> None:
    """This month's books reconciled with the demo's Stripe activity (once: a completed run
    covering the month is kept), so the finance console has a run and its exceptions to show.
    Skipped when the emulator is not running."""
    if not settings.STRIPE_API_BASE:
        return
    from finance.reconciliation import reconciliation_run_for_period
    from finance.selectors import completed_run_covering
    from ledger.services import accounting_period_for
    from payments.gateway import GatewayError
    from stripe_emulator.control import ControlError, EmulatorControl

    period = accounting_period_for(day=clock.today())
    if completed_run_covering(period=period) is not None:
        return
    try:  # not against a stopped emulator: a failed run would be all the console shows
        EmulatorControl(settings.STRIPE_API_BASE).config()
    except (ControlError, OSError):
        log.warning("demo_reconciliation_skipped", reason="Stripe emulator not running")
        return
    try:
        reconciliation_run_for_period(period=period)
    except GatewayError:
        log.warning("demo_reconciliation_skipped", reason="Stripe emulator not running")


def seed_upfront_fees() -> None:
    """Post and collect the licence fee paid at checkout and pay the holders' shares now, as
    the worker's tasks would, so the reconciliation seeded next never races the worker (and
    finds the fee in the ledger). Idempotent: a fee already collected is skipped."""
    if not settings.STRIPE_API_BASE:
        return
    from payments.gateway import GatewayError
    from payouts.upfront_fees import (
        UpfrontFeeError,
        upfront_fee_settle_paid,
        upfront_fees_uncollected,
    )

    try:
        for agreement_id in upfront_fees_uncollected():
            upfront_fee_settle_paid(agreement_id=agreement_id)
        payouts_send_as_the_worker_would()
    except (GatewayError, UpfrontFeeError, OSError) as error:
        log.warning("demo_upfront_fee_skipped", reason=str(error))


def payouts_send_as_the_worker_would() -> None:
    """Schedule a payout for every payable balance and send every open payout, as the
    worker's tasks and beat jobs would (here, so the seed does not race the worker)."""
    from payouts.models import Payout
    from payouts.services import payout_send, payouts_schedule_payable

    payouts_schedule_payable()
    for payout_id in Payout.objects.filter(
        status__in=Payout.OPEN_STATUSES, on_hold=False
    ).values_list("pk", flat=True):
        payout_send(payout_id=payout_id)


DEMO_THRESHOLD_MINOR = 10_000
"""Ben's payout threshold in the demo (USD 100.00): his share of the month carries forward."""


def seed_payouts(parties: DemoParties) -> None:
    """Last month's invoice to Northwind collected through the emulator (its saved card, else
    its Checkout page completed as Northwind would), so the holders' shares are payable; then
    the payouts as the worker would send them: Ana, Ben and Chloe paid their shares of the
    licence fee and Ana and Chloe their royalties, Ben's royalties carried forward below his
    threshold of USD 100.00, and Harbour Press's kept payable until it finishes onboarding on
    the "Get paid" page. Idempotent (every step is); skipped without the emulator."""
    if not settings.STRIPE_API_BASE:
        return
    from payments import gateway
    from payouts.collections import (
        collection_charge,
        collection_payouts_schedule,
        collection_record_payment,
        collections_open_for_run,
    )
    from payouts.models import Collection, PayoutThreshold
    from payouts.services import payout_threshold_set
    from stripe_emulator.control import ControlError, EmulatorControl

    last_month = (clock.today().replace(day=1) - dt.timedelta(days=1)).replace(day=1)
    run = SettlementRun.objects.filter(
        period_start=last_month, status=SettlementRun.Status.COMPLETED
    ).first()
    if run is None:
        return
    control = EmulatorControl(settings.STRIPE_API_BASE)
    try:
        control.config()
        if not PayoutThreshold.objects.filter(holder=parties.ben, currency="USD").exists():
            payout_threshold_set(
                holder=parties.ben, currency="USD", minimum_minor=DEMO_THRESHOLD_MINOR
            )
        collections_open_for_run(run=run)
        for collection in Collection.objects.filter(run=run, licensee=parties.northwind):
            if collection.status != Collection.Status.PAID:
                collection = collection_charge(collection_id=collection.pk)
                intent_id = collection.payment_intent_id
                if not intent_id and collection.checkout_session_id:
                    control.complete_checkout(collection.checkout_session_id, card=DEMO_SEED_CARD)
                    session = gateway.checkout_session_retrieve(
                        session_id=collection.checkout_session_id
                    )
                    intent_id = str(session.payment_intent or "")
                if not intent_id:
                    continue
                intent = gateway.payment_intent_retrieve(payment_intent_id=intent_id)
                if not intent.latest_charge:
                    continue
                collection_record_payment(
                    collection_id=collection.pk, charge_id=str(intent.latest_charge)
                )
            collection_payouts_schedule(collection_id=collection.pk)
        payouts_send_as_the_worker_would()
    except (gateway.GatewayError, ControlError, OSError) as error:
        log.warning("demo_payouts_skipped", reason=str(error))


@transaction.atomic
def seed_demo() -> DemoParties:
    parties = seed_parties()
    seed_catalogue(parties)
    seed_marketplace(harbour=parties.harbour, northwind=parties.northwind)
    seed_settlement(parties)
    seed_usage()
    # Stripe calls after the commit: they are not part of the transaction.
    transaction.on_commit(lambda: seed_payee_accounts(parties))
    transaction.on_commit(lambda: seed_marketplace_payment(northwind=parties.northwind))
    transaction.on_commit(seed_upfront_fees)
    transaction.on_commit(lambda: seed_payouts(parties))
    transaction.on_commit(seed_reconciliation)
    return parties
