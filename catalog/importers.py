"""Bulk import of works (CSV or JSON Lines) with their identifiers, consent and split sheets.

The format is documented in docs/catalogue-import.md. How an import runs, and why:

1. Stream. The file is read from storage line by line (never whole), each row is checked in
   Python for what one row can tell (formats, check digits, shares totalling 10,000), and the
   good rows are COPYed into session-local staging tables in batches (psycopg 3 COPY).
2. Validate set-based in SQL what needs the whole file or the database: unknown rights
   holders, an identifier repeated within the file, identifiers that point at two different
   existing works. Every problem is a (row, column, reason) kept for the creator. By default
   one bad row rejects the file and nothing is written.
3. Merge in one transaction, the catalogue row locked so imports and edits of one catalogue
   take turns: works are matched on their identifiers (re-importing updates, never
   duplicates), new ones get ids from the sequence and are INSERTed from staging, existing ones
   UPDATEd; split lines and consent rows are upserted with INSERT … ON CONFLICT. PostgreSQL's
   deferred trigger still checks every touched work's shares total 10,000 at commit, and the
   history triggers record every split and consent change under the importing person.

Progress is written through a second connection, so the page and the API see it move while
the merge transaction is still open.

Every reason an import or one of its rows is refused for passes through
``core.errors.safe_message`` before it is stored (control characters escaped, length capped),
so a file holding NUL characters (UTF-16 without a byte-order mark, say) is rejected like any
other, never left ``validating`` because its rejection could not be written. The beat job
``work_imports_fail_stuck_task`` fails any import still unfinished
``IMPORT_WATCHDOG_TIMEOUT_SECONDS`` after it was queued or started (a lost task, a crash).
"""

from __future__ import annotations

import csv
import datetime as dt
import functools
import io
import json
import os
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import PurePath
from typing import IO, Any

import structlog
from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection, connections, transaction
from django.db.models import Q

from accounts.models import ApiKey
from accounts.tenancy import Principal, principal_for_organisations, principal_for_user
from catalog.identifiers import MATCHING_SCHEMES, SCHEME_LABELS, URL
from catalog.models import (
    BASIS_POINTS_TOTAL,
    AiUse,
    Catalogue,
    RightsShare,
    WorkImport,
    WorkImportProblem,
)
from catalog.services import history_context
from catalog.work_fields import (
    CLEANERS,
    IDENTIFIER_FIELDS,
    identifier_clean,
    metadata_clean,
    metadata_from_text,
    size_bytes_clean,
)
from core import clock
from core.errors import safe_message
from core.tasks import task_queue

log = structlog.get_logger(__name__)

BATCH_ROWS = 5_000
PROGRESS_EVERY_ROWS = 5_000
MAX_PROBLEMS_KEPT = 100_000
COLUMN_MAX = 100  # WorkImportProblem.column
ROLES = frozenset(RightsShare.Role.values)
USES = tuple(AiUse.values)
REQUIRED_COLUMNS = ("title", "kind", "shares")
OPTIONAL_COLUMNS = (
    "language",
    *MATCHING_SCHEMES,
    URL,
    "content_sha256",
    "size_bytes",
    "metadata",
)
CSV_COLUMNS = frozenset((*REQUIRED_COLUMNS, *OPTIONAL_COLUMNS, *USES))
JSON_FIELDS = frozenset((*REQUIRED_COLUMNS, *OPTIONAL_COLUMNS, "consent"))
IDENTIFIER_COLUMNS = IDENTIFIER_FIELDS
COLUMN_ALIASES = {"isbn": "isbn13", "isbn-13": "isbn13", "sha256": "content_sha256"}
YES = frozenset({"yes", "y", "true", "1", "granted"})
NO = frozenset({"no", "n", "false", "0", "not granted"})
FOLLOW_DEFAULT = "default"
# Progress: reading and staging 0-60 %, set-based checks 60-70 %, the merge 70-100 %.
STAGED_PCT, CHECKED_PCT = 60, 70

STAGED_VALUE_COLUMNS = (
    "title",
    "kind",
    "language",
    "isbn13",
    "isrc",
    "iswc",
    "doi",
    "url",
    "content_sha256",
    "size_bytes",
    "metadata",
)


# --- Creating an import --------------------------------------------------------------------


def format_for(name: str) -> str | None:
    suffix = PurePath(name).suffix.lower()
    if suffix == ".csv":
        return WorkImport.Format.CSV
    if suffix in {".jsonl", ".ndjson"}:
        return WorkImport.Format.JSONL
    return None


