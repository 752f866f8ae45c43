"""TrainRight settings: one module, every value from the environment with a working local default.

`DJANGO_ENV=production` switches on the hardened defaults (`manage.py check --deploy` is clean);
anything else is local development or tests. The README has a table of every variable.
"""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path
from typing import Any

import dj_database_url
from celery.schedules import crontab

from config.logging import build_logging_config

BASE_DIR = Path(__file__).resolve().parent.parent


def env(name: str, default: str = "") -> str:
    return os.environ.get(name, default)


def env_bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None:
        return default
    return raw.strip().lower() in {"1", "true", "yes", "on"}


def env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    return int(raw) if raw not in (None, "") else default


DJANGO_ENV = env("DJANGO_ENV", "development")
PRODUCTION = DJANGO_ENV == "production"

DEBUG = env_bool("DEBUG", not PRODUCTION)
SECRET_KEY = env(
    "SECRET_KEY", "" if PRODUCTION else "dev-only-insecure-key-change-me-in-production"
)
if PRODUCTION and not SECRET_KEY:
    raise RuntimeError("SECRET_KEY must be set when DJANGO_ENV=production")
ALLOWED_HOSTS = [h for h in env("ALLOWED_HOSTS", "127.0.0.1,localhost,testserver").split(",") if h]
CSRF_TRUSTED_ORIGINS = [o for o in env("CSRF_TRUSTED_ORIGINS", "").split(",") if o]
SITE_URL = env("SITE_URL", "http://127.0.0.1:8000")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.postgres",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_htmx",
    "csp",
    "pgtrigger",
    "pghistory",
    "axes",
    "core",
    "accounts",
    "payments",
    "catalog",
    "marketplace",
    "royalties",  # the tables' migration history before the split, nothing else
    "ledger",
    "usage",
    "settlement",
    "payouts",
    "finance",
    "frontend",
    "sandbox",
]

MIDDLEWARE = [
    "accounts.middleware.RequestIdMiddleware",
    "django.middleware.security.SecurityMiddleware",
    # Static files in every mode (the demo and tests too), so what runs is what ships.
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "accounts.middleware.ApiProblemMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "pghistory.middleware.HistoryMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "accounts.middleware.ContentSecurityPolicyMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "accounts.middleware.ViewersOnlyReadMiddleware",
    "accounts.idempotency.IdempotencyMiddleware",
    # Last, as django-axes asks: it turns a locked-out sign-in into the lock-out page.
    "axes.middleware.AxesMiddleware",
]

AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",  # refuses a locked-out sign-in before the password
    "django.contrib.auth.backends.ModelBackend",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"
ASGI_APPLICATION = "config.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        # Overrides of third-party templates (the API docs pages) live in config/templates.
        "DIRS": [BASE_DIR / "config" / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "frontend.context_processors.persona",
                "frontend.context_processors.sandbox_clock",
            ],
        },
    },
]

DATABASES = {
    "default": dj_database_url.parse(
        env("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/trainright"),
        conn_max_age=env_int("DB_CONN_MAX_AGE", 60),
    )
}
# Separate test databases let several test runs share one PostgreSQL server.
if env("TEST_DATABASE_NAME"):
    DATABASES["default"]["TEST"] = {"NAME": env("TEST_DATABASE_NAME")}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_USER_MODEL = "accounts.User"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "frontend:login"
LOGIN_REDIRECT_URL = "frontend:home"
LOGOUT_REDIRECT_URL = "frontend:login"
# Failed sign-ins (the site's and the admin's, accounts/login_throttle.py) allowed per account
# and client address before that pair is refused for LOGIN_THROTTLE_WINDOW seconds.
LOGIN_THROTTLE_ATTEMPTS = env_int("LOGIN_THROTTLE_ATTEMPTS", 5)
LOGIN_THROTTLE_WINDOW = env_int("LOGIN_THROTTLE_WINDOW", 300)
AXES_FAILURE_LIMIT = LOGIN_THROTTLE_ATTEMPTS
AXES_COOLOFF_TIME = timedelta(seconds=LOGIN_THROTTLE_WINDOW)
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_USERNAME_CALLABLE = "accounts.login_throttle.login_username"
AXES_LOCKOUT_CALLABLE = "frontend.views.auth.login_locked_out_response"
AXES_SENSITIVE_PARAMETERS = ["password"]
AXES_VERBOSE = False
# Behind a proxy: the request header (as in request.META, e.g. HTTP_X_FORWARDED_FOR) that the
# proxies append the client's address to, and how many proxies there are. Unset, the
# connection's own address counts and a client-sent X-Forwarded-For is ignored.
TRUSTED_PROXY_HEADER = env("TRUSTED_PROXY_HEADER", "")
TRUSTED_PROXY_COUNT = env_int("TRUSTED_PROXY_COUNT", 1)
AXES_CLIENT_IP_CALLABLE = "accounts.login_throttle.client_address"

