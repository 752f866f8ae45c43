"""Split sheets: 10,000 basis points enforced by the API (field error) and by PostgreSQL
(whatever writes them), co-holder sign-off, and who may change what."""

from __future__ import annotations

import pytest
from django.db import IntegrityError, connection, transaction

from accounts.models import Organisation
from catalog.models import RightsShare, Work
from catalog.selectors import works_not_licensable
from tests.catalog.factories import CatalogueFactory, isbn13, make_work

pytestmark = pytest.mark.django_db


def _force_deferred_checks() -> None:
    """Run the checks PostgreSQL defers to commit now (the test transaction never commits)."""
    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")


def _work_payload(catalogue, shares, **extra):
    return {
        "catalogue": catalogue.pk,
        "title": "Salt Roads",
        "kind": "book",
        "isbn13": "978-0-306-40615-7",
        "shares": shares,
        **extra,
    }


def test_the_api_rejects_shares_that_do_not_total_10000_with_a_field_error(creator):
    catalogue = CatalogueFactory(owner=creator.organisation)
    response = creator.api().post(
        "/api/v1/works/",
        _work_payload(
            catalogue,
            [
                {"holder": creator.organisation.pk, "role": "publisher", "share_bp": 3000},
                {"holder": creator.organisation.pk, "role": "author", "share_bp": 6000},
            ],
        ),
        format="json",
    )
    assert response.status_code == 400
    assert response["Content-Type"] == "application/problem+json"
    messages = response.json()["errors"]["shares"]
    assert any("must total exactly 10,000 basis points" in m and "9,000" in m for m in messages)
    assert not Work.objects.exists()


def test_a_share_outside_1_to_10000_is_a_field_error(creator):
    catalogue = CatalogueFactory(owner=creator.organisation)
    response = creator.api().post(
        "/api/v1/works/",
        _work_payload(
            catalogue, [{"holder": creator.organisation.pk, "role": "author", "share_bp": 10001}]
        ),
        format="json",
    )
    assert response.status_code == 400
    assert "shares" in response.json()["errors"]


def test_raw_sql_cannot_leave_a_work_short_of_10000(creator):
    work = make_work(CatalogueFactory(owner=creator.organisation))
    refused = pytest.raises(IntegrityError, match="rights shares total 7000 basis points")
    with refused, transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            "UPDATE catalog_rightsshare SET share_bp = 7000 WHERE work_id = %s", [work.pk]
        )
        _force_deferred_checks()
    assert work.rights_shares.get().share_bp == 10_000


def test_raw_sql_cannot_insert_a_work_without_its_split_sheet(creator):
    catalogue = CatalogueFactory(owner=creator.organisation)
    refused = pytest.raises(IntegrityError, match="total 0 basis points")
    with refused, transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO catalog_work (catalogue_id, title, kind, language, isbn13, isrc,"
            " iswc, doi, url, content_sha256, content_file, metadata, created_at,"
            " updated_at) VALUES (%s, 'Orphan', 'book', '', '', '', '', '', '', '', '',"
            " '{}', now(), now())",
            [catalogue.pk],
        )
        _force_deferred_checks()


def test_raw_sql_may_move_shares_between_holders_in_one_transaction(creator):
    ana = Organisation.objects.create(
        name="Ana", slug="ana-split", kind="creator", creator_category="author"
    )
    work = make_work(CatalogueFactory(owner=creator.organisation))
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            "UPDATE catalog_rightsshare SET share_bp = 3000 WHERE work_id = %s", [work.pk]
        )
        cursor.execute(
            "INSERT INTO catalog_rightsshare (work_id, holder_id, role, share_bp)"
            " VALUES (%s, %s, 'author', 7000)",
            [work.pk, ana.pk],
        )
        _force_deferred_checks()
    assert sorted(work.rights_shares.values_list("share_bp", flat=True)) == [3000, 7000]