@transaction.atomic
def work_import_create(
    *,
    catalogue: Catalogue,
    upload: Any,
    actor: Principal,
    file_format: str | None = None,
    import_valid_rows: bool = False,
) -> WorkImport:
    """Store the uploaded file and queue its import (a Celery task, once this commits)."""
    if catalogue.owner_id not in actor.organisation_ids:
        raise PermissionDenied("Only the catalogue owner's organisation can import works.")
    name = os.path.basename(getattr(upload, "name", "") or "works")
    size = getattr(upload, "size", None)
    limit = settings.CATALOGUE_IMPORT_MAX_BYTES
    if size is not None and size > limit:
        raise ValidationError(
            {
                "file": f"The file is {size:,} bytes; a catalogue file may be at most "
                f"{limit:,} bytes ({limit // (1024 * 1024)} MiB). Split it and import the parts."
            }
        )
    chosen = file_format or format_for(name)
    if chosen not in WorkImport.Format.values:
        raise ValidationError(
            {"format": "Say which format the file is in (csv or jsonl), or name it .csv/.jsonl."}
        )
    work_import = WorkImport(
        catalogue=catalogue,
        original_name=name[:255],
        format=chosen,
        import_valid_rows=import_valid_rows,
        created_by=actor.user,
        created_by_api_key=actor.api_key,
    )
    work_import.file.save(name, upload, save=False)
    work_import.save()
    transaction.on_commit(lambda: task_queue("catalog.tasks.work_import_run_task", work_import.pk))
    return work_import


# --- Reading rows ------------------------------------------------------------------------------


@dataclass
class ParsedRow:
    row_number: int
    values: dict[str, Any] = field(default_factory=dict)
    shares: list[tuple[str, str, int]] = field(default_factory=list)
    consents: list[tuple[str, bool | None]] = field(default_factory=list)
    problems: list[tuple[str, str]] = field(default_factory=list)


class FileRejected(Exception):
    """The file as a whole cannot be read (not UTF-8, missing columns, ...)."""

    def __init__(self, row_number: int, column: str, reason: str) -> None:
        reason = safe_message(reason)
        super().__init__(reason)
        self.row_number, self.column = row_number, safe_message(column, limit=COLUMN_MAX)
        self.reason = reason


def _text(value: Any) -> str:
    if value is None:
        return ""
    return value.strip() if isinstance(value, str) else str(value).strip()


def _consent_value(raw: Any) -> tuple[bool | None, bool]:
    """(granted, given): granted None means follow the catalogue default."""
    if raw is None or raw == "":
        return None, False
    if isinstance(raw, bool):
        return raw, True
    text = str(raw).strip().lower()
    if text in YES:
        return True, True
    if text in NO:
        return False, True
    if text == FOLLOW_DEFAULT:
        return None, True
    raise ValueError(f"{raw!r}: use yes, no, default or leave empty.")


def _shares_from_text(text: str) -> list[tuple[str, str, Any]]:
    lines = []
    for part in text.replace("|", ";").split(";"):
        if not part.strip():
            continue
        pieces = [p.strip() for p in part.split(":")]
        if len(pieces) != 3:
            raise ValueError(
                f"{part.strip()!r}: write each share as holder-slug:role:basis-points."
            )
        lines.append((pieces[0], pieces[1], pieces[2]))
    return lines


def _shares_from_json(value: Any) -> list[tuple[str, str, Any]]:
    if not isinstance(value, list):
        raise ValueError("shares is a list of {holder, role, share_bp} objects.")
    lines = []
    for item in value:
        if not isinstance(item, dict) or set(item) - {"holder", "role", "share_bp"}:
            raise ValueError("each share is an object with holder, role and share_bp.")
        lines.append((_text(item.get("holder")), _text(item.get("role")), item.get("share_bp")))
    return lines


def _whole_number(raw: Any) -> int | None:
    if isinstance(raw, int) and not isinstance(raw, bool):
        return raw
    if isinstance(raw, str) and raw.strip().isdigit():
        return int(raw.strip())
    return None


def _check_shares(row: ParsedRow, lines: list[tuple[str, str, Any]]) -> None:
    if not lines:
        row.problems.append(("shares", "At least one rights holder is required."))
        return
    seen: set[tuple[str, str]] = set()
    total = 0
    for holder, role, raw_bp in lines:
        share_bp = _whole_number(raw_bp)
        if not holder:
            row.problems.append(("shares", "A share needs the holder's organisation slug."))
        elif role not in ROLES:
            row.problems.append(("shares", f"{holder}: unknown role {role!r}."))
        elif share_bp is None:
            row.problems.append(("shares", f"{holder}: {raw_bp!r} is not whole basis points."))
        elif not 1 <= share_bp <= BASIS_POINTS_TOTAL:
            row.problems.append(("shares", f"{holder}: a share is 1 to 10,000 basis points."))
        elif (holder, role) in seen:
            row.problems.append(("shares", f"{holder} appears twice as {role}."))
        else:
            seen.add((holder, role))
            total += share_bp
            row.shares.append((holder, role, share_bp))
    if not row.problems and total != BASIS_POINTS_TOTAL:
        row.problems.append(
            ("shares", f"Shares total {total:,} basis points; they must total exactly 10,000.")
        )


def _check(row: ParsedRow, column: str, clean: Callable[[Any], Any], raw: Any) -> Any:
    """One field through the shared work validator; a refusal becomes the row's problem."""
    try:
        return clean(raw)
    except ValueError as error:
        row.problems.append((column, str(error)))
        return None


