"""Opt-in consent: nothing is visible or licensable without it; withdrawing stops new offers
at once while signed licences keep their works; every change is on the record."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from django.utils import timezone

from accounts.models import Organisation
from catalog import selectors, services
from catalog.models import Consent, RightsShare
from marketplace.models import Agreement, AgreementSplit, AgreementWork
from tests.catalog.factories import CatalogueFactory, acting_for, default_terms, make_work

pytestmark = pytest.mark.django_db


@pytest.fixture
def shelf(creator):
    """Harbour Press's catalogue: default consent ai-train; one work opted out of it, one with
    nothing consented, one pending a co-holder's confirmation."""
    catalogue = CatalogueFactory(owner=creator.organisation, name="Harbour Press Backlist")
    Consent.objects.create(catalogue=catalogue, use="ai-train", granted=True)
    default_terms(catalogue)
    ben = Organisation.objects.create(
        name="Ben Ode", slug="ben-ode-v", kind="creator", creator_category="author"
    )
    return {
        "catalogue": catalogue,
        "salt": make_work(catalogue, title="Salt Roads"),
        "opted_out": make_work(catalogue, title="Quiet Harbour", consent={"ai-train": False}),
        "indexed": make_work(catalogue, title="Index Only", consent={"ai-index": True}),
        "pending": make_work(
            catalogue,
            title="The Quiet Key",
            shares=[(creator.organisation, 5000), (ben, 5000)],
            confirmed=False,
        ),
    }


def test_effective_consent_is_the_works_own_row_else_the_default_else_nothing(shelf):
    assert selectors.work_effective_consent(work=shelf["salt"]) == {
        "ai-train": True,
        "ai-finetune": False,
        "ai-input": False,
        "ai-index": False,
        "synthetic-likeness": False,
    }
    assert selectors.work_effective_consent(work=shelf["opted_out"])["ai-train"] is False
    indexed = selectors.work_effective_consent(work=shelf["indexed"])
    assert indexed["ai-index"] is True and indexed["ai-train"] is True


def test_works_not_licensable_says_why_in_words(shelf):
    ids = [shelf[k].pk for k in ("salt", "opted_out", "pending")] + [999_999]
    reasons = selectors.works_not_licensable(work_ids=ids, uses=["ai-train", "ai-input"])
    assert reasons == {
        shelf["salt"].pk: ["Salt Roads: no consent for ai-input"],
        shelf["opted_out"].pk: [
            "Quiet Harbour: no consent for ai-train",
            "Quiet Harbour: no consent for ai-input",
        ],
        shelf["pending"].pk: [
            "The Quiet Key: no consent for ai-input",
            "The Quiet Key: split sheet awaiting confirmation from Ben Ode",
        ],
        999_999: ["work 999999 does not exist"],
    }
    assert selectors.works_not_licensable(work_ids=[shelf["salt"].pk], uses=["ai-train"]) == {}
    with pytest.raises(ValueError, match="Unknown AI use"):
        selectors.works_not_licensable(work_ids=[shelf["salt"].pk], uses=["ai-everything"])


def test_a_licensee_never_sees_a_work_without_consent(shelf, developer):
    visible = set(selectors.licensable_works().values_list("title", flat=True))
    assert visible == {"Salt Roads", "Index Only"}
    assert set(selectors.licensable_works(uses=["ai-train"]).values_list("title", flat=True)) == {
        "Salt Roads",
        "Index Only",
    }
    assert set(
        selectors.licensable_works(uses=["ai-index", "ai-train"]).values_list("title", flat=True)
    ) == {"Index Only"}
    api = developer.api()
    listed = {row["title"] for row in api.get("/api/v1/licensable-works/").json()["results"]}
    assert listed == {"Salt Roads", "Index Only"}
    for hidden in ("opted_out", "pending"):
        assert api.get(f"/api/v1/licensable-works/{shelf[hidden].pk}/").status_code == 404
    client = developer.session()
    assert client.get(f"/licensing/works/{shelf['opted_out'].pk}/").status_code == 404
    page = client.get("/licensing/works/?q=quiet").content.decode()
    assert "Quiet Harbour" not in page and "The Quiet Key" not in page


def test_withdrawing_consent_hides_the_work_and_blocks_offers_but_a_signed_licence_keeps_it(
    shelf, creator, developer
):
    salt = shelf["salt"]
    agreement = Agreement.objects.create(
        licensee=developer.organisation,
        licensor=creator.organisation,
        starts_on=date.today(),
        ends_on=date.today() + timedelta(days=364),
        commission_bp=1000,
        accepted_at=timezone.now(),
        permitted_uses=["ai-train"],
        upfront_fee_minor=120_000,
    )
    AgreementWork.objects.create(agreement=agreement, work=salt, title=salt.title)
    AgreementSplit.objects.create(
        agreement=agreement,
        work=salt,
        holder=creator.organisation,
        role=RightsShare.Role.PUBLISHER,
        share_bp=10_000,
    )
    assert "Salt Roads" in {
        row["title"]
        for row in developer.api().get("/api/v1/licensable-works/?q=salt").json()["results"]
    }

    services.work_consent_set(
        work=salt, consents={"ai-train": False}, actor=acting_for(creator.organisation)
    )

    assert not developer.api().get("/api/v1/licensable-works/?q=salt").json()["results"]
    assert not selectors.licensable_work_search(text="salt").exists()
    assert selectors.works_not_licensable(work_ids=[salt.pk], uses=["ai-train"]) == {
        salt.pk: ["Salt Roads: no consent for ai-train"]
    }
    assert list(agreement.works.values_list("work_id", flat=True)) == [salt.pk]


def test_every_consent_change_is_recorded_with_who_and_what_it_was(shelf, creator):
    salt = shelf["salt"]
    session = creator.session()
    for choice in ("yes", "no"):
        response = session.post(
            f"/works/{salt.pk}/consent/ai-input/", {"consent": choice}, format="multipart"
        )
        assert response.status_code == 302
    creator.api().post(
        "/api/v1/consents/", {"work": salt.pk, "use": "ai-index", "granted": True}, format="json"
    )
    history = selectors.work_history(work=salt)
    consent_entries = [(e.subject, e.before, e.after, e.actor) for e in history]
    who = creator.owner.full_name or creator.owner.email
    assert ("Consent for ai-input", "granted", "not granted", f"{who} (web)") in consent_entries
    assert ("Consent for ai-input", "catalogue default", "granted", f"{who} (web)") in (
        consent_entries
    )
    api_entry = next(e for e in history if e.subject == "Consent for ai-index")
    assert api_entry.actor.startswith("API key trk_")
    page = session.get(f"/works/{salt.pk}/history/").content.decode()
    assert "Consent for ai-input" in page and "catalogue default" in page


def test_works_by_identifiers_matches_any_spelling_within_the_scope(shelf, creator):
    other = make_work(CatalogueFactory(owner=creator.organisation), isrc="GBAYE1900001")
    make_work(shelf["catalogue"], isrc="GBAYE1900002")
    scope = shelf["catalogue"].works.all()
    found = selectors.works_by_identifiers(
        work_ids_scope=scope,
        scheme="isrc",
        values=["GB-AYE-19-00002", "GBAYE1900001", "not an isrc"],
    )
    assert found == {"GB-AYE-19-00002": scope.get(isrc="GBAYE1900002").pk}
    assert (
        selectors.work_by_identifier(
            work_ids_scope=[other.pk], scheme="isrc", value="gb-aye-19-00001"
        )
        == other
    )