def test_a_co_holder_confirms_and_a_change_to_the_sheet_asks_again(creator, tenant_factory):
    ben = tenant_factory(Organisation.Kind.CREATOR, "Ben Ode")
    catalogue = CatalogueFactory(owner=creator.organisation)
    shares = [
        {"holder": creator.organisation.pk, "role": "publisher", "share_bp": 5000},
        {"holder": ben.organisation.pk, "role": "author", "share_bp": 5000},
    ]
    created = creator.api().post(
        "/api/v1/works/",
        _work_payload(catalogue, shares, consent={"ai-train": True}),
        format="json",
    )
    assert created.status_code == 201, created.json()
    body = created.json()
    assert body["status"]["state"] == "Pending confirmation"
    assert body["status"]["awaiting_confirmation_from"] == ["Ben Ode"]
    work_id = body["id"]
    assert works_not_licensable(work_ids=[work_id], uses=["ai-train"]) == {
        work_id: ["Salt Roads: split sheet awaiting confirmation from Ben Ode"]
    }

    inbox = ben.api().get("/api/v1/confirmations/?confirmed=false").json()["results"]
    assert [row["work"] for row in inbox] == [work_id]
    confirmed = ben.api().post(
        f"/api/v1/confirmations/{inbox[0]['id']}/confirm/",
        {"sheet_fingerprint": body["sheet_fingerprint"]},
        format="json",
    )
    assert confirmed.status_code == 200, confirmed.json()
    assert confirmed.json()["confirmed"] is True
    assert works_not_licensable(work_ids=[work_id], uses=["ai-train"]) == {}

    changed = creator.api().patch(
        f"/api/v1/works/{work_id}/",
        {"shares": [{**shares[0], "share_bp": 6000}, {**shares[1], "share_bp": 4000}]},
        format="json",
    )
    assert changed.status_code == 200
    assert changed.json()["status"]["awaiting_confirmation_from"] == ["Ben Ode"]
    owner_line = RightsShare.objects.get(work_id=work_id, holder=creator.organisation)
    assert owner_line.confirmed_at is not None  # the owner's own line: confirmed by its action

    stale = ben.api().post(
        f"/api/v1/confirmations/{inbox[0]['id']}/confirm/",
        {"sheet_fingerprint": body["sheet_fingerprint"]},
        format="json",
    )
    assert stale.status_code == 409
    assert stale.json()["current"]["sheet_fingerprint"] == changed.json()["sheet_fingerprint"]


def test_only_the_owner_changes_a_work_co_holders_get_403_others_404(creator, tenant_factory):
    ben = tenant_factory(Organisation.Kind.CREATOR, "Ben Ode")
    stranger = tenant_factory(Organisation.Kind.CREATOR, "Stranger")
    work = make_work(
        CatalogueFactory(owner=creator.organisation),
        shares=[(creator.organisation, 5000), (ben.organisation, 5000)],
        confirmed=False,
    )
    patch = {"title": "Renamed"}
    assert ben.api().get(f"/api/v1/works/{work.pk}/").status_code == 200
    assert ben.api().patch(f"/api/v1/works/{work.pk}/", patch, format="json").status_code == 403
    assert (
        stranger.api().patch(f"/api/v1/works/{work.pk}/", patch, format="json").status_code == 404
    )
    assert stranger.api().get(f"/api/v1/works/{work.pk}/").status_code == 404
    ben_consent = ben.api().post(
        "/api/v1/consents/", {"work": work.pk, "use": "ai-train", "granted": True}, format="json"
    )
    assert ben_consent.status_code == 403
    work.refresh_from_db()
    assert work.title != "Renamed"


def test_identifiers_are_validated_and_unique_within_a_catalogue(creator):
    catalogue = CatalogueFactory(owner=creator.organisation)
    make_work(catalogue, isbn13=isbn13(7))
    owner_only = [{"holder": creator.organisation.pk, "role": "author", "share_bp": 10_000}]
    bad = creator.api().post(
        "/api/v1/works/",
        _work_payload(catalogue, owner_only, isbn13="978-0-306-40615-8", iswc="T-034.524.680-2"),
        format="json",
    )
    assert bad.status_code == 400
    errors = bad.json()["errors"]
    assert "check digit should be 7" in errors["isbn13"][0]
    assert "check digit should be 1" in errors["iswc"][0]
    clash = creator.api().post(
        "/api/v1/works/", _work_payload(catalogue, owner_only, isbn13=isbn13(7)), format="json"
    )
    assert clash.status_code == 400
    assert "Another work in this catalogue" in clash.json()["errors"]["isbn13"][0]
