"""Finance exports: every report as CSV or XLSX, the journal for an accounting system, and a
period's statements in bulk. Nothing is built whole in memory: CSV is produced line by line
(for a ``StreamingHttpResponse``), XLSX by openpyxl's write-only workbook into a temporary
file, the statements zip entry by entry into a temporary file; the files are then streamed.

Long exports run as Celery tasks (``finance_export_build``) recording progress on a
``FinanceExport`` row. The worker builds the file in its own temporary directory, then saves
it through Django's storage API (``STORAGES["finance_exports"]``: the file system under
``MEDIA_ROOT`` by default, any django-storages backend in production), which is what the web
process reads it from: the two may run on different hosts.

The journal export has one row per leg: date, entry, account code (the chart code, then
``:<organisation id>`` for a party's account and ``:<sub-ledger>`` when there is one), currency,
debit, credit (decimal strings in the currency's major unit, one of them empty), memo and
reference. Per currency the debits equal the credits, and per account the rows sum to the
account's movement in the period (its trial-balance change).
"""

from __future__ import annotations

import csv
import io
import os
import tempfile
import zipfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from django.core.files import File
from django.core.files.storage import Storage, storages
from django.db import transaction
from django.db.models import QuerySet
from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell

from accounts.models import User
from core import clock
from core.money import major_text
from core.spreadsheet import spreadsheet_row
from core.tasks import task_queue
from finance.models import FinanceExport
from finance.period_close import period_for_label
from finance.reports import Report, ReportFilters, report_build
from ledger.models import JournalLeg
from settlement.models import Statement
from settlement.selectors import statement_csv_rows, statement_pdf

JOURNAL_COLUMNS = (
    "date",
    "entry",
    "account_code",
    "currency",
    "debit",
    "credit",
    "memo",
    "reference",
    "stripe_object_id",
)
JOURNAL_CHUNK = 2000
PROGRESS_EVERY = 500


class _Echo:
    """A file-like object whose write returns the line, for csv.writer in a generator."""

    def write(self, value: str) -> str:
        return value


def csv_lines(header: Iterable[Any], rows: Iterable[Iterable[Any]]) -> Iterator[str]:
    """CSV lines, every cell formula-safe (``core.spreadsheet``)."""
    writer = csv.writer(_Echo())
    yield writer.writerow(spreadsheet_row(header))
    for row in rows:
        yield writer.writerow(spreadsheet_row(row))


def report_csv_lines(report: Report) -> Iterator[str]:
    return csv_lines([column.key for column in report.columns], report.rows())


def write_xlsx(
    path: Path, sheets: Iterable[tuple[str, Iterable[Any], Iterable[Iterable[Any]]]]
) -> None:
    """Write sheets (title, header, rows) with openpyxl's write-only (streaming) workbook.
    Text is written as text, never as a formula (and formula-safe, ``core.spreadsheet``);
    numbers we computed stay numbers."""
    workbook = Workbook(write_only=True)
    for title, header, rows in sheets:
        sheet = workbook.create_sheet(title=title[:31])
        sheet.append(_xlsx_row(sheet, header))
        for row in rows:
            sheet.append(_xlsx_row(sheet, row))
    workbook.save(path)


def _xlsx_row(sheet: Any, row: Iterable[Any]) -> list[Any]:
    cells = []
    for value in spreadsheet_row(row):
        if isinstance(value, str):
            cell = WriteOnlyCell(sheet, value=value)
            cell.data_type = "s"  # openpyxl would take "=…" for a formula
            cells.append(cell)
        else:
            cells.append(value)
    return cells


def report_xlsx(report: Report, path: Path) -> None:
    write_xlsx(path, [(report.title, [c.label for c in report.columns], report.rows())])


# --- The journal ---------------------------------------------------------------------------


def journal_legs(filters: ReportFilters) -> QuerySet[JournalLeg]:
    legs = JournalLeg.objects.all()
    if filters.period is not None:
        legs = legs.filter(
            entry__effective_date__gte=filters.first_day,
            entry__effective_date__lte=filters.last_day,
        )
    if filters.currency:
        legs = legs.filter(currency=filters.currency)
    return legs.order_by("entry__effective_date", "entry_id", "id")


