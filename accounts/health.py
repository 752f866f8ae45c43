"""`/healthz`: 200 when the database and the broker answer, 503 naming what is down."""

from __future__ import annotations

from django.db import connection
from django.http import HttpRequest, JsonResponse
from django.views.decorators.http import require_GET

from config.celery import app as celery_app


def _database_ok() -> bool:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            return cursor.fetchone() == (1,)
    except Exception:
        return False


def _broker_ok() -> bool:
    try:
        with celery_app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, timeout=2)
        return True
    except Exception:
        return False


@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    checks = {"database": _database_ok(), "broker": _broker_ok()}
    down = [name for name, ok in checks.items() if not ok]
    body: dict[str, object] = {
        "status": "ok" if not down else "unavailable",
        "checks": {k: "ok" if v else "down" for k, v in checks.items()},
    }
    if down:
        body["down"] = down
    return JsonResponse(body, status=503 if down else 200)