def _check_description(row: ParsedRow, record: Mapping[str, Any], from_json: bool) -> None:
    values = row.values
    for column in ("title", "kind", "language", "content_sha256"):
        values[column] = _check(row, column, CLEANERS[column], record.get(column)) or ""
    values["size_bytes"] = _check(
        row,
        "size_bytes",
        lambda raw: size_bytes_clean(raw, from_text=not from_json),
        record.get("size_bytes"),
    )


def _check_identifiers(row: ParsedRow, record: Mapping[str, Any]) -> None:
    any_matching = False
    for scheme in IDENTIFIER_COLUMNS:
        clean = functools.partial(identifier_clean, scheme)
        row.values[scheme] = _check(row, scheme, clean, record.get(scheme)) or ""
        if scheme != URL and row.values[scheme]:
            any_matching = True
    if not any_matching and not any(column in IDENTIFIER_COLUMNS for column, _ in row.problems):
        row.problems.append(
            (
                "identifiers",
                "Each row needs an ISBN-13, ISRC, ISWC or DOI: it is how re-imports match.",
            )
        )


def _check_metadata(row: ParsedRow, record: Mapping[str, Any], from_json: bool) -> None:
    """Metadata goes to staging as JSON text."""
    metadata = record.get("metadata")
    row.values["metadata"] = None
    if metadata is None or metadata == "":
        return
    clean = metadata_clean if from_json else metadata_from_text
    checked = _check(row, "metadata", clean, metadata)
    if checked is not None:
        row.values["metadata"] = json.dumps(checked)


def _check_consent(row: ParsedRow, record: Mapping[str, Any], from_json: bool) -> None:
    source = record.get("consent") if from_json else record
    if source is None:
        return
    if not isinstance(source, Mapping):
        row.problems.append(("consent", "consent is an object of use → true/false/null."))
        return
    if from_json:
        for use in sorted(set(source) - set(USES)):
            row.problems.append(("consent", f"Unknown AI use {use!r}."))
    for use in USES:
        if use not in source:
            continue
        if from_json and source[use] is None:
            row.consents.append((use, None))
            continue
        try:
            granted, given = _consent_value(source[use])
        except ValueError as error:
            row.problems.append(("consent" if from_json else use, f"{use}: {error}"))
            continue
        if given:
            row.consents.append((use, granted))


def parse_row(row_number: int, record: Mapping[str, Any], *, from_json: bool) -> ParsedRow:
    """Check one row on its own; the checks that need the whole file come later, in SQL."""
    row = ParsedRow(row_number=row_number)
    _check_description(row, record, from_json)
    _check_identifiers(row, record)
    _check_metadata(row, record, from_json)
    _check_consent(row, record, from_json)
    try:
        shares = record.get("shares")
        lines = _shares_from_json(shares) if from_json else _shares_from_text(_text(shares))
    except ValueError as error:
        row.problems.append(("shares", str(error)))
    else:
        _check_shares(row, lines)
    return row


def _csv_rows(text: IO[str]) -> Iterator[tuple[int, Mapping[str, Any], bool]]:
    reader = csv.reader(text)
    try:
        header = next(reader)
    except StopIteration:
        raise FileRejected(1, "", "The file is empty.") from None
    except csv.Error as error:
        raise FileRejected(1, "", f"Not a readable CSV header: {error}.") from None
    if any("\x00" in cell for cell in header):
        raise FileRejected(
            1,
            "",
            "The file is not UTF-8 text: its first line holds NUL characters (UTF-16 saved "
            "without a byte-order mark?). Save it as UTF-8 and upload it again.",
        )
    columns = [COLUMN_ALIASES.get(c.strip().lower(), c.strip().lower()) for c in header]
    unknown = [c for c in columns if c not in CSV_COLUMNS]
    if unknown:
        raise FileRejected(1, unknown[0], f"Unknown column {unknown[0]!r}.")
    repeated = [c for i, c in enumerate(columns) if c in columns[:i]]
    if repeated:
        raise FileRejected(1, repeated[0], f"Column {repeated[0]!r} appears twice.")
    missing = [c for c in REQUIRED_COLUMNS if c not in columns]
    if missing:
        raise FileRejected(1, missing[0], f"Required column {missing[0]!r} is missing.")
    row_number = 1
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as error:
            row_number += 1
            yield row_number, {"__error__": f"Not readable as CSV: {error}."}, False
            continue
        row_number += 1
        if not any(cell.strip() for cell in cells):
            continue
        if len(cells) != len(columns):
            yield (
                row_number,
                {"__error__": f"Expected {len(columns)} cells, found {len(cells)}."},
                False,
            )
            continue
        yield row_number, dict(zip(columns, cells, strict=True)), False


