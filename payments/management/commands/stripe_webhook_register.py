"""Point the local Stripe emulator's webhooks at our endpoint, signed with our secret.

`make demo` runs this once the emulator is up. Against Stripe itself the endpoint is added in
the Dashboard (Developers → Webhooks, with "Listen to events on Connected accounts" as well)
and its signing secret goes into STRIPE_WEBHOOK_SECRET; this command then refuses to run.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.urls import reverse

from payments.emulator import EmulatorError, webhook_endpoint_add
from payments.gateway import GatewayError, webhook_endpoints_list


class Command(BaseCommand):
    help = "Register our webhook endpoint with the local Stripe emulator (idempotent)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--url", help="Where events are POSTed (default: SITE_URL + /stripe/webhooks/)."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if not settings.STRIPE_API_BASE:
            raise CommandError(
                "STRIPE_API_BASE is empty, so this is Stripe itself: add the endpoint in the "
                "Stripe Dashboard and put its signing secret in STRIPE_WEBHOOK_SECRET."
            )
        url = options["url"] or settings.SITE_URL.rstrip("/") + reverse("stripe-webhook")
        try:
            if any(e.url == url and e.status == "enabled" for e in webhook_endpoints_list()):
                self.stdout.write(f"Stripe webhooks already go to {url}.")
                return
            webhook_endpoint_add(url=url, secret=settings.STRIPE_WEBHOOK_SECRET)
        except (GatewayError, EmulatorError, OSError) as exc:
            raise CommandError(f"The Stripe emulator at {settings.STRIPE_API_BASE}: {exc}") from exc
        self.stdout.write(f"Stripe webhooks (platform and Connect events) now go to {url}.")