LANGUAGE_CODE = "en-gb"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
# Front-end packages come from the npm registry (package-lock.json); none is committed.
STATICFILES_DIRS = [
    ("vendor/htmx", BASE_DIR / "node_modules" / "htmx.org" / "dist"),
    ("vendor/pico", BASE_DIR / "node_modules" / "@picocss" / "pico" / "css"),
    ("vendor/chart.js", BASE_DIR / "node_modules" / "chart.js" / "dist"),
]
# Outside production WhiteNoise also serves straight from the app and npm folders (no stale
# collectstatic copy); in production only the collected, hashed files.
WHITENOISE_USE_FINDERS = not PRODUCTION
WHITENOISE_AUTOREFRESH = DEBUG and not PRODUCTION
STORAGES: dict[str, dict[str, object]] = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if PRODUCTION
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}
MEDIA_ROOT = Path(env("MEDIA_ROOT", str(BASE_DIR / "media")))
MEDIA_URL = "/media/"
# Finance exports built by workers and downloaded through the web: a storage both reach (the
# file system under MEDIA_ROOT by default; e.g. storages.backends.s3.S3Storage in production,
# configured by that backend's own settings).
FINANCE_EXPORT_STORAGE_BACKEND = env(
    "FINANCE_EXPORT_STORAGE_BACKEND", "django.core.files.storage.FileSystemStorage"
)
STORAGES["finance_exports"] = {
    "BACKEND": FINANCE_EXPORT_STORAGE_BACKEND,
    "OPTIONS": {"location": str(MEDIA_ROOT / "finance-exports")}
    if FINANCE_EXPORT_STORAGE_BACKEND.endswith("FileSystemStorage")
    else {},
}

# A copy of the stack on another database (a scratch demo, a benchmark, a second checkout)
# gets its own Celery queue and cache namespace by default, so that a running demo's worker
# never takes its tasks (they name rows of another database) and their throttles never mix.
_DATABASE_NAMESPACE = (
    "" if DATABASES["default"]["NAME"] == "trainright" else str(DATABASES["default"]["NAME"])
)
REDIS_URL = env("REDIS_URL", "redis://127.0.0.1:6379/0")
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": env("CACHE_URL", REDIS_URL),
        "KEY_PREFIX": env(
            "CACHE_KEY_PREFIX",
            f"trainright-{_DATABASE_NAMESPACE}" if _DATABASE_NAMESPACE else "trainright",
        ),
    }
}

# --- API -----------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "accounts.authentication.ApiKeyAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": [
        "rest_framework.permissions.IsAuthenticated",
        "accounts.api.permissions.ViewersOnlyRead",
    ],
    "DEFAULT_PAGINATION_CLASS": "accounts.api.pagination.StandardPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_FILTER_BACKENDS": [
        "accounts.api.filters.TenantFilterBackend",
        "rest_framework.filters.OrderingFilter",
    ],
    "DEFAULT_THROTTLE_CLASSES": ["accounts.api.throttling.ApiKeyRateThrottle"],
    "DEFAULT_THROTTLE_RATES": {"api_key": env("API_KEY_THROTTLE_RATE", "6000/min")},
    "EXCEPTION_HANDLER": "accounts.api.problems.problem_exception_handler",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DATETIME_FORMAT": "iso-8601",
    "COERCE_DECIMAL_TO_STRING": True,
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
}
SPECTACULAR_SETTINGS: dict[str, Any] = {
    "TITLE": "TrainRight API",
    "DESCRIPTION": (
        "Licensing marketplace for AI training. Money is always an integer amount in minor units "
        "plus an ISO 4217 currency. Errors are RFC 9457 problem details. Every POST honours an "
        "`Idempotency-Key` header."
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    "SCHEMA_PATH_PREFIX": r"/api/v1",
    # Swagger UI and Redoc from our own static files (drf-spectacular-sidecar), never a CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "accounts.api.schema.add_problem_responses",
    ],
}
# Idempotency records are kept at least this long (the API promise is 24 hours).
IDEMPOTENCY_RETENTION = timedelta(hours=env_int("IDEMPOTENCY_RETENTION_HOURS", 48))

