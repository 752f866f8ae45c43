import pytest
from django.contrib.auth import authenticate

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
        user = authenticate(email=login.email, password=DEMO_PASSWORD)
        assert user is not None, login.email
        assert user.memberships.filter(organisation__name=login.organisation).exists()
