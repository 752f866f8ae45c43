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


def test_deploy_check_is_clean_under_production_settings():
    env = {
        **os.environ,
        "DJANGO_ENV": "production",
        "SECRET_KEY": secrets.token_urlsafe(64),
        "ALLOWED_HOSTS": "trainright.example",
    }
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