def account_code_label(code: str, organisation_id: int | None, subledger_key: str) -> str:
    label = code
    if organisation_id is not None:
        label += f":{organisation_id}"
    if subledger_key:
        label += f":{subledger_key}"
    return label


def journal_rows(filters: ReportFilters) -> Iterator[tuple[str, ...]]:
    """One row per leg, in date order, fetched in chunks (bounded memory)."""
    legs = journal_legs(filters).values_list(
        "entry__effective_date",
        "entry_id",
        "account__code",
        "account__organisation_id",
        "account__subledger_key",
        "currency",
        "amount_minor",
        "memo",
        "entry__memo",
        "entry__reference",
        "entry__stripe_object_id",
    )
    for (
        day,
        entry_id,
        code,
        organisation_id,
        subledger,
        currency,
        amount,
        leg_memo,
        entry_memo,
        reference,
        stripe_id,
    ) in legs.iterator(chunk_size=JOURNAL_CHUNK):
        yield (
            day.isoformat(),
            str(entry_id),
            account_code_label(code, organisation_id, subledger),
            currency,
            major_text(amount, currency) if amount > 0 else "",
            major_text(-amount, currency) if amount < 0 else "",
            leg_memo or entry_memo,
            reference,
            stripe_id or "",
        )


def journal_csv_lines(filters: ReportFilters) -> Iterator[str]:
    return csv_lines(JOURNAL_COLUMNS, journal_rows(filters))


# --- Statements in bulk ----------------------------------------------------------------------


def period_statements(filters: ReportFilters) -> QuerySet[Any]:
    statements = Statement.objects.select_related("holder", "run")
    if filters.first_day is not None:
        statements = statements.filter(period_start=filters.first_day)
    if filters.currency:
        statements = statements.filter(currency=filters.currency)
    return statements.order_by("holder__name", "currency", "id")


def statements_zip(filters: ReportFilters, path: Path, *, progress: Any = None) -> int:
    """Each statement as PDF and CSV into a zip at ``path``, written entry by entry."""
    statements = period_statements(filters)
    total = statements.count()
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for done, statement in enumerate(statements.iterator(chunk_size=200), start=1):
            stem = (
                f"{statement.period_start:%Y-%m}_{statement.holder.name}_{statement.currency}"
                f"_{statement.pk}".replace("/", "-").replace(" ", "_")
            )
            archive.writestr(f"{stem}.pdf", statement_pdf(statement=statement))
            with archive.open(f"{stem}.csv", "w") as member:
                text = io.TextIOWrapper(member, encoding="utf-8", newline="")
                csv.writer(text).writerows(statement_csv_rows(statement=statement))
                text.flush()
                text.detach()
            if progress is not None and (done % 20 == 0 or done == total):
                progress(done, total)
    return total


# --- Export jobs -----------------------------------------------------------------------------

EXPORT_FORMATS = {"csv", "xlsx", "zip"}


FINANCE_EXPORT_STORAGE = "finance_exports"


def export_storage() -> Storage:
    """Where built exports are kept for download (shared by workers and web processes)."""
    return storages[FINANCE_EXPORT_STORAGE]


def export_dir() -> Path:
    """This process's scratch directory for files being built (never shared)."""
    directory = Path(tempfile.gettempdir()) / "trainright-finance-exports"
    directory.mkdir(parents=True, exist_ok=True)
    return directory


def finance_export_request(
    *, kind: str, file_format: str, filters: ReportFilters, actor: User | None
) -> FinanceExport:
    """Queue an export (a report name, ``journal`` or ``statements``) built by a worker."""
    if file_format not in EXPORT_FORMATS:
        raise ValueError(f"Exports are csv, xlsx or zip, not {file_format!r}.")
    if kind == "statements":
        file_format = "zip"
    elif file_format == "zip":
        raise ValueError("Only statements export as a zip.")
    elif kind != "journal":
        report_build(name=kind, filters=filters)  # an unknown name fails here, not in the task
    export = FinanceExport.objects.create(
        kind=kind,
        file_format=file_format,
        params={
            "period": filters.period.label if filters.period else "",
            "currency": filters.currency or "",
        },
        created_by=actor,
    )
    transaction.on_commit(lambda: task_queue("finance.tasks.finance_export_build_task", export.pk))
    return export


