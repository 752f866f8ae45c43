"""Structured logs: JSON in production, readable in development, with the request id and the
Celery task id bound from context, and secrets redacted before anything is written."""

from __future__ import annotations

import re
from typing import Any

import structlog

# API keys, Stripe keys and webhook secrets never reach a log line.
_SECRET_PATTERN = re.compile(r"\b(trk_[A-Za-z0-9]{8}_)[A-Za-z0-9]+|\b((?:sk|rk|whsec)_[a-z]+_)\w+")
_SECRET_FIELDS = {"password", "secret", "api_key", "authorization", "stripe_secret_key", "token"}


def _redact_value(value: Any) -> Any:
    if isinstance(value, str):
        return _SECRET_PATTERN.sub(lambda m: (m.group(1) or m.group(2)) + "[redacted]", value)
    return value


def redact_secrets(_logger: Any, _method: str, event_dict: dict[str, Any]) -> dict[str, Any]:
    for key in list(event_dict):
        if key.lower() in _SECRET_FIELDS:
            event_dict[key] = "[redacted]"
        else:
            event_dict[key] = _redact_value(event_dict[key])
    return event_dict


SHARED_PROCESSORS: list[Any] = [
    structlog.contextvars.merge_contextvars,
    structlog.stdlib.add_logger_name,
    structlog.stdlib.add_log_level,
    structlog.processors.TimeStamper(fmt="iso", utc=True),
    structlog.processors.format_exc_info,
]


def build_logging_config(*, json_output: bool, level: str) -> dict[str, Any]:
    renderer: Any = (
        structlog.processors.JSONRenderer() if json_output else structlog.dev.ConsoleRenderer()
    )
    structlog.configure(
        processors=[
            *SHARED_PROCESSORS,
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {
            "structured": {
                "()": structlog.stdlib.ProcessorFormatter,
                "processors": [
                    structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                    redact_secrets,
                    renderer,
                ],
                "foreign_pre_chain": SHARED_PROCESSORS,
            },
        },
        "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "structured"}},
        "root": {"handlers": ["console"], "level": level},
        "loggers": {
            "django.db.backends": {"level": "WARNING"},
            "stripe": {"level": "WARNING"},
            "axes": {"level": "WARNING"},  # each failed sign-in; lock-outs are our own log
            "celery": {"level": "INFO"},
        },
    }