def _jsonl_rows(text: IO[str]) -> Iterator[tuple[int, Mapping[str, Any], bool]]:
    for row_number, line in enumerate(text, start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except ValueError as error:
            yield row_number, {"__error__": f"Not valid JSON: {error}."}, True
            continue
        if not isinstance(record, dict):
            yield row_number, {"__error__": "Each line is one JSON object."}, True
            continue
        record = {COLUMN_ALIASES.get(k, k): v for k, v in record.items()}
        unknown = sorted(set(record) - JSON_FIELDS)
        if unknown:
            yield row_number, {"__error__": f"Unknown field {unknown[0]!r}."}, True
            continue
        yield row_number, record, True


# --- Running an import ---------------------------------------------------------------------------


class _Progress:
    """Writes progress through a connection of its own, visible while the merge is open."""

    def __init__(self, import_id: int) -> None:
        self.import_id = import_id
        self.percent = -1
        self._connection = connections.create_connection("default")

    def set(self, percent: int, **counts: int) -> None:
        percent = max(0, min(100, percent))
        if percent == self.percent and not counts:
            return
        self.percent = percent
        assignments = ", ".join(f"{name} = %s" for name in ["progress_percent", *counts])
        with self._connection.cursor() as cursor:
            cursor.execute(
                f"UPDATE catalog_workimport SET {assignments} WHERE id = %s",  # noqa: S608
                [percent, *counts.values(), self.import_id],
            )

    def close(self) -> None:
        self._connection.close()


def _create_staging(cursor: Any) -> None:
    _drop_staging(cursor)
    cursor.execute(
        """
        CREATE TEMP TABLE import_stage_rows (
            row_number integer PRIMARY KEY,
            work_id bigint NOT NULL,
            matched_id bigint,
            title text NOT NULL, kind text NOT NULL, language text NOT NULL,
            isbn13 text NOT NULL, isrc text NOT NULL, iswc text NOT NULL, doi text NOT NULL,
            url text NOT NULL, content_sha256 text NOT NULL, size_bytes bigint, metadata jsonb
        );
        CREATE TEMP TABLE import_stage_shares (
            row_number integer NOT NULL, work_id bigint NOT NULL, holder_slug text NOT NULL,
            role text NOT NULL, share_bp integer NOT NULL, holder_id bigint,
            is_new boolean NOT NULL DEFAULT true
        );
        CREATE TEMP TABLE import_stage_consents (
            row_number integer NOT NULL, work_id bigint NOT NULL, use text NOT NULL,
            granted boolean, is_new boolean NOT NULL DEFAULT true
        );
        CREATE TEMP TABLE import_stage_problems (
            row_number integer NOT NULL, column_name text NOT NULL, reason text NOT NULL
        );
        """
    )


def _drop_staging(cursor: Any) -> None:
    cursor.execute(
        "DROP TABLE IF EXISTS import_stage_rows, import_stage_shares, import_stage_consents,"
        " import_stage_problems, import_stage_changed"
    )


class _Stager:
    """Buffers checked rows and COPYs them into staging a batch at a time (bounded memory).

    Each good row gets a work id from the sequence up front (a block per batch), so shares
    and consents are staged already keyed by work; a row that turns out to update an existing
    work is re-keyed later, and its reserved id is simply never used."""

    def __init__(self, cursor: Any) -> None:
        self.cursor = cursor
        self.parsed: list[ParsedRow] = []
        self.problems: list[tuple[Any, ...]] = []
        self.problems_total = 0

    def add(self, row: ParsedRow) -> None:
        if row.problems:
            for column, reason in row.problems:
                self.problem(row.row_number, column, reason)
            return
        self.parsed.append(row)
        if len(self.parsed) >= BATCH_ROWS:
            self.flush()

    def problem(self, row_number: int, column: str, reason: str) -> None:
        self.problems_total += 1
        if self.problems_total <= MAX_PROBLEMS_KEPT:
            self.problems.append(
                (row_number, safe_message(column, limit=COLUMN_MAX), safe_message(reason))
            )

    def flush(self) -> None:
        if self.parsed:
            self.cursor.execute(
                "SELECT nextval(pg_get_serial_sequence('catalog_work', 'id'))"
                " FROM generate_series(1, %s)",
                [len(self.parsed)],
            )
            ids = [work_id for (work_id,) in self.cursor.fetchall()]
            with self.cursor.copy(
                "COPY import_stage_rows (row_number, work_id, title, kind, language, isbn13,"
                " isrc, iswc, doi, url, content_sha256, size_bytes, metadata) FROM STDIN"
            ) as copy:
                for work_id, row in zip(ids, self.parsed, strict=True):
                    v = row.values
                    copy.write_row((row.row_number, work_id, *(v[c] for c in STAGED_VALUE_COLUMNS)))
            with self.cursor.copy(
                "COPY import_stage_shares (row_number, work_id, holder_slug, role, share_bp)"
                " FROM STDIN"
            ) as copy:
                for work_id, row in zip(ids, self.parsed, strict=True):
                    for share in row.shares:
                        copy.write_row((row.row_number, work_id, *share))
            with self.cursor.copy(
                "COPY import_stage_consents (row_number, work_id, use, granted) FROM STDIN"
            ) as copy:
                for work_id, row in zip(ids, self.parsed, strict=True):
                    for consent in row.consents:
                        copy.write_row((row.row_number, work_id, *consent))
        if self.problems:
            with self.cursor.copy(
                "COPY import_stage_problems (row_number, column_name, reason) FROM STDIN"
            ) as copy:
                for problem in self.problems:
                    copy.write_row(problem)
        self.parsed, self.problems = [], []


def _stage_file(work_import: WorkImport, cursor: Any, progress: _Progress) -> int:
    """Stream the file into staging; returns the number of data rows read."""
    stager = _Stager(cursor)
    rows_read = 0
    with work_import.file.storage.open(str(work_import.file.name), "rb") as stored:
        raw = stored.file if isinstance(stored.file, io.IOBase) else stored
        size = max(1, stored.size or 1)
        text = io.TextIOWrapper(raw, encoding="utf-8-sig", newline="")
        reader = _csv_rows if work_import.format == WorkImport.Format.CSV else _jsonl_rows
        try:
            for row_number, record, from_json in reader(text):
                rows_read += 1
                if "__error__" in record:
                    stager.problem(row_number, "", record["__error__"])
                else:
                    stager.add(parse_row(row_number, record, from_json=from_json))
                if rows_read % PROGRESS_EVERY_ROWS == 0:
                    progress.set(STAGED_PCT * raw.tell() // size, rows_total=rows_read)
        except UnicodeDecodeError:
            raise FileRejected(rows_read + 1, "", "The file is not UTF-8 text.") from None
        finally:
            text.detach()
    stager.flush()
    if rows_read == 0:
        raise FileRejected(1, "", "The file has no rows.")
    # Temporary tables get no statistics by themselves; the matching joins want them.
    cursor.execute("ANALYZE import_stage_rows")
    return rows_read


def _check_set_based(cursor: Any, catalogue: Catalogue) -> int:
    """The checks that need the whole file or the database, each one INSERT … SELECT.
    Returns how many rows re-import an existing work."""
    cursor.execute(
        """
        UPDATE import_stage_shares s SET holder_id = o.id
        FROM accounts_organisation o WHERE o.slug = s.holder_slug AND o.kind = 'creator'
        """
    )
    cursor.execute(
        """
        INSERT INTO import_stage_problems (row_number, column_name, reason)
        SELECT row_number, 'shares',
               'No rights-holder organisation with the slug "' || holder_slug || '".'
        FROM import_stage_shares WHERE holder_id IS NULL
        """
    )
    for scheme in MATCHING_SCHEMES:
        cursor.execute(
            f"""
            INSERT INTO import_stage_problems (row_number, column_name, reason)
            SELECT row_number, %s, %s || ' ' || {scheme} || ' already appears in row '
                   || first_row || '.'
            FROM (SELECT row_number, {scheme},
                         min(row_number) OVER (PARTITION BY {scheme}) AS first_row
                  FROM import_stage_rows WHERE {scheme} <> '') repeated
            WHERE row_number <> first_row
            """,  # noqa: S608
            [scheme, SCHEME_LABELS[scheme]],
        )
    # Match existing works, one identifier at a time (each uses its unique index) ...
    for scheme in MATCHING_SCHEMES:
        cursor.execute(
            f"""
            UPDATE import_stage_rows r SET matched_id = w.id FROM catalog_work w
            WHERE r.matched_id IS NULL AND r.{scheme} <> '' AND w.catalogue_id = %s
              AND w.{scheme} = r.{scheme}
            """,  # noqa: S608
            [catalogue.pk],
        )
    cursor.execute(
        """
        INSERT INTO import_stage_problems (row_number, column_name, reason)
        SELECT row_number, 'identifiers',
               'Names the same existing work as row ' || first_row || '.'
        FROM (SELECT row_number, min(row_number) OVER (PARTITION BY matched_id) AS first_row
              FROM import_stage_rows WHERE matched_id IS NOT NULL) repeated
        WHERE row_number <> first_row
        """
    )
    # ... then no identifier of a row may belong to a different work.
    for scheme in MATCHING_SCHEMES:
        cursor.execute(
            f"""
            INSERT INTO import_stage_problems (row_number, column_name, reason)
            SELECT r.row_number, %s, %s || ' ' || r.{scheme} || ' belongs to the work "'
                   || w.title || '", not the one the row''s other identifiers name.'
            FROM import_stage_rows r JOIN catalog_work w
              ON w.catalogue_id = %s AND r.{scheme} <> '' AND w.{scheme} = r.{scheme}
            WHERE w.id IS DISTINCT FROM r.matched_id
            """,  # noqa: S608
            [scheme, SCHEME_LABELS[scheme], catalogue.pk],
        )
    cursor.execute("SELECT count(*) FROM import_stage_rows WHERE matched_id IS NOT NULL")
    return int(cursor.fetchone()[0])


def _problem_count(cursor: Any) -> tuple[int, int]:
    cursor.execute("SELECT count(*), count(DISTINCT row_number) FROM import_stage_problems")
    problems, rows = cursor.fetchone()
    return problems, rows


def _keep_problems(cursor: Any, work_import: WorkImport) -> None:
    cursor.execute(
        f"""
        INSERT INTO catalog_workimportproblem (work_import_id, row_number, "column", reason)
        SELECT %s, row_number, column_name, reason FROM import_stage_problems
        ORDER BY row_number, column_name
        LIMIT {MAX_PROBLEMS_KEPT}
        """,  # noqa: S608
        [work_import.pk],
    )


def _drop_bad_rows(cursor: Any) -> None:
    for table in ("import_stage_rows", "import_stage_shares", "import_stage_consents"):
        cursor.execute(
            f"DELETE FROM {table} WHERE row_number IN "  # noqa: S608
            "(SELECT row_number FROM import_stage_problems)"
        )


def _rekey_matched_rows(cursor: Any) -> None:
    """Rows that re-import an existing work take its id in place of the one reserved."""
    for table in ("import_stage_shares", "import_stage_consents"):
        cursor.execute(
            f"""
            UPDATE {table} t SET work_id = r.matched_id, is_new = false
            FROM import_stage_rows r
            WHERE r.matched_id IS NOT NULL AND t.row_number = r.row_number
            """  # noqa: S608
        )
    cursor.execute("UPDATE import_stage_rows SET work_id = matched_id WHERE matched_id IS NOT NULL")


def _merge_works(cursor: Any, catalogue: Catalogue, matched: int) -> tuple[int, int]:
    cursor.execute(
        """
        INSERT INTO catalog_work (id, catalogue_id, title, kind, language, isbn13, isrc, iswc,
            doi, url, content_sha256, content_file, size_bytes, metadata, created_at, updated_at)
        SELECT work_id, %s, title, kind, language, isbn13, isrc, iswc, doi, url,
               content_sha256, '', size_bytes, coalesce(metadata, '{}'::jsonb), now(), now()
        FROM import_stage_rows WHERE matched_id IS NULL ORDER BY work_id
        """,
        [catalogue.pk],
    )
    created = cursor.rowcount
    if not matched:
        return created, 0
    # Re-imported works: blank optional cells keep what the work has (an import never erases).
    cursor.execute(
        """
        UPDATE catalog_work w SET
            title = r.title, kind = r.kind,
            language = coalesce(nullif(r.language, ''), w.language),
            isbn13 = coalesce(nullif(r.isbn13, ''), w.isbn13),
            isrc = coalesce(nullif(r.isrc, ''), w.isrc),
            iswc = coalesce(nullif(r.iswc, ''), w.iswc),
            doi = coalesce(nullif(r.doi, ''), w.doi),
            url = coalesce(nullif(r.url, ''), w.url),
            content_sha256 = coalesce(nullif(r.content_sha256, ''), w.content_sha256),
            size_bytes = coalesce(r.size_bytes, w.size_bytes),
            metadata = coalesce(r.metadata, w.metadata),
            updated_at = now()
        FROM import_stage_rows r
        WHERE w.id = r.matched_id
        """
    )
    return created, cursor.rowcount


_INSERT_SHARES = """
    INSERT INTO catalog_rightsshare (work_id, holder_id, role, share_bp, confirmed_at,
                                     confirmed_by_id)
    SELECT work_id, holder_id, role, share_bp,
           CASE WHEN holder_id = %(owner)s THEN now() END,
           CASE WHEN holder_id = %(owner)s THEN %(user)s::bigint END
    FROM import_stage_shares
"""

_UPSERT_CHANGED_SHEETS = (
    _INSERT_SHARES  # noqa: S608 (constant SQL only)
    + """
    WHERE NOT is_new AND work_id IN (SELECT work_id FROM import_stage_changed)
    ORDER BY work_id
    ON CONFLICT (work_id, holder_id, role) DO UPDATE SET share_bp = EXCLUDED.share_bp
        WHERE catalog_rightsshare.share_bp IS DISTINCT FROM EXCLUDED.share_bp
    """
)


def _merge_shares(cursor: Any, catalogue: Catalogue, actor: Principal, matched: int) -> None:
    """New works get their sheet; a re-imported work's sheet is rewritten only if it changed,
    and then every co-holder but the owner is asked to confirm again."""
    params = {"owner": catalogue.owner_id, "user": actor.user.pk if actor.user else None}
    # A new work's lines cannot conflict with anything: a plain INSERT is enough.
    cursor.execute(_INSERT_SHARES + " WHERE is_new ORDER BY work_id", params)
    if not matched:
        return
    cursor.execute(
        """
        CREATE TEMP TABLE import_stage_changed AS
        SELECT DISTINCT work_id FROM (
            (SELECT work_id, holder_id, role, share_bp FROM import_stage_shares
             WHERE NOT is_new
             EXCEPT
             SELECT e.work_id, e.holder_id, e.role, e.share_bp FROM catalog_rightsshare e
             JOIN import_stage_rows r ON r.matched_id = e.work_id)
            UNION ALL
            (SELECT e.work_id, e.holder_id, e.role, e.share_bp FROM catalog_rightsshare e
             JOIN import_stage_rows r ON r.matched_id = e.work_id
             EXCEPT
             SELECT work_id, holder_id, role, share_bp FROM import_stage_shares
             WHERE NOT is_new)
        ) differences;
        DELETE FROM catalog_rightsshare e USING import_stage_changed c
        WHERE e.work_id = c.work_id AND NOT EXISTS (
            SELECT 1 FROM import_stage_shares s
            WHERE s.work_id = e.work_id AND s.holder_id = e.holder_id AND s.role = e.role);
        """
    )
    cursor.execute(_UPSERT_CHANGED_SHEETS, params)
    cursor.execute(
        """
        UPDATE catalog_rightsshare e SET
            confirmed_at = CASE WHEN e.holder_id = %(owner)s
                                THEN coalesce(e.confirmed_at, now()) END,
            confirmed_by_id = CASE WHEN e.holder_id = %(owner)s
                                   THEN coalesce(e.confirmed_by_id, %(user)s::bigint) END
        FROM import_stage_changed c
        WHERE e.work_id = c.work_id
          AND (e.holder_id = %(owner)s) IS DISTINCT FROM (e.confirmed_at IS NOT NULL)
        """,
        params,
    )


_INSERT_CONSENTS = """
    INSERT INTO catalog_consent (work_id, catalogue_id, use, granted, updated_at, updated_by_id)
    SELECT work_id, NULL, use, granted, now(), %(user)s::bigint FROM import_stage_consents
    WHERE granted IS NOT NULL
"""


def _merge_consents(cursor: Any, actor: Principal, matched: int) -> None:
    params = {"user": actor.user.pk if actor.user is not None else None}
    cursor.execute(_INSERT_CONSENTS + " AND is_new ORDER BY work_id", params)
    if not matched:
        return
    cursor.execute(
        _INSERT_CONSENTS
        + """
        AND NOT is_new ORDER BY work_id
        ON CONFLICT (work_id, use) WHERE work_id IS NOT NULL DO UPDATE
            SET granted = EXCLUDED.granted, updated_at = EXCLUDED.updated_at,
                updated_by_id = EXCLUDED.updated_by_id
            WHERE catalog_consent.granted IS DISTINCT FROM EXCLUDED.granted
        """,
        params,
    )
    cursor.execute(
        """
        DELETE FROM catalog_consent k USING import_stage_consents c
        WHERE c.granted IS NULL AND NOT c.is_new AND k.work_id = c.work_id AND k.use = c.use
        """
    )


def _merge(
    cursor: Any, catalogue: Catalogue, actor: Principal, progress: _Progress, matched: int
) -> tuple[int, int]:
    """Write the staged rows into works, shares and consents. Returns (created, updated)."""
    if matched:
        _rekey_matched_rows(cursor)
    created, updated = _merge_works(cursor, catalogue, matched)
    progress.set(80)
    _merge_shares(cursor, catalogue, actor, matched)
    progress.set(90)
    _merge_consents(cursor, actor, matched)
    progress.set(95)
    return created, updated


def _actor_for(work_import: WorkImport) -> Principal:
    api_key = (
        ApiKey.objects.filter(pk=work_import.created_by_api_key_id).first()
        if work_import.created_by_api_key_id
        else None
    )
    if api_key is not None:
        return principal_for_user(None, api_key=api_key)
    if work_import.created_by is not None:
        return principal_for_user(work_import.created_by)
    return principal_for_organisations(work_import.catalogue.owner_id)


def _transition(import_id: int, change: Callable[[WorkImport], None], **fields: Any) -> WorkImport:
    with transaction.atomic():
        work_import = WorkImport.objects.select_for_update().get(pk=import_id)
        change(work_import)
        for name, value in fields.items():
            setattr(work_import, name, value)
        work_import.save()
    return work_import


def _finish_rejected(work_import: WorkImport, cursor: Any, rows_total: int) -> WorkImport:
    problems, bad_rows = _problem_count(cursor)
    with transaction.atomic():
        _keep_problems(cursor, work_import)
        rejected = _transition(
            work_import.pk,
            WorkImport.reject,
            rows_total=rows_total,
            rows_invalid=bad_rows,
            progress_percent=100,
            finished_at=clock.now(),
            failure_reason=f"{problems} problem(s) in {bad_rows} row(s); nothing was imported.",
        )
    _discard_file(rejected)
    return rejected


def _reject_file(work_import: WorkImport, rejected: FileRejected) -> WorkImport:
    """``rejected`` carries sanitised text (``FileRejected``), so this cannot fail on it."""
    with transaction.atomic():
        WorkImportProblem.objects.create(
            work_import=work_import,
            row_number=rejected.row_number,
            column=rejected.column,
            reason=rejected.reason,
        )
        rejected_import = _transition(
            work_import.pk,
            WorkImport.reject,
            rows_invalid=1,
            progress_percent=100,
            finished_at=clock.now(),
            failure_reason=rejected.reason,
        )
    _discard_file(rejected_import)
    return rejected_import


def _discard_file(work_import: WorkImport) -> None:
    """A rejected or failed import's file is deleted: its problems say what to fix, and a
    retry is a new upload. Nothing of the file is kept on disk."""
    name = str(work_import.file.name or "")
    if name:
        work_import.file.storage.delete(name)
        log.info("work_import.file_deleted", import_id=work_import.pk)


def work_import_run(*, import_id: int) -> WorkImport:
    """Run one import to its end. Safe to run again: a finished import is left alone, and an
    interrupted one starts over (its merge is one transaction, so nothing half-written)."""
    work_import = WorkImport.objects.select_related("catalogue").get(pk=import_id)
    if work_import.is_finished:
        return work_import
    work_import.problems.all().delete()
    work_import = _transition(
        import_id, WorkImport.start, started_at=clock.now(), progress_percent=0
    )
    catalogue = work_import.catalogue
    actor = _actor_for(work_import)
    progress = _Progress(import_id)
    try:
        with connection.cursor() as cursor:
            _create_staging(cursor)
            try:
                return _run_staged(work_import, catalogue, actor, cursor, progress)
            finally:
                _drop_staging(cursor)
    except FileRejected as rejected:
        return _reject_file(work_import, rejected)
    except Exception as error:
        log.exception("work_import.failed", import_id=import_id)
        _fail(import_id, f"The import stopped: {error}")
        raise
    finally:
        progress.close()


def _fail(import_id: int, reason: str) -> bool:
    """Mark an unfinished import failed with ``reason`` (sanitised); False if it had finished
    meanwhile (the watchdog and a late worker may both try)."""
    with transaction.atomic():
        work_import = WorkImport.objects.select_for_update().get(pk=import_id)
        if work_import.is_finished:
            return False
        work_import.fail()
        work_import.finished_at = clock.now()
        work_import.failure_reason = safe_message(reason)
        work_import.save()
    _discard_file(work_import)
    return True


UNFINISHED = (WorkImport.Status.PENDING, WorkImport.Status.VALIDATING, WorkImport.Status.IMPORTING)


def work_imports_fail_stuck(*, now: dt.datetime | None = None) -> list[int]:
    """The watchdog: fail every import still unfinished ``IMPORT_WATCHDOG_TIMEOUT_SECONDS``
    after it was last started (or queued, if it never started), with the reason. Returns the
    ids failed. Rows an import is transitioning right now are skipped (locked), and a worker
    that finishes one afterwards finds it failed: its merge rolls back, nothing half-written.

    Usage reports need no watchdog: each version is written in one transaction, and PostgreSQL
    refuses to commit one still ``receiving`` (``usage.models``), so none is ever
    left in a non-terminal state."""
    now = now or clock.now()
    timeout = dt.timedelta(seconds=settings.IMPORT_WATCHDOG_TIMEOUT_SECONDS)
    cutoff = now - timeout
    stuck = WorkImport.objects.filter(status__in=UNFINISHED).filter(
        Q(started_at__lt=cutoff) | Q(started_at__isnull=True, created_at__lt=cutoff)
    )
    failed = []
    for import_id, status, since in stuck.values_list("pk", "status", "started_at").iterator():
        with transaction.atomic():
            locked = (
                WorkImport.objects.select_for_update(skip_locked=True)
                .filter(pk=import_id, status__in=UNFINISHED)
                .first()
            )
            if locked is None:
                continue
            stage = "started" if since is not None else "queued"
            reason = (
                f"Stopped by the watchdog: no progress {timeout} after it was {stage} (it was "
                f"still {WorkImport.Status(status).label.lower()}). Nothing was imported; "
                "upload the file again to retry."
            )
            locked.fail()
            locked.finished_at = now
            locked.failure_reason = safe_message(reason)
            locked.save()
        log.warning("work_import.stuck_failed", import_id=import_id, status=status)
        failed.append(import_id)
    return failed


def _run_staged(
    work_import: WorkImport,
    catalogue: Catalogue,
    actor: Principal,
    cursor: Any,
    progress: _Progress,
) -> WorkImport:
    rows_total = _stage_file(work_import, cursor, progress)
    progress.set(STAGED_PCT, rows_total=rows_total)
    matched = _check_set_based(cursor, catalogue)
    problems, bad_rows = _problem_count(cursor)
    if problems and not work_import.import_valid_rows:
        return _finish_rejected(work_import, cursor, rows_total)
    if problems:
        _drop_bad_rows(cursor)
    progress.set(CHECKED_PCT)
    work_import = _transition(work_import.pk, WorkImport.begin_writing)
    with transaction.atomic(), history_context(actor, via="import"):
        Catalogue.objects.select_for_update().filter(pk=catalogue.pk).first()
        created, updated = _merge(cursor, catalogue, actor, progress, matched)
        if problems:
            _keep_problems(cursor, work_import)
        return _transition(
            work_import.pk,
            WorkImport.succeed,
            rows_total=rows_total,
            rows_invalid=bad_rows,
            works_created=created,
            works_updated=updated,
            progress_percent=100,
            finished_at=clock.now(),
        )
