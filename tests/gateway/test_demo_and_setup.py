"""The demo's Stripe side: payees with onboarded accounts, webhooks pointed at our endpoint."""

from __future__ import annotations

import pytest
from django.core.management import CommandError, call_command

from frontend.demo import seed_demo
from payments import gateway
from payments.models import StripeConnectedAccount

pytestmark = pytest.mark.django_db


def test_demo_payees_get_onboarded_accounts_once(
    emulated_stripe, django_capture_on_commit_callbacks
):
    for _ in range(2):
        with django_capture_on_commit_callbacks(execute=True):
            seed_demo()
    accounts = {a.organisation.slug: a for a in StripeConnectedAccount.objects.all()}
    assert sorted(accounts) == ["ana-rivera", "ben-ode", "chloe-marsh"]
    assert all(a.can_receive_transfers for a in accounts.values())
    assert emulated_stripe.control.counts()["account"] == 3  # the second run created none


def test_the_demo_seeds_without_the_emulator(django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        seed_demo()  # STRIPE_API_BASE points at nothing
    assert not StripeConnectedAccount.objects.exists()


def test_webhook_registration_points_the_emulator_at_our_endpoint_once(emulated_stripe, capsys):
    url = "http://127.0.0.1:8000/stripe/webhooks/"
    call_command("stripe_webhook_register", "--url", url)
    call_command("stripe_webhook_register", "--url", url)
    assert "already" in capsys.readouterr().out
    assert [e.url for e in gateway.webhook_endpoints_list()] == [url]


def test_webhook_registration_refuses_to_touch_stripe_itself(settings):
    settings.STRIPE_API_BASE = ""
    with pytest.raises(CommandError, match="Dashboard"):
        call_command("stripe_webhook_register")
