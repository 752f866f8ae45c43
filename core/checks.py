"""Production fails closed: with ``DJANGO_ENV=production`` these are system-check *errors*, so
``manage.py check``, ``migrate`` and ``runserver`` refuse to go on, and the WSGI/ASGI
application and the Celery worker refuse to start (``production_settings_require``), each
naming the offending setting. The development defaults point at the local Stripe emulator;
in production nothing may quietly fall back to them."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core import checks
from django.core.exceptions import ImproperlyConfigured

STRIPE_API = "https://api.stripe.com"
EMULATOR_WEBHOOK_SECRET = "whsec_emulator_local_secret"
DEVELOPMENT_SECRET_KEY = "dev-only-insecure-key-change-me-in-production"
SECRET_KEY_MIN_LENGTH = 50
SECRET_KEY_MIN_UNIQUE = 5


def _error(id_: str, setting: str, msg: str, hint: str) -> checks.Error:
    return checks.Error(f"{setting}: {msg}", hint=hint, id=f"trainright.{id_}")


@checks.register(checks.Tags.security, deploy=False)
def production_settings_check(app_configs: Any = None, **_: Any) -> list[checks.CheckMessage]:
    if not getattr(settings, "PRODUCTION", False):
        return []
    errors: list[checks.CheckMessage] = []
    base = (settings.STRIPE_API_BASE or "").rstrip("/")
    if base not in ("", STRIPE_API):
        errors.append(
            _error(
                "E001",
                "STRIPE_API_BASE",
                f"production talks to {base!r}, not Stripe.",
                f"Leave STRIPE_API_BASE empty (or set it to {STRIPE_API}).",
            )
        )
    key = settings.STRIPE_SECRET_KEY or ""
    test_mode_allowed = getattr(settings, "STRIPE_TEST_MODE_IN_PRODUCTION", False)
    if not key or "emulator" in key:
        errors.append(
            _error(
                "E002",
                "STRIPE_SECRET_KEY",
                "is the emulator's key or empty.",
                "Set your Stripe secret key (sk_live_… or rk_live_…).",
            )
        )
    elif key.startswith(("sk_test_", "rk_test_")) and not test_mode_allowed:
        errors.append(
            _error(
                "E003",
                "STRIPE_SECRET_KEY",
                "is a test-mode key.",
                "Use a live key, or set STRIPE_TEST_MODE_IN_PRODUCTION=true for a staging site.",
            )
        )
    publishable = settings.STRIPE_PUBLISHABLE_KEY or ""
    if "emulator" in publishable:
        errors.append(
            _error(
                "E004",
                "STRIPE_PUBLISHABLE_KEY",
                "is the emulator's key.",
                "Set your Stripe publishable key (pk_live_…).",
            )
        )
    webhook_secret = settings.STRIPE_WEBHOOK_SECRET or ""
    if not webhook_secret or webhook_secret == EMULATOR_WEBHOOK_SECRET:
        errors.append(
            _error(
                "E005",
                "STRIPE_WEBHOOK_SECRET",
                "is the emulator's public value or empty: anyone could forge Stripe events.",
                "Set the signing secret of your webhook endpoint in the Stripe Dashboard.",
            )
        )
    secret_key = settings.SECRET_KEY or ""
    if (
        secret_key == DEVELOPMENT_SECRET_KEY
        or secret_key.startswith("django-insecure")
        or len(secret_key) < SECRET_KEY_MIN_LENGTH
        or len(set(secret_key)) < SECRET_KEY_MIN_UNIQUE
    ):
        errors.append(
            _error(
                "E006",
                "SECRET_KEY",
                f"is weak (fewer than {SECRET_KEY_MIN_LENGTH} characters or "
                f"{SECRET_KEY_MIN_UNIQUE} distinct ones, or a known default).",
                'Generate one: python -c "import secrets; print(secrets.token_urlsafe(64))"',
            )
        )
    if settings.DEBUG:
        errors.append(
            _error("E007", "DEBUG", "is on in production.", "Unset DEBUG (or DEBUG=false).")
        )
    return errors


def production_settings_require() -> None:
    """Refuse to start (WSGI, ASGI, the Celery worker) while a production check fails."""
    errors = [e for e in production_settings_check() if e.is_serious()]
    if errors:
        raise ImproperlyConfigured(
            "Refusing to start with DJANGO_ENV=production:\n"
            + "\n".join(f"  {e.msg} ({e.hint})" for e in errors)
        )