# --- Celery --------------------------------------------------------------------------------
CELERY_BROKER_URL = env("CELERY_BROKER_URL", REDIS_URL)
CELERY_RESULT_BACKEND = env("CELERY_RESULT_BACKEND", REDIS_URL)
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = "UTC"
CELERY_TASK_TRACK_STARTED = True
# The queue tasks go to and workers consume by default (a benchmark or test run uses its own).
CELERY_TASK_DEFAULT_QUEUE = env(
    "CELERY_TASK_DEFAULT_QUEUE",
    f"celery-{_DATABASE_NAMESPACE}" if _DATABASE_NAMESPACE else "celery",
)
# Unacked tasks return to the queue after this long; no ETA/countdown may exceed it.
CELERY_BROKER_VISIBILITY_TIMEOUT = env_int("CELERY_BROKER_VISIBILITY_TIMEOUT", 3600)
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": CELERY_BROKER_VISIBILITY_TIMEOUT}
CELERY_RESULT_BACKEND_TRANSPORT_OPTIONS = {"visibility_timeout": CELERY_BROKER_VISIBILITY_TIMEOUT}
CELERY_BEAT_SCHEDULE: dict[str, dict[str, object]] = {
    "purge-idempotency-records": {
        "task": "accounts.tasks.idempotency_records_purge",
        "schedule": crontab(minute=17),
    },
    "retry-failed-stripe-events": {
        "task": "payments.tasks.stripe_events_retry_due",
        "schedule": timedelta(minutes=2),
    },
}

# An import (catalogue works) still unfinished this many seconds after it was started (or
# queued) is failed by the watchdog with a reason. Longer than the broker's visibility timeout,
# so a task lost with its worker has been redelivered and restarted (which restamps it) first.
# Upload limits (bytes): a larger catalogue file is refused before it is stored, a larger
# usage report body (as sent, gzip or not) answers 413 with nothing stored.
CATALOGUE_IMPORT_MAX_BYTES = env_int("CATALOGUE_IMPORT_MAX_BYTES", 64 * 1024 * 1024)
USAGE_REPORT_MAX_BYTES = env_int("USAGE_REPORT_MAX_BYTES", 512 * 1024 * 1024)
IMPORT_WATCHDOG_TIMEOUT_SECONDS = env_int("IMPORT_WATCHDOG_TIMEOUT_SECONDS", 3 * 3600)
CELERY_BEAT_SCHEDULE["fail-stuck-imports"] = {
    "task": "catalog.tasks.work_imports_fail_stuck_task",
    "schedule": timedelta(minutes=10),
}

