import os
import secrets
import subprocess
import sys

import pytest
from django.conf import settings

from config.celery import app as celery_app

pytestmark = pytest.mark.django_db


def test_healthz_is_200_when_database_and_broker_answer(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json()["checks"] == {"database": "ok", "broker": "ok"}


def test_healthz_is_503_naming_the_broker_when_it_is_down(client):
    original = celery_app.conf.broker_url
    celery_app.conf.broker_url = "redis://127.0.0.1:1/0"
    try:
        response = client.get("/healthz")
    finally:
        celery_app.conf.broker_url = original
    assert response.status_code == 503
    assert response.json()["down"] == ["broker"]


def test_celery_settings_that_matter_are_applied():
    conf = celery_app.conf
    assert conf.task_acks_late is True
    assert conf.task_reject_on_worker_lost is True
    assert conf.worker_prefetch_multiplier == 1
    assert conf.broker_transport_options["visibility_timeout"] == (
        settings.CELERY_BROKER_VISIBILITY_TIMEOUT
    )
    assert conf.task_serializer == "json"


def test_every_response_carries_a_request_id(client):
    response = client.get("/healthz", HTTP_X_REQUEST_ID="abcdef123456")
    assert response["X-Request-ID"] == "abcdef123456"
    assert len(client.get("/healthz")["X-Request-ID"]) == 32


PRODUCTION_ENV = {
    "DJANGO_ENV": "production",
    "SECRET_KEY": secrets.token_urlsafe(64),
    "ALLOWED_HOSTS": "trainright.example",
    "STRIPE_API_BASE": "",
    "STRIPE_SECRET_KEY": "sk_live_" + "4" * 24,
    "STRIPE_PUBLISHABLE_KEY": "pk_live_" + "4" * 24,
    "STRIPE_WEBHOOK_SECRET": "whsec_" + secrets.token_hex(16),
}


def test_deploy_check_is_clean_under_production_settings():
    env = {**os.environ, **PRODUCTION_ENV}
    env.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)  # set for the browser tests' process only
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_secrets_are_redacted_from_log_lines():
    from config.logging import redact_secrets

    event = redact_secrets(
        None,
        "info",
        {"event": "calling with sk_test_abc123 and trk_abcd1234_SECRETSECRET", "password": "pw"},
    )
    assert "abc123" not in event["event"]
    assert "SECRETSECRET" not in event["event"]
    assert event["password"] == "[redacted]"


def _production(**overrides: str) -> dict[str, str]:
    env = {**os.environ, **PRODUCTION_ENV, **overrides}
    env.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
    return env


def test_production_with_the_emulator_defaults_refuses_to_start_and_names_each_setting():
    """Finding 7: DJANGO_ENV=production with the emulator's defaults and SECRET_KEY=x started."""
    env = _production(SECRET_KEY="x", STRIPE_API_BASE="http://127.0.0.1:12111")
    for name in ("STRIPE_SECRET_KEY", "STRIPE_PUBLISHABLE_KEY", "STRIPE_WEBHOOK_SECRET"):
        env.pop(name)  # the defaults
    check = subprocess.run(
        [sys.executable, "manage.py", "check"], env=env, capture_output=True, text=True
    )
    assert check.returncode != 0
    for setting in (
        "STRIPE_API_BASE",
        "STRIPE_SECRET_KEY",
        "STRIPE_WEBHOOK_SECRET",
        "SECRET_KEY:",
    ):
        assert setting in check.stderr, check.stderr
    served = subprocess.run(
        [sys.executable, "-c", "import config.wsgi"], env=env, capture_output=True, text=True
    )
    assert served.returncode != 0
    assert "Refusing to start with DJANGO_ENV=production" in served.stderr
    assert "STRIPE_WEBHOOK_SECRET" in served.stderr


@pytest.mark.parametrize(
    "overrides, named",
    [
        ({"STRIPE_SECRET_KEY": "sk_test_" + "4" * 24}, "test-mode key"),
        ({"STRIPE_WEBHOOK_SECRET": "whsec_emulator_local_secret"}, "STRIPE_WEBHOOK_SECRET"),
        ({"SECRET_KEY": "a" * 60}, "SECRET_KEY"),
        ({"STRIPE_API_BASE": "http://stripe-emulator:12111"}, "STRIPE_API_BASE"),
    ],
)
def test_each_unsafe_production_setting_alone_fails_the_check(overrides, named):
    check = subprocess.run(
        [sys.executable, "manage.py", "check"],
        env=_production(**overrides),
        capture_output=True,
        text=True,
    )
    assert check.returncode != 0 and named in check.stderr, check.stderr


def test_a_staging_site_may_opt_in_to_stripe_test_mode():
    env = _production(
        STRIPE_SECRET_KEY="sk_test_" + "4" * 24, STRIPE_TEST_MODE_IN_PRODUCTION="true"
    )
    check = subprocess.run(
        [sys.executable, "manage.py", "check"], env=env, capture_output=True, text=True
    )
    assert check.returncode == 0, check.stderr