def _filters_from(params: dict[str, str]) -> ReportFilters:
    period = period_for_label(label=params["period"]) if params.get("period") else None
    return ReportFilters(period=period, currency=params.get("currency") or None)


def finance_export_build(*, export_id: int) -> FinanceExport:
    """Build the export's file (idempotent: a completed export is left alone)."""
    export = FinanceExport.objects.get(pk=export_id)
    if export.status == FinanceExport.Status.COMPLETED:
        return export
    filters = _filters_from(export.params)
    FinanceExport.objects.filter(pk=export_id).update(status=FinanceExport.Status.RUNNING)
    filename = f"{export.kind}_{filters.label}.{export.file_format}"
    path = temporary_file(f".{export.file_format}")

    def progress(done: int, total: int) -> None:
        FinanceExport.objects.filter(pk=export_id).update(progress_done=done, progress_total=total)

    try:
        if export.kind == "statements":
            statements_zip(filters, path, progress=progress)
        elif export.kind == "journal":
            total = journal_legs(filters).count()
            progress(0, total)
            rows = _counting(journal_rows(filters), total, progress)
            if export.file_format == "csv":
                _write_lines(path, csv_lines(JOURNAL_COLUMNS, rows))
            else:
                write_xlsx(path, [("Journal", JOURNAL_COLUMNS, rows)])
        else:
            report = report_build(name=export.kind, filters=filters)
            if export.file_format == "csv":
                _write_lines(path, report_csv_lines(report))
            else:
                report_xlsx(report, path)
        with open(path, "rb") as built:
            stored_name = export_storage().save(f"{export.pk}/{filename}", File(built))
    except Exception as error:
        FinanceExport.objects.filter(pk=export_id).update(
            status=FinanceExport.Status.FAILED, error=str(error)[:2000]
        )
        raise
    finally:
        path.unlink(missing_ok=True)
    FinanceExport.objects.filter(pk=export_id).update(
        status=FinanceExport.Status.COMPLETED,
        file_path=stored_name,
        filename=filename,
        completed_at=clock.now(),
    )
    return FinanceExport.objects.get(pk=export_id)


def _counting(rows: Iterator[Any], total: int, progress: Any) -> Iterator[Any]:
    done = 0
    for row in rows:
        yield row
        done += 1
        if done % PROGRESS_EVERY == 0:
            progress(done, total)
    progress(done, total)


def _write_lines(path: Path, lines: Iterable[str]) -> None:
    with open(path, "w", encoding="utf-8", newline="") as handle:
        for line in lines:
            handle.write(line)


def temporary_file(suffix: str) -> Path:
    """A fresh temporary file path in the export directory (removed by the caller)."""
    handle, name = tempfile.mkstemp(suffix=suffix, dir=export_dir())
    os.close(handle)
    return Path(name)


def file_chunks(
    path: Path, *, remove: bool = False, chunk_size: int = 64 * 1024
) -> Iterator[bytes]:
    """A file's bytes in chunks, for a streaming response; optionally deleted afterwards."""
    try:
        with open(path, "rb") as handle:
            while chunk := handle.read(chunk_size):
                yield chunk
    finally:
        if remove:
            path.unlink(missing_ok=True)


def export_open(export: FinanceExport) -> Any:
    """The built export's file, opened for reading from the export storage."""
    return export_storage().open(export.file_path, "rb")


def export_file_name(kind: str, filters: ReportFilters, extension: str) -> str:
    stamp = clock.today().isoformat() if filters.period is None else filters.period.label
    return f"{kind}_{stamp}_{filters.currency or 'all'}.{extension}"