# --- Stripe --------------------------------------------------------------------------------
# The emulator's values outside production; production has no default and fails its checks
# (core/checks.py) until each is set.
STRIPE_SECRET_KEY = env("STRIPE_SECRET_KEY", "" if PRODUCTION else "sk_test_emulator")
STRIPE_PUBLISHABLE_KEY = env("STRIPE_PUBLISHABLE_KEY", "" if PRODUCTION else "pk_test_emulator")
STRIPE_WEBHOOK_SECRET = env(
    "STRIPE_WEBHOOK_SECRET", "" if PRODUCTION else "whsec_emulator_local_secret"
)
# Empty means Stripe itself; locally the emulator.
STRIPE_API_BASE = env("STRIPE_API_BASE", "" if PRODUCTION else "http://127.0.0.1:12111")
# A staging site may run DJANGO_ENV=production on Stripe's test mode, by saying so.
STRIPE_TEST_MODE_IN_PRODUCTION = env_bool("STRIPE_TEST_MODE_IN_PRODUCTION", False)
STRIPE_API_VERSION = env("STRIPE_API_VERSION", "")
STRIPE_RATE_LIMIT_PER_SECOND = env_int(
    "STRIPE_RATE_LIMIT_PER_SECOND", 100 if STRIPE_SECRET_KEY.startswith("sk_live_") else 25
)
# Tokens the bucket may hold (a burst after a quiet spell). 1 spaces calls evenly, so no
# second ever sees more than STRIPE_RATE_LIMIT_PER_SECOND calls; raise it to allow bursts.
STRIPE_RATE_LIMIT_BURST = env_int("STRIPE_RATE_LIMIT_BURST", 1)
# A gateway call waits at most this long for a rate-limit token before giving up.
STRIPE_RATE_LIMIT_MAX_WAIT = float(env("STRIPE_RATE_LIMIT_MAX_WAIT", "5"))
# Network errors, timeouts, 409, 429 and 5xx are retried under the same idempotency key:
# STRIPE_MAX_ATTEMPTS tries in all, waiting base * 2^n seconds (with jitter, capped) between.
STRIPE_MAX_ATTEMPTS = env_int("STRIPE_MAX_ATTEMPTS", 4)
STRIPE_RETRY_BASE_DELAY = float(env("STRIPE_RETRY_BASE_DELAY", "0.5"))
STRIPE_RETRY_MAX_DELAY = float(env("STRIPE_RETRY_MAX_DELAY", "8"))
STRIPE_REQUEST_TIMEOUT = float(env("STRIPE_REQUEST_TIMEOUT", "10"))
# Webhook signatures dated more than this many seconds before or after now are refused
# (replay protection; the SDK checks only the past, payments.gateway the future too).
STRIPE_WEBHOOK_TOLERANCE = env_int("STRIPE_WEBHOOK_TOLERANCE", 300)
# A failed event handler is retried by the beat job this many times, with growing delays.
STRIPE_EVENT_MAX_ATTEMPTS = env_int("STRIPE_EVENT_MAX_ATTEMPTS", 8)

# --- Marketplace ---------------------------------------------------------------------------
# Platform commission on every agreement unless the accepted version overrides it, basis points.
PLATFORM_COMMISSION_BP = env_int("PLATFORM_COMMISSION_BP", 1000)
# An offer's default answer deadline, and the furthest one a party may set, in days.
OFFER_RESPONSE_DAYS = env_int("OFFER_RESPONSE_DAYS", 14)
OFFER_MAX_RESPONSE_DAYS = env_int("OFFER_MAX_RESPONSE_DAYS", 90)
# Ed25519 private key (PEM; "\n" escapes allowed) signing licence certificates. Production sets
# it; rotating = deploying a new PEM (`manage.py rotate_signing_key` registers it at once).
# Empty (development, tests): keys are generated and kept in the database (SigningKey).
CERTIFICATE_SIGNING_KEY = env("CERTIFICATE_SIGNING_KEY", "")
SPECTACULAR_SETTINGS.setdefault("ENUM_NAME_OVERRIDES", {}).update(
    {
        "AiUseEnum": "catalog.models.AiUse",
        "OfferStatusEnum": "marketplace.models.Offer.Status",
    }
)
CELERY_BEAT_SCHEDULE["expire-offers"] = {
    "task": "marketplace.tasks.offers_expire_due_task",
    "schedule": timedelta(minutes=5),
}
CELERY_BEAT_SCHEDULE["expire-agreements"] = {
    "task": "marketplace.tasks.agreements_expire_due_task",
    "schedule": crontab(hour=0, minute=10),
}
CELERY_BEAT_SCHEDULE["import-stripe-balance-transactions"] = {
    "task": "finance.tasks.stripe_balance_transactions_import_task",
    "schedule": crontab(hour=2, minute=40),
}
# Settles last month once it has ended, and re-queues runs stalled by a lost worker.
CELERY_BEAT_SCHEDULE["settlement-runs"] = {
    "task": "settlement.tasks.settlement_runs_tick",
    "schedule": crontab(minute="*/15"),
}
# Payouts: a transfer failing with a retryable error is tried this many times in all, waiting
# base * 2^n seconds (capped at 6 hours) between tries, then left failed for finance.
ROYALTIES_PAYOUT_MAX_ATTEMPTS = env_int("ROYALTIES_PAYOUT_MAX_ATTEMPTS", 8)
ROYALTIES_PAYOUT_RETRY_BASE_SECONDS = float(env("ROYALTIES_PAYOUT_RETRY_BASE_SECONDS", "60"))
# Stripe's fee on a collection is the platform's expense unless this passes the holders' share
# of it on to them (apportioned like the collection: commission and holder shares pro rata).
STRIPE_FEES_PASSED_TO_CREATORS = env_bool("STRIPE_FEES_PASSED_TO_CREATORS", False)
CELERY_BEAT_SCHEDULE["collections-open-and-retry"] = {
    "task": "payouts.tasks.collections_open_due",
    "schedule": timedelta(minutes=15),
}
CELERY_BEAT_SCHEDULE["collections-remind"] = {
    "task": "payouts.tasks.collections_remind_task",
    "schedule": crontab(hour=9, minute=0),
}
CELERY_BEAT_SCHEDULE["payouts-resume-due"] = {
    "task": "payouts.tasks.payouts_resume_due_task",
    "schedule": timedelta(minutes=1),
}
CELERY_BEAT_SCHEDULE["upfront-fees-catch-up"] = {
    "task": "payouts.tasks.upfront_fees_catch_up_task",
    "schedule": timedelta(hours=1),
}
CELERY_BEAT_SCHEDULE["payouts-schedule-payable"] = {
    "task": "payouts.tasks.payouts_schedule_payable_task",
    "schedule": crontab(hour=3, minute=30),
}

