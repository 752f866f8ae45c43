"""Fixtures everyone shares: organisations with API clients, and the real services."""

from __future__ import annotations

import datetime as dt
import os
import shutil
from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings
from rest_framework.test import APIClient

from accounts.models import Organisation, User
from tests.factories import MembershipFactory, OrganisationFactory, api_key_for


def _import_app_factories() -> None:
    """Every tests/<app>/factories.py registers its models in FACTORY_FOR_MODEL."""
    import importlib
    from pathlib import Path

    for path in sorted(Path(__file__).parent.glob("*/factories.py")):
        importlib.import_module(f"tests.{path.parent.name}.factories")


_import_app_factories()


# Hypothesis profiles for the money code: "ci" (the default) and "deep" (`make test-deep`).
# The property tests pick the profile named by HYPOTHESIS_PROFILE (default "ci") through their
# own ``@settings`` rather than ``settings.load_profile``: loading a profile is global, and
# would also multiply the examples of every other Hypothesis test in the suite.

hypothesis_settings.register_profile(
    "ci",
    max_examples=2_000,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
hypothesis_settings.register_profile(
    "deep",
    max_examples=50_000,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)


@dataclass
class Tenant:
    organisation: Organisation
    owner: User
    api_key: str

    def api(self) -> APIClient:
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {self.api_key}")
        return client

    def session(self) -> APIClient:
        client = APIClient()
        client.force_login(self.owner)
        return client


def make_tenant(kind: str = Organisation.Kind.CREATOR, name: str | None = None) -> Tenant:
    kwargs = {"kind": kind}
    if name:
        kwargs["name"] = name
    organisation = OrganisationFactory(**kwargs)
    membership = MembershipFactory(organisation=organisation)
    return Tenant(
        organisation=organisation, owner=membership.user, api_key=api_key_for(organisation)
    )


@pytest.fixture
def tenant_factory():
    return make_tenant


@pytest.fixture
def creator(db) -> Tenant:
    return make_tenant(Organisation.Kind.CREATOR, "Harbour Press")


@pytest.fixture
def developer(db) -> Tenant:
    return make_tenant(Organisation.Kind.AI_DEVELOPER, "Northwind AI")


# --- The clock ---------------------------------------------------------------------------------
# Tests marked `clock("2026-11-20T12:00:00Z")` run with the clock pinned there (ticking on, so
# timeouts and polls still work). Tests marked `dates` are written relative to the clock and
# run pinned at DEFAULT_TEST_INSTANT, or at TRAINRIGHT_TEST_INSTANT: `make test-dates` runs
# them at instants that stress calendars (see tests/dates.py).
DEFAULT_TEST_INSTANT = "2026-11-18T10:30:00Z"


def pinned_instant(item: pytest.Item) -> tuple[str, bool] | None:
    """(instant, ticking) for a test that pins the clock: `clock` tests tick on from their
    instant; `dates` tests stand still at theirs (a fixed instant: no crossing midnight)."""
    marker = item.get_closest_marker("clock")
    if marker is not None:
        return str(marker.args[0]), True
    dates = item.get_closest_marker("dates")
    if dates is not None or os.environ.get("TRAINRIGHT_PIN_EVERY_TEST"):
        # TRAINRIGHT_PIN_EVERY_TEST=1 pins every test: a way to find tests that depend on the
        # date without saying so (they fail at an instant far from today).
        ticking = bool(dates.kwargs.get("tick", False)) if dates is not None else True
        return os.environ.get("TRAINRIGHT_TEST_INSTANT") or DEFAULT_TEST_INSTANT, ticking
    return None


@pytest.fixture(autouse=True)
def pinned_clock(request):
    """Pins the clock for tests that depend on the date; every test starts with the sandbox
    clock's cached offset forgotten (a rolled-back test's offset never leaks into the next)."""
    from core import clock

    clock.refresh()
    pin = pinned_instant(request.node)
    if pin is None:
        yield None
        clock.refresh()
        return
    import time_machine

    instant, ticking = pin
    with time_machine.travel(dt.datetime.fromisoformat(instant), tick=ticking) as traveller:
        yield traveller
    clock.refresh()


@pytest.fixture(autouse=True)
def _test_settings(settings):
    """Each test gets its own cache namespace in the real Redis (throttles, rate limits), and a
    fast password hasher (the real one is tested by Django itself)."""
    import uuid

    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.CACHES = {
        "default": {
            **settings.CACHES["default"],
            "KEY_PREFIX": f"test-{uuid.uuid4().hex[:12]}",
        }
    }


@pytest.fixture(scope="session", autouse=True)
def _celery_queue_of_the_test_session():
    """Tasks queued by tests without a worker go to a queue of this session's own, deleted at
    the end, so they never linger in Redis for a demo's worker to run against its database."""
    import uuid

    from config.celery import app

    queue = f"test-session-{uuid.uuid4().hex[:8]}"
    previous = app.conf.task_default_queue
    app.conf.task_default_queue = queue
    app.amqp.queues.select_add(queue)
    yield queue
    app.conf.task_default_queue = previous
    import redis
    from django.conf import settings

    broker = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    broker.delete(queue, f"_kombu.binding.{queue}", f"_kombu.binding_permanent.{queue}")


@pytest.fixture
def celery_worker_real(transactional_db):
    """A real Celery worker (in-process thread) consuming from the real Redis, on a queue of its
    own so a running demo's worker never takes the tests' tasks. Tests using it see committed
    data only, hence transactional_db."""
    import uuid

    from celery.contrib.testing.worker import start_worker

    from config.celery import app

    queue = f"test-{uuid.uuid4().hex[:8]}"
    previous = app.conf.task_default_queue
    app.conf.task_default_queue = queue
    app.amqp.queues.select_add(queue)
    try:
        with start_worker(
            app,
            pool="threads",
            concurrency=2,
            perform_ping_check=False,
            queues=[queue],
            shutdown_timeout=30,
        ) as worker:
            yield worker
    finally:
        app.conf.task_default_queue = previous


# --- Stripe ------------------------------------------------------------------------------------
# Tests reach Stripe's API over real HTTP through the real SDK, served by the in-process
# emulator. `make test-stripe` instead runs the gateway contract suite against Stripe's test
# mode: STRIPE_API_BASE set to empty and a real sk_test_ key in STRIPE_SECRET_KEY.
STRIPE_ITSELF = os.environ.get("STRIPE_API_BASE") == ""
# Nothing listens here: a test that reaches Stripe without asking for the emulator fails fast
# instead of touching a developer's running demo (or Stripe).
STRIPE_NOWHERE = "http://127.0.0.1:9"


@pytest.fixture(autouse=True)
def _stripe_test_settings(settings):
    settings.STRIPE_RETRY_BASE_DELAY = 0.01
    settings.STRIPE_RETRY_MAX_DELAY = 0.05
    if not STRIPE_ITSELF:
        settings.STRIPE_API_BASE = STRIPE_NOWHERE
        settings.STRIPE_RATE_LIMIT_PER_SECOND = 1000


@pytest.fixture(scope="session")
def stripe_emulator():
    """The Stripe emulator on a free port, for the whole session (see `emulated_stripe`)."""
    from stripe_emulator.server import EmulatorServer

    server = EmulatorServer("127.0.0.1", port=0).start()
    yield server
    server.stop()


@dataclass
class EmulatedStripe:
    url: str
    control: Any  # stripe_emulator.control.EmulatorControl

    def deliver_webhooks_to(self, base_url: str) -> None:
        """Have the emulator POST every event (platform and Connect) to our webhook endpoint
        at `base_url` (e.g. live_server.url), signed with settings.STRIPE_WEBHOOK_SECRET."""
        from django.conf import settings

        self.control.add_webhook_endpoint(
            base_url.rstrip("/") + "/stripe/webhooks/",
            secret=settings.STRIPE_WEBHOOK_SECRET,
            connect=None,
        )


@pytest.fixture
def emulated_stripe(stripe_emulator, settings) -> EmulatedStripe:
    """A wiped emulator that settings.STRIPE_API_BASE points at, for this test."""
    from stripe_emulator.control import EmulatorControl

    control = EmulatorControl(stripe_emulator.url)
    control.reset()
    settings.STRIPE_API_BASE = stripe_emulator.url
    settings.STRIPE_SECRET_KEY = "sk_test_emulator"
    return EmulatedStripe(url=stripe_emulator.url, control=control)


# --- The browser ------------------------------------------------------------------------------
# One headless Debian Chromium for the whole session, shared by the journeys against Django's
# test server (tests/browser/) and the walkthrough against the real demo stack
# (tests/demo_stack/): Playwright's sync API runs one event loop per thread, so one instance.
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]


def csp_violations_recorded(page: Any) -> list[str]:
    """Every Content-Security-Policy violation the page reports from now on (Chromium logs
    each one to the console as an error), for the test to assert there are none."""
    violations: list[str] = []

    def record(message: Any) -> None:
        if message.type == "error" and "Content Security Policy" in message.text:
            violations.append(f"{page.url}: {message.text}")

    page.on("console", record)
    return violations


@pytest.fixture(scope="session")
def chromium():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        yield browser
        browser.close()
