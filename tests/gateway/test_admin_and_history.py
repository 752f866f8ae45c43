"""The Stripe models after their move from accounts to payments: the admin shows them, the
tables and Postgres triggers kept their accounts_* names, and history is still written."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import IntegrityError, connection, transaction

from accounts.models import Organisation
from payments.models import (
    StripeConnectedAccount,
    StripeCustomer,
    StripeEvent,
    StripePayment,
    StripeRefund,
    StripeRequest,
)
from tests.factories import OrganisationFactory

pytestmark = pytest.mark.django_db

WHEN = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)


@pytest.fixture
def rows():
    creator = OrganisationFactory(kind=Organisation.Kind.CREATOR)
    licensee = OrganisationFactory(kind=Organisation.Kind.AI_DEVELOPER)
    payment = StripePayment.objects.create(
        organisation=licensee,
        stripe_charge_id="ch_admin",
        status="succeeded",
        amount_minor=5000,
        currency="USD",
        stripe_created=WHEN,
    )
    return {
        "stripeconnectedaccount": StripeConnectedAccount.objects.create(
            organisation=creator, stripe_account_id="acct_admin", country="GB"
        ),
        "stripeevent": StripeEvent.objects.create(
            stripe_event_id="evt_admin", type="account.updated", stripe_created=WHEN, payload={}
        ),
        "stripepayment": payment,
        "striperefund": StripeRefund.objects.create(
            payment=payment,
            stripe_refund_id="re_admin",
            amount_minor=100,
            currency="USD",
            status="succeeded",
        ),
        "striperequest": StripeRequest.objects.create(
            idempotency_key="transfer:admin", operation="transfer.create"
        ),
        "stripecustomer": StripeCustomer.objects.create(
            organisation=licensee, stripe_customer_id="cus_admin"
        ),
    }


def test_staff_see_every_stripe_mirror_in_the_admin(admin_client, rows):
    for model, row in rows.items():
        if model == "striperefund":  # shown inline on its payment
            continue
        for path in (f"/admin/payments/{model}/", f"/admin/payments/{model}/{row.pk}/change/"):
            assert admin_client.get(path).status_code == 200, path


def test_the_tables_and_triggers_keep_their_names_from_accounts():
    assert StripeEvent._meta.db_table == "accounts_stripeevent"
    assert StripeConnectedAccount.pgh_event_model._meta.db_table == (
        "accounts_stripeconnectedaccountevent"
    )
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT tgrelid::regclass::text, tgname FROM pg_trigger"
            " WHERE tgrelid::regclass::text LIKE 'accounts_stripe%' AND NOT tgisinternal"
        )
        installed = set(cursor.fetchall())
    assert installed == {
        ("accounts_stripeconnectedaccount", "pgtrigger_stripe_account_only_for_payees_57725"),
        ("accounts_stripeconnectedaccount", "pgtrigger_insert_insert_ec6ed"),
        ("accounts_stripeconnectedaccount", "pgtrigger_update_update_ca1a8"),
        ("accounts_stripepayment", "pgtrigger_insert_insert_47d8b"),
        ("accounts_stripepayment", "pgtrigger_update_update_61620"),
    }
    account_triggers = StripeConnectedAccount._meta.triggers  # type: ignore[attr-defined]
    assert {t.get_pgid(StripeConnectedAccount) for t in account_triggers} == {
        name for table, name in installed if table == "accounts_stripeconnectedaccount"
    }


def test_history_is_written_and_only_payees_get_connected_accounts(rows):
    account = rows["stripeconnectedaccount"]
    account.details_submitted = True
    account.save()
    assert [e.pgh_label for e in account.events.order_by("pgh_id")] == ["insert", "update"]
    assert [e.pgh_label for e in rows["stripepayment"].events.all()] == ["insert"]
    with pytest.raises(IntegrityError, match="only payees"), transaction.atomic():
        StripeConnectedAccount.objects.create(
            organisation=rows["stripecustomer"].organisation,
            stripe_account_id="acct_not_a_payee",
            country="GB",
        )
