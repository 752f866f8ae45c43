from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand

from marketplace.certificates import signing_key_rotate


class Command(BaseCommand):
    help = (
        "Start signing licence certificates with a new key; older keys stay published (retired) "
        "so the certificates they signed still verify. With CERTIFICATE_SIGNING_KEY set, the "
        "new key is that one: deploy the new PEM first, then run this."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        key = signing_key_rotate()
        source = "CERTIFICATE_SIGNING_KEY" if settings.CERTIFICATE_SIGNING_KEY else "generated"
        self.stdout.write(self.style.SUCCESS(f"Signing with {key.key_id} ({source})."))
