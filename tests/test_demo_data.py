import pytest
from django.contrib.auth import authenticate
from django.test import RequestFactory

from accounts.models import Membership, Organisation, User
from frontend.demo import DEMO_LOGINS, DEMO_PASSWORD, seed_demo

pytestmark = pytest.mark.django_db


def _counts():
    return (User.objects.count(), Organisation.objects.count(), Membership.objects.count())


def test_demo_seed_is_idempotent_and_its_logins_work():
    seed_demo()
    first = _counts()
    seed_demo()
    assert _counts() == first
    for login in DEMO_LOGINS:
        request = RequestFactory().post("/login/", {"username": login.email})
        user = authenticate(request, email=login.email, password=DEMO_PASSWORD)
        assert user is not None, login.email
        assert user.memberships.filter(organisation__name=login.organisation).exists()


def test_the_demo_charges_each_payment_once_and_its_books_reconcile_clean(
    emulated_stripe, django_capture_on_commit_callbacks
):
    """Every payment the demo makes in the emulator (the licence fee, last month's invoice)
    is charged once, and the reconciliation it seeds has no open exception."""
    from finance.models import ReconciliationException, ReconciliationRun
    from payouts.models import Collection

    with django_capture_on_commit_callbacks(execute=True):
        seed_demo()
    with django_capture_on_commit_callbacks(execute=True):
        seed_demo()  # as `make demo` does: before the emulator runs, then with it

    counts = emulated_stripe.control.counts()
    paid_collections = Collection.objects.filter(status=Collection.Status.PAID).count()
    assert paid_collections == 1
    # One PaymentIntent for the licence fee's Checkout, one for the invoice: no second charge.
    assert counts["payment_intent"] == 1 + paid_collections
    assert ReconciliationRun.objects.filter(status="completed").exists()
    open_exceptions = ReconciliationException.objects.exclude(status="resolved")
    assert list(open_exceptions.values_list("kind", "stripe_object_id", "detail")) == []
