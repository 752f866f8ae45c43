"""The endpoint Stripe delivers events to: verify, store once, answer at once.

Processing happens later in a Celery task (payments.events), so Stripe gets its 2xx
within milliseconds and never retries because a handler was slow.
"""

from __future__ import annotations

from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from payments.events import StripeEventMalformed, stripe_event_receive
from payments.gateway import WebhookSignatureInvalid


@csrf_exempt  # Stripe cannot send our CSRF token; the signature authenticates the request
@require_POST
def stripe_webhook(request: HttpRequest) -> JsonResponse:
    try:
        event, created = stripe_event_receive(
            payload=request.body, signature=request.headers.get("Stripe-Signature")
        )
    except (WebhookSignatureInvalid, StripeEventMalformed) as exc:
        return JsonResponse({"error": exc.code, "detail": exc.message}, status=400)
    return JsonResponse({"received": event.stripe_event_id, "duplicate": not created})
