"""Benchmark of the bulk import: generate a file of N works (default 100,000), import it the
way the Celery task does (in this process, so its memory is measured), and print the wall
time, rows per second and the process's peak resident memory. Everything it creates is
removed afterwards unless --keep."""

from __future__ import annotations

import json
import os
import resource
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from django.core.files import File
from django.core.management.base import BaseCommand
from django.db import connection, transaction

from accounts.models import Organisation
from catalog.importers import work_import_run
from catalog.models import Catalogue, WorkImport

TARGET_SECONDS = 60
TARGET_PEAK_MB = 300
HOLDER_SLUG = "bench-import-author"
OWNER_SLUG = "bench-import-press"


def _isbn13(n: int) -> str:
    body = f"979{n:09d}"
    total = sum(int(d) * (3 if i % 2 else 1) for i, d in enumerate(body))
    return body + str((10 - total % 10) % 10)


def _row(n: int) -> dict[str, Any]:
    return {
        "title": f"Bench work {n} of the harbour archive",
        "kind": "book",
        "language": "en",
        "isbn13": _isbn13(n),
        "metadata": {"series": "Bench", "number": str(n)},
        "consent": {"ai-train": True, "ai-index": False},
        "shares": [
            {"holder": HOLDER_SLUG, "role": "author", "share_bp": 7000},
            {"holder": OWNER_SLUG, "role": "publisher", "share_bp": 3000},
        ],
    }


def write_file(path: Path, rows: int, file_format: str) -> None:
    with path.open("w", encoding="utf-8", newline="") as out:
        if file_format == "jsonl":
            for n in range(1, rows + 1):
                out.write(json.dumps(_row(n)) + "\n")
            return
        out.write("title,kind,language,isbn13,metadata,ai-train,ai-index,shares\n")
        for n in range(1, rows + 1):
            row = _row(n)
            metadata = json.dumps(row["metadata"]).replace('"', '""')
            shares = f"{HOLDER_SLUG}:author:7000;{OWNER_SLUG}:publisher:3000"
            out.write(f'{row["title"]},book,en,{row["isbn13"]},"{metadata}",yes,no,{shares}\n')


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def _own_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _backend_cpu_seconds(pid: int) -> float | None:
    """CPU time of this connection's PostgreSQL backend (when the server runs here): with the
    process's own CPU time it shows how much of the wall time was work, not waiting."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Command(BaseCommand):
    help = "Benchmark the bulk import of works (prints wall time, rows/s and peak memory)."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--rows", type=int, default=100_000)
        parser.add_argument("--format", choices=["csv", "jsonl"], default="csv")
        parser.add_argument("--keep", action="store_true", help="Keep the imported works.")
        parser.add_argument(
            "--reimport", action="store_true", help="Also time re-importing the same file."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        rows, file_format = options["rows"], options["format"]
        owner, owner_created = Organisation.objects.get_or_create(
            slug=OWNER_SLUG,
            defaults={"name": "Bench Press", "kind": "creator", "creator_category": "publisher"},
        )
        holder, holder_created = Organisation.objects.get_or_create(
            slug=HOLDER_SLUG,
            defaults={"name": "Bench Author", "kind": "creator", "creator_category": "author"},
        )
        catalogue = Catalogue.objects.create(owner=owner, name=f"Bench {uuid.uuid4().hex[:8]}")
        imports = []
        try:
            with tempfile.TemporaryDirectory() as folder:
                path = Path(folder) / f"works.{file_format}"
                started = time.perf_counter()
                write_file(path, rows, file_format)
                self.stdout.write(
                    f"generated {rows:,} rows ({path.stat().st_size / 1e6:.1f} MB) "
                    f"in {time.perf_counter() - started:.1f} s"
                )
                passes = ["import", "re-import"] if options["reimport"] else ["import"]
                for label in passes:
                    imports.append(self._measure(label, catalogue, path, file_format, rows))
        finally:
            if not options["keep"]:
                _remove(catalogue, imports)
                # Leave the database as we found it: no bench organisations in the demo.
                for organisation, created in ((holder, holder_created), (owner, owner_created)):
                    if created:
                        organisation.delete()

    def _measure(
        self, label: str, catalogue: Catalogue, path: Path, file_format: str, rows: int
    ) -> WorkImport:
        with path.open("rb") as handle:
            work_import = WorkImport(catalogue=catalogue, format=file_format)
            work_import.file.save(path.name, File(handle), save=False)
            work_import.save()
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_backend_pid()")
            backend = cursor.fetchone()[0]
        backend_before, own_before = _backend_cpu_seconds(backend), _own_cpu_seconds()
        started = time.perf_counter()
        result = work_import_run(import_id=work_import.pk)
        seconds = time.perf_counter() - started
        peak = _peak_rss_mb()
        own_cpu = _own_cpu_seconds() - own_before
        backend_after = _backend_cpu_seconds(backend)
        backend_cpu = (
            f"{backend_after - backend_before:.1f} s"
            if backend_after is not None and backend_before is not None
            else "n/a"
        )
        verdict = "OK" if seconds <= TARGET_SECONDS and peak <= TARGET_PEAK_MB else "OVER TARGET"
        self.stdout.write(
            f"{label}: {result.status}, {result.works_created:,} created, "
            f"{result.works_updated:,} updated, {result.rows_invalid} bad rows\n"
            f"  wall time {seconds:.1f} s, {rows / seconds:,.0f} rows/s, "
            f"peak RSS {peak:.0f} MB  [{verdict}: targets {TARGET_SECONDS} s, "
            f"{TARGET_PEAK_MB} MB]\n"
            f"  CPU time: this process {own_cpu:.1f} s, its PostgreSQL backend {backend_cpu}; "
            f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores"
        )
        return result


def _remove(catalogue: Catalogue, imports: list[WorkImport]) -> None:
    """Delete the bench catalogue, its works and their history rows (set-based)."""
    with transaction.atomic(), connection.cursor() as cursor:
        works = "SELECT id FROM catalog_work WHERE catalogue_id = %s"
        for table in (
            "catalog_consent",
            "catalog_rightsshare",
            "catalog_licenceterms",
            "catalog_consentevent",
            "catalog_rightsshareevent",
        ):
            cursor.execute(
                f"DELETE FROM {table} WHERE work_id IN ({works})",  # noqa: S608
                [catalogue.pk],
            )
        cursor.execute("DELETE FROM catalog_work WHERE catalogue_id = %s", [catalogue.pk])
    for work_import in imports:
        work_import.file.delete(save=False)
    catalogue.delete()
