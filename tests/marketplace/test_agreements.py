"""Agreements: frozen at acceptance, activated without a fee at once, exclusive where agreed,
expired at the end of term, terminated with their claims released."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from django.db import IntegrityError, ProgrammingError, transaction
from django.db.backends.postgresql.psycopg_any import DateRange, NumericRange
from psycopg.errors import RaiseException

from catalog.models import RightsShare
from marketplace import signals
from marketplace.agreements import add_months, agreement_terminate, agreements_expire_due
from marketplace.errors import ExclusivityConflict
from marketplace.models import Agreement, AgreementSplit, AgreementWork, LicenceClaim
from marketplace.negotiation import offer_accept, offer_counter, offer_request
from tests.marketplace.factories import (
    accepted_agreement,
    acting_for,
    developer_org,
    licensable_catalogue,
    requested_offer,
    sha256_for,
)

pytestmark = [pytest.mark.django_db, pytest.mark.dates]


@pytest.fixture
def announced():
    """Every agreement signal sent, as (signal name, payload)."""
    received = []

    def activated(sender, signal, **payload):
        received.append(("activated", payload))

    def terminated(sender, signal, **payload):
        received.append(("terminated", payload))

    signals.agreement_activated.connect(activated)
    signals.agreement_terminated.connect(terminated)
    yield received
    signals.agreement_activated.disconnect(activated)
    signals.agreement_terminated.disconnect(terminated)


def test_acceptance_freezes_works_fingerprints_and_split_sheets(world, settings):
    settings.PLATFORM_COMMISSION_BP = 1000
    northwind, harbour = world.northwind.organisation, world.harbour.organisation
    offer = requested_offer(northwind, world.shelf, terms={"term_months": 12})
    agreement = offer_accept(principal=acting_for(harbour), offer=offer, version=1)

    salt_roads = AgreementWork.objects.get(agreement=agreement, title="Salt Roads")
    assert salt_roads.content_sha256 == sha256_for("salt roads text")
    assert salt_roads.identifiers == {"isbn13": "9780000000019"}
    splits = {
        (s.work.title, s.holder.name): s.share_bp
        for s in AgreementSplit.objects.filter(agreement=agreement).select_related("work", "holder")
    }
    assert splits == {
        ("Salt Roads", "Ana Rivera"): 7000,
        ("Salt Roads", "Harbour Press"): 3000,
        ("The Quiet Key", "Harbour Press"): 10000,
    }
    assert (agreement.licensee, agreement.licensor) == (northwind, harbour)
    assert agreement.commission_bp == 1000
    assert agreement.starts_on == agreement.accepted_at.date()
    assert agreement.ends_on == add_months(agreement.starts_on, 12) - timedelta(days=1)
    assert agreement.permitted_uses == ["ai-train"] and agreement.territories == ["WORLD"]
    assert agreement.terms_snapshot["upfront_fee_total_minor"] == 120_000
    assert agreement.status == Agreement.Status.AWAITING_PAYMENT

    # Later catalogue changes never reach the agreement.
    RightsShare.objects.filter(work=world.shelf.works[0], holder=world.ana).update(share_bp=6000)
    RightsShare.objects.filter(work=world.shelf.works[0], holder=harbour).update(share_bp=4000)
    assert AgreementSplit.objects.get(agreement=agreement, holder=world.ana).share_bp == 7000
    with (
        pytest.raises(ProgrammingError, match="Cannot update or delete") as refused,
        transaction.atomic(),
    ):
        AgreementWork.objects.filter(agreement=agreement).update(title="Changed")
    assert isinstance(refused.value.__cause__, RaiseException)  # the snapshot trigger's


def test_a_commission_set_on_the_offer_overrides_the_platform_default(world):
    northwind = world.northwind.organisation
    offer = offer_request(
        principal=acting_for(northwind),
        licensee=northwind,
        uses=["ai-train"],
        catalogue_ids=[world.shelf.catalogue.pk],
        commission_bp=500,
    )
    offer_counter(
        principal=acting_for(world.harbour.organisation),
        offer=offer,
        version=1,
        terms={"upfront_fee_minor": 130_000},
    )
    agreement = offer_accept(principal=acting_for(northwind), offer=offer, version=2)
    assert agreement.commission_bp == 500
    with (
        pytest.raises(ProgrammingError, match="Cannot update or delete") as refused,
        transaction.atomic(),
    ):
        offer.versions.update(commission_bp=0)
    assert isinstance(refused.value.__cause__, RaiseException)  # the snapshot trigger's


def test_a_per_work_fee_is_charged_once_per_licensed_work(world):
    agreement = accepted_agreement(
        world.northwind.organisation,
        world.shelf,
        terms={"upfront_fee_minor": 60_000, "upfront_fee_basis": "per_work"},
    )
    assert agreement.terms_snapshot["upfront_fee_total_minor"] == 120_000


def test_without_an_upfront_fee_the_agreement_is_active_at_once(
    world, announced, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        agreement = accepted_agreement(
            world.northwind.organisation,
            world.shelf,
            terms={"upfront_fee_minor": 0, "rate_tokens_trained_minor": "0.3"},
        )
    agreement = Agreement.objects.get(pk=agreement.pk)
    assert agreement.status == Agreement.Status.ACTIVE
    assert agreement.activated_at is not None
    assert agreement.certificate.signing_key.is_active
    assert announced == [("activated", {"agreement_id": agreement.pk, "payment": None})]


def _accept(licensee, shelf, **terms):
    offer = requested_offer(licensee, shelf, terms=terms)
    return offer_accept(
        principal=acting_for(shelf.catalogue.owner), offer=offer, version=offer.latest_version
    )


def test_an_exclusive_licence_blocks_others_for_the_same_use_and_territory(world):
    shelf, harbour = world.shelf, world.harbour.organisation
    _accept(world.northwind.organisation, shelf, exclusive=True, territories=["GB"])

    rival = developer_org("Rival AI")
    with pytest.raises(ExclusivityConflict) as refused:
        _accept(rival, shelf, territories=["WORLD"])
    assert {e["work"] for e in refused.value.errors} == {w.pk for w in shelf.works}
    assert "licensed exclusively to another licensee" in refused.value.message
    with pytest.raises(ExclusivityConflict):
        _accept(rival, shelf, territories=["GB", "FR"])
    assert Agreement.objects.filter(licensee=rival).count() == 0

    # Another territory is free.
    assert _accept(rival, shelf, territories=["FR"]).licensor == harbour


def test_another_use_is_not_blocked_by_an_exclusive_licence(tenant_factory):
    owner = tenant_factory().organisation
    shelf = licensable_catalogue(owner, uses=("ai-train", "ai-input"))
    _accept(developer_org(), shelf, exclusive=True)
    other = requested_offer(developer_org(), shelf, uses=("ai-input",))
    assert offer_accept(principal=acting_for(owner), offer=other, version=1).pk


def test_an_exclusive_licence_is_refused_where_a_licence_is_in_force(world):
    _accept(world.northwind.organisation, world.shelf)
    with pytest.raises(ExclusivityConflict) as refused:
        _accept(developer_org(), world.shelf, exclusive=True)
    assert "cannot be licensed exclusively" in refused.value.message


def test_terminating_an_agreement_releases_its_exclusivity(world, announced):
    held = _accept(world.northwind.organisation, world.shelf, exclusive=True)
    assert agreement_terminate(agreement_id=held.pk, reason="Breach of terms.") is True
    assert agreement_terminate(agreement_id=held.pk, reason="again") is False
    assert not LicenceClaim.objects.filter(agreement=held, released_at__isnull=True).exists()
    assert _accept(developer_org(), world.shelf, exclusive=True).status == "awaiting_payment"


def test_the_database_refuses_colliding_claims_whatever_the_code_path(world):
    held = _accept(world.northwind.organisation, world.shelf, exclusive=True)
    other = _accept(world.northwind.organisation, licensable_catalogue(world.harbour.organisation))
    claim = LicenceClaim.objects.filter(agreement=held).first()
    with pytest.raises(IntegrityError), transaction.atomic():
        LicenceClaim.objects.create(
            agreement=other,
            work=claim.work,
            use=claim.use,
            territory="GB",
            territory_span=NumericRange(6 * 26 + 1, 6 * 26 + 2),
            period=DateRange(date.today(), date.today() + timedelta(days=30), "[]"),
            claim=NumericRange(other.pk, other.pk + 1),
            exclusive=False,
        )


def test_agreements_expire_at_the_end_of_term_and_unpaid_ones_are_terminated(world, announced):
    paid = _accept(world.northwind.organisation, world.shelf, upfront_fee_minor=0)
    unpaid = _accept(developer_org(), licensable_catalogue(world.harbour.organisation))
    end = max(paid.ends_on, unpaid.ends_on)
    assert agreements_expire_due(today=end) == 0
    assert agreements_expire_due(today=end + timedelta(days=1)) == 2
    assert Agreement.objects.get(pk=paid.pk).status == Agreement.Status.EXPIRED
    unpaid = Agreement.objects.get(pk=unpaid.pk)
    assert unpaid.status == Agreement.Status.TERMINATED
    assert "before the upfront fee was paid" in unpaid.termination_reason
    assert not LicenceClaim.objects.filter(released_at__isnull=True).exists()


def test_terminated_is_announced_once_committed(
    world, announced, django_capture_on_commit_callbacks
):
    agreement = _accept(world.northwind.organisation, world.shelf)
    with django_capture_on_commit_callbacks(execute=True):
        agreement_terminate(agreement_id=agreement.pk, reason="Licensee went away.")
    assert announced == [
        (
            "terminated",
            {"agreement_id": agreement.pk, "reason": "Licensee went away.", "was_active": False},
        )
    ]


def test_a_counter_can_make_the_licence_exclusive_and_the_agreement_follows(world):
    offer = requested_offer(world.northwind.organisation, world.shelf)
    offer_counter(
        principal=acting_for(world.harbour.organisation),
        offer=offer,
        version=1,
        terms={"exclusive": True, "upfront_fee_minor": 500_000},
    )
    agreement = offer_accept(
        principal=acting_for(world.northwind.organisation), offer=offer, version=2
    )
    assert agreement.exclusive and agreement.upfront_fee_minor == 500_000
    assert LicenceClaim.objects.filter(agreement=agreement, exclusive=True).count() == 2


@pytest.mark.parametrize(
    ("start", "months", "end"),
    [
        (date(2026, 1, 31), 1, date(2026, 2, 28)),
        (date(2026, 11, 22), 12, date(2027, 11, 22)),
        (date(2024, 2, 29), 12, date(2025, 2, 28)),
    ],
)
def test_months_are_added_by_the_calendar(start, months, end):
    assert add_months(start, months) == end
