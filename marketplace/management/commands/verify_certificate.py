from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from marketplace.certificates import certificate_verify, sha256_of


class Command(BaseCommand):
    help = (
        "Verify a licence certificate (and optionally a file or a SHA-256 against it). Exits "
        "0 when valid, 1 otherwise; --json prints the full result."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("certificate", type=Path, help="The certificate document (.json).")
        content = parser.add_mutually_exclusive_group()
        content.add_argument("--file", type=Path, help="Content to check against the works.")
        content.add_argument("--sha256", default="", help="SHA-256 of the content to check.")
        parser.add_argument("--json", action="store_true", help="Print the result as JSON.")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            document = options["certificate"].read_bytes()
            sha256 = options["sha256"]
            if options["file"]:
                with options["file"].open("rb") as content:
                    sha256 = sha256_of(content)
        except OSError as error:
            raise CommandError(str(error)) from error
        result = certificate_verify(document=document, sha256=sha256)
        if options["json"]:
            self.stdout.write(json.dumps(result.as_dict(), indent=2, ensure_ascii=False))
        else:
            style = self.style.SUCCESS if result.valid else self.style.ERROR
            self.stdout.write(style(f"{result.status}: {result.reason}"))
        if not result.valid:
            raise SystemExit(1)