# --- Sandbox clock -------------------------------------------------------------------------
# Outside production an owner or finance user may move the platform's clock forward (the
# demo's banner, `manage.py sandbox_clock`). Never in production, whatever the environment.
SANDBOX_CLOCK_ENABLED = not PRODUCTION and env_bool("SANDBOX_CLOCK_ENABLED", True)
# A long-running process re-reads the sandbox offset after this many seconds (each web
# request and Celery task reads it at its start anyway).
SANDBOX_CLOCK_REFRESH_SECONDS = float(env("SANDBOX_CLOCK_REFRESH_SECONDS", "5"))

# --- Security ------------------------------------------------------------------------------
SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_HTTPONLY = False
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
# Every page of ours runs only our own files: no inline script or style, no other origin
# (frontend/static/frontend/app.js holds the page scripts). Forms may also lead on to Stripe's
# hosted pages (accounts.middleware.ContentSecurityPolicyMiddleware adds their origin).
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "font-src": ["'self'"],
        "connect-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "frame-ancestors": ["'none'"],
        "form-action": ["'self'"],
    }
}
PERMISSIONS_POLICY = (
    "camera=(), microphone=(), geolocation=(), payment=(), usb=(), interest-cohort=()"
)
if PRODUCTION:
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", True)
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SECURE_REDIRECT_EXEMPT = [r"^healthz$"]

EMAIL_BACKEND = env(
    "EMAIL_BACKEND",
    "django.core.mail.backends.smtp.EmailBackend"
    if PRODUCTION
    else "django.core.mail.backends.console.EmailBackend",
)
DEFAULT_FROM_EMAIL = env("DEFAULT_FROM_EMAIL", "TrainRight <no-reply@trainright.local>")

# --- Logging -------------------------------------------------------------------------------
LOG_FORMAT = env("LOG_FORMAT", "json" if PRODUCTION else "console")
LOGGING = build_logging_config(json_output=LOG_FORMAT == "json", level=env("LOG_LEVEL", "INFO"))

# --- Catalogue -----------------------------------------------------------------------------
SPECTACULAR_SETTINGS.setdefault("ENUM_NAME_OVERRIDES", {}).update(
    {
        "WorkKindEnum": "catalog.models.Work.Kind",
        "RightsShareRoleEnum": "catalog.models.RightsShare.Role",
        "MembershipRoleEnum": "accounts.models.Membership.Role",
        "ApiKeyRoleEnum": "accounts.models.ApiKey.Role",
    }
)
