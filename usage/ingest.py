"""Streaming ingestion of a usage report's lines: decompress, parse, check, COPY.

The content is read in 1 MiB chunks (gunzipped on the fly when it starts with gzip's magic
bytes), hashed, cut into blocks of whole lines, and never held whole: memory stays bounded by
the chunk size, the longest line allowed and the agreement's own size (its works and their
identifiers, which every line is checked against in memory).

JSON Lines take the fast path: ``msgspec`` decodes a whole block into typed records in C
(field types, quantity ``0 <= q < 2**63`` and unknown fields are checked there); a line whose
work is one of the agreement's, whose metric the agreement prices and whose currency, use and
date need no further thought becomes a row of COPY's text format at once. Each block's rows go
to PostgreSQL in one write of the report's single COPY into ``royalties_usageline`` (never a
per-row save), sent by psycopg's writer thread while this one parses the next block. A block
msgspec refuses, or a line that needs a closer look, goes through ``_LineChecker``, which finds
the reason. CSV (the web upload) is read with ``csv.reader`` and checked by the same
``_LineChecker``.

On this 2-core machine that is about 110,000 to 210,000 lines a second, a fifth to a quarter
of a raw COPY of the same rows (``manage.py bench_ingest``); most of what is left is
CPython's per-line work.

A line naming a work that is not the agreement's is classified afterwards, set-based: one
query per 10,000 such lines tells "unknown work" from "work not in the agreement".

Every bad line is reported with its line number (1-based, counting every physical line of the
file, blank ones and a CSV header included) and one reason: the first of the checks below that
fails, in this order: JSON, fields, work, metric, use, quantity, currency, date. Errors are
spooled to a temporary file, so a file of a million bad lines costs disk, not memory.
"""

from __future__ import annotations

import csv
import hashlib
import heapq
import io
import json
import re
import tempfile
import zlib
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from itertools import islice
from typing import IO, Annotated, Any

import msgspec
from django.db import connection
from psycopg.copy import QueuedLibpqWriter

from catalog.identifiers import MATCHING_SCHEMES, SCHEME_LABELS, normalise_identifier
from catalog.identifiers import canonical_scheme as catalog_canonical_scheme
from catalog.models import AiUse, UsageMetric
from core.errors import safe_message

READ_CHUNK_BYTES = 1 << 20
"""Bytes read (and at most decompressed) at a time."""

MAX_LINE_BYTES = 64 * 1024
"""A longer line refuses the report: no real usage line comes near it, and it bounds memory."""

KEPT_ERRORS = 1_000
"""Bad lines kept in memory (and stored on a partially accepted report); all are spooled."""

QUANTITY_MAX = 2**63 - 1
"""PostgreSQL's bigint."""

FIELD_NAME_MAX = 100
"""Characters of a bad line's field name kept (an unknown field is named as it was sent)."""

REVENUE = UsageMetric.REVENUE.value
_METRICS = frozenset(UsageMetric.values)
_USES = frozenset(AiUse.values)
ALL_FIELDS = (
    "work_id",
    "identifier_scheme",
    "identifier",
    "metric",
    "quantity",
    "currency",
    "use",
    "date",
)
WORK_ID = "work_id"
_GZIP_MAGIC = b"\x1f\x8b"
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_INTEGER = re.compile(r"^[+-]?\d+$")
_NUMBER = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")
_IDENTIFIER_MEMO_LIMIT = 100_000
_CSV_ROWS_PER_WRITE = 10_000
_CLASSIFY_BATCH = 10_000
_COPY_LINES = (
    "COPY royalties_usageline (report_id, line_no, work_id, metric, quantity, use) FROM STDIN"
)


class ContentFormat(StrEnum):
    JSON_LINES = "jsonl"
    CSV = "csv"


@dataclass(frozen=True)
class ReportScope:
    """What every line of one report is checked against: its agreement and month."""

    agreement_id: int
    currency: str
    period_start: date
    period_end: date  # exclusive
    term_start: date
    term_end: date  # inclusive
    work_ids: frozenset[int]
    identifiers: Mapping[tuple[str, str], int | None]  # (scheme, normal form) → work; None: shared
    priced_metrics: frozenset[str]
    permitted_uses: frozenset[str]


class ContentRefused(Exception):
    """The content cannot be read as a report at all (not a bad line: a bad file)."""

    def __init__(self, reason: str, *, code: str, line: int | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.code = code
        self.line = line


# --- the error log ---------------------------------------------------------------------------


def line_error(line: int | None, field: str | None, code: str, reason: str) -> dict[str, Any]:
    """One bad line (or, ``line`` None, the whole report), as answered and as stored on a
    partially accepted report: every error is made here, and its text is sanitised here
    (``safe_message``: a field name or reason may quote the file, NUL included, which
    PostgreSQL's jsonb cannot hold)."""
    if field is not None:
        field = safe_message(field, limit=FIELD_NAME_MAX)
    return {"line": line, "field": field, "code": code, "reason": safe_message(reason)}


class ErrorLog:
    """Every bad line in line order, as JSON objects in a temporary file (in memory until it
    grows past a few MiB); the first ``KEPT_ERRORS`` are also kept as dicts in ``first``."""

    def __init__(self) -> None:
        self.count = 0
        self.first: list[dict[str, Any]] = []
        self._file = tempfile.SpooledTemporaryFile(max_size=8 << 20)  # noqa: SIM115

    @classmethod
    def of(cls, errors: Iterable[dict[str, Any]]) -> ErrorLog:
        log = cls()
        for error in errors:
            log.add(error)
        return log

    def add(self, error: dict[str, Any]) -> None:
        self.add_encoded(error, msgspec.json.encode(error))

    def add_encoded(self, error: dict[str, Any] | None, encoded: bytes) -> None:
        self.count += 1
        if len(self.first) < KEPT_ERRORS:
            self.first.append(error if error is not None else msgspec.json.decode(encoded))
        self._file.write(encoded + b"\n")

    def iter_encoded(self) -> Iterator[bytes]:
        """Each error as one encoded JSON object, in line order."""
        self._file.seek(0)
        for line in self._file:
            yield line.rstrip(b"\n")

    def close(self) -> None:
        self._file.close()


class _ErrorCollector:
    """Errors found while streaming (already in line order), plus the lines whose work is not
    one of the agreement's: those are classified in SQL once the stream has ended."""

    def __init__(self) -> None:
        self.count = 0
        self._errors = tempfile.SpooledTemporaryFile(max_size=8 << 20)  # noqa: SIM115
        self._unresolved = tempfile.SpooledTemporaryFile(max_size=4 << 20)  # noqa: SIM115
        self._unresolved_count = 0

    def add(self, line: int, field: str | None, code: str, reason: str) -> None:
        self.count += 1
        encoded = msgspec.json.encode(line_error(line, field, code, reason))
        self._errors.write(b"%d\t%s\n" % (line, encoded))

    def add_unresolved(self, line: int, scheme: str, value: str) -> None:
        """A work reference (``work_id`` or an identifier in normal form) not in the agreement."""
        self.count += 1
        self._unresolved_count += 1
        self._unresolved.write(msgspec.json.encode([line, scheme, value]) + b"\n")

    def finish(self) -> ErrorLog:
        log = ErrorLog()
        for _line, encoded in heapq.merge(self._spooled(), self._classified()):
            log.add_encoded(None, encoded)
        self._errors.close()
        self._unresolved.close()
        return log

    def _spooled(self) -> Iterator[tuple[int, bytes]]:
        self._errors.seek(0)
        for row in self._errors:
            line, encoded = row.rstrip(b"\n").split(b"\t", 1)
            yield int(line), encoded

    def _classified(self) -> Iterator[tuple[int, bytes]]:
        if not self._unresolved_count:
            return
        self._unresolved.seek(0)
        rows = (msgspec.json.decode(row) for row in self._unresolved)
        while batch := list(islice(rows, _CLASSIFY_BATCH)):
            known = _catalogue_knows(batch)
            for (line, scheme, value), exists in zip(batch, known, strict=True):
                yield line, msgspec.json.encode(_unresolved_error(line, scheme, value, exists))


def _catalogue_knows(batch: list[list[Any]]) -> list[bool]:
    """For each (line, scheme, value): does any catalogue have that work? One query."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT CASE r.scheme
                WHEN 'work_id' THEN EXISTS (
                    SELECT 1 FROM catalog_work w WHERE w.id = r.value::bigint)
                WHEN 'isbn13' THEN EXISTS (SELECT 1 FROM catalog_work w WHERE w.isbn13 = r.value)
                WHEN 'isrc' THEN EXISTS (SELECT 1 FROM catalog_work w WHERE w.isrc = r.value)
                WHEN 'iswc' THEN EXISTS (SELECT 1 FROM catalog_work w WHERE w.iswc = r.value)
                WHEN 'doi' THEN EXISTS (SELECT 1 FROM catalog_work w WHERE w.doi = r.value)
            END
            FROM unnest(%s::text[], %s::text[]) WITH ORDINALITY AS r(scheme, value, position)
            ORDER BY r.position
            """,
            [[scheme for _, scheme, _ in batch], [value for _, _, value in batch]],
        )
        return [bool(found) for (found,) in cursor.fetchall()]


def _unresolved_error(line: int, scheme: str, value: str, exists: bool) -> dict[str, Any]:
    if scheme == WORK_ID:
        field, reference = WORK_ID, f"work_id {value}"
    else:
        field, reference = "identifier", f"{SCHEME_LABELS[scheme]} {value}"
    if exists:
        return line_error(
            line,
            field,
            "work_not_in_agreement",
            f"the work with {reference} is not licensed by this agreement",
        )
    return line_error(line, field, "unknown_work", f"no work has {reference}")


# --- reading the content ---------------------------------------------------------------------


class _Hashed:
    """Decompressed chunks of the content, hashed on the way through."""

    def __init__(self, content: IO[bytes]) -> None:
        self.digest = hashlib.sha256()
        self._content = content

    def __iter__(self) -> Iterator[bytes]:
        for chunk in _decompressed(self._content):
            self.digest.update(chunk)
            yield chunk


def _raw_chunks(content: IO[bytes]) -> Iterator[bytes]:
    while chunk := content.read(READ_CHUNK_BYTES):
        yield chunk


def _decompressed(content: IO[bytes]) -> Iterator[bytes]:
    chunks = _raw_chunks(content)
    head = b""
    for chunk in chunks:  # a short first read must not hide the magic bytes
        head += chunk
        if len(head) >= len(_GZIP_MAGIC):
            break
    if head.startswith(_GZIP_MAGIC):
        yield from _gunzip(head, chunks)
        return
    if head:
        yield head
    yield from chunks


def _gunzip(head: bytes, chunks: Iterator[bytes]) -> Iterator[bytes]:
    """Gunzip (concatenated members too), never producing more than a chunk at a time."""
    inflater = zlib.decompressobj(wbits=31)
    in_member = False
    try:
        for chunk in _prepend(head, chunks):
            data = chunk
            while data:
                in_member = True
                out = inflater.decompress(data, READ_CHUNK_BYTES)
                if out:
                    yield out
                if inflater.eof:
                    data, in_member = inflater.unused_data, False
                    inflater = zlib.decompressobj(wbits=31)
                else:
                    data = inflater.unconsumed_tail
        while in_member and not inflater.eof:
            out = inflater.decompress(b"", READ_CHUNK_BYTES)
            if not out:
                break
            yield out
    except zlib.error as error:
        raise ContentRefused(f"the gzip data is corrupt ({error})", code="invalid_gzip") from None
    if in_member and not inflater.eof:
        raise ContentRefused("the gzip data ends before its end marker", code="invalid_gzip")


def _prepend(first: bytes, rest: Iterator[bytes]) -> Iterator[bytes]:
    yield first
    yield from rest


def _line_blocks(chunks: Iterable[bytes]) -> Iterator[tuple[bytes, int]]:
    """Blocks of whole lines, each with its number of lines (every block ends with a newline,
    except perhaps the file's last)."""
    pending = b""
    lines_before = 0
    for chunk in chunks:
        data = pending + chunk if pending else chunk
        cut = data.rfind(b"\n") + 1
        if cut:
            block = data[:cut]
            count = block.count(b"\n")
            yield block, count
            lines_before += count
            pending = data[cut:]
        else:
            pending = data
        if len(pending) > MAX_LINE_BYTES:
            raise ContentRefused(
                f"line {lines_before + 1} is longer than {MAX_LINE_BYTES:,} bytes",
                code="line_too_long",
                line=lines_before + 1,
            )
    if pending:
        yield pending, 1


class _ChunkReader(io.RawIOBase):
    """A binary file over an iterator of chunks, for io.TextIOWrapper (the CSV reader)."""

    def __init__(self, chunks: Iterable[bytes]) -> None:
        self._chunks = iter(chunks)
        self._buffer = b""

    def readable(self) -> bool:
        return True

    def readinto(self, target: Any) -> int:
        while not self._buffer:
            self._buffer = next(self._chunks, b"")
            if not self._buffer:
                return 0
        size = min(len(target), len(self._buffer))
        target[:size] = self._buffer[:size]
        self._buffer = self._buffer[size:]
        return size


# --- checking one line -----------------------------------------------------------------------


class _BadLine(Exception):
    """What is wrong with a line: the first failed check raises it."""

    def __init__(self, field: str | None, code: str, reason: str) -> None:
        super().__init__(reason)
        self.field, self.code, self.reason = field, code, reason


class _NotTheAgreements(Exception):
    """The line names a work (by id or identifier in normal form) the agreement lacks."""

    def __init__(self, scheme: str, value: str) -> None:
        super().__init__(value)
        self.scheme, self.value = scheme, value


class _LineChecker:
    """Finds the first thing wrong with a line, or returns the row to store."""

    def __init__(self, scope: ReportScope, errors: _ErrorCollector) -> None:
        self.scope = scope
        self.errors = errors
        # (scheme, value) exactly as written → work id: the agreement's identifiers in their
        # normal form to begin with, then every other spelling met that resolved.
        self.resolved_identifiers: dict[tuple[Any, Any], int] = {
            key: work_id for key, work_id in scope.identifiers.items() if work_id is not None
        }
        self._period_label = f"{scope.period_start:%Y-%m}"

    def check(self, line: int, fields: Any) -> tuple[int, str, int, str] | None:
        """``fields``: the decoded JSON value of a line (a dict when all is well). Records
        what is wrong and returns None, or returns (work, metric, quantity, use)."""
        try:
            return self._checked(fields)
        except _BadLine as bad:
            self.errors.add(line, bad.field, bad.code, bad.reason)
        except _NotTheAgreements as missing:
            self.errors.add_unresolved(line, missing.scheme, missing.value)
        return None

    def _checked(self, fields: Any) -> tuple[int, str, int, str]:
        if not isinstance(fields, dict):
            raise _BadLine(None, "not_an_object", "a line must be a JSON object")
        unknown = next((name for name in fields if name not in ALL_FIELDS), None)
        if unknown is not None:
            raise _BadLine(
                str(unknown),
                "unknown_field",
                f"unknown field {unknown!r}; the fields are {', '.join(ALL_FIELDS)}",
            )
        work_id = self._work(fields)
        metric = self._metric(fields.get("metric"))
        use = self._use(fields.get("use"))
        quantity = self._quantity(fields.get("quantity"))
        self._check_currency(metric, fields.get("currency"))
        if "date" in fields:
            self._check_date(fields["date"])
        return work_id, metric, quantity, use

    def _work(self, fields: dict[str, Any]) -> int:
        work_id = fields.get(WORK_ID)
        scheme, value = fields.get("identifier_scheme"), fields.get("identifier")
        if work_id is not None and (scheme is not None or value is not None):
            raise _BadLine(WORK_ID, "ambiguous_work", "give work_id or an identifier, not both")
        if work_id is None:
            if scheme is None and value is None:
                raise _BadLine(
                    WORK_ID,
                    "missing_work",
                    "name the work: work_id, or identifier_scheme and identifier",
                )
            return self._identified_work(scheme, value)
        if type(work_id) is not int or not 0 < work_id <= QUANTITY_MAX:
            raise _BadLine(WORK_ID, "invalid_work_id", "work_id must be a positive integer")
        if work_id not in self.scope.work_ids:
            raise _NotTheAgreements(WORK_ID, str(work_id))
        return work_id

    def resolve_identifier(self, scheme: Any, value: Any) -> int | None:
        """The agreement's work an identifier (as written) names, or None; remembered."""
        known = self.resolved_identifiers.get((scheme, value))
        if known is not None or not isinstance(scheme, str) or not isinstance(value, str):
            return known
        name = canonical_scheme(scheme)
        if name is None:
            return None
        try:
            work_id = self.scope.identifiers.get((name, normalise_identifier(name, value)))
        except ValueError:
            return None
        if work_id is not None and len(self.resolved_identifiers) < _IDENTIFIER_MEMO_LIMIT:
            self.resolved_identifiers[(scheme, value)] = work_id
        return work_id

    def _identified_work(self, scheme: Any, value: Any) -> int:
        """``resolve_identifier``, saying why when it finds nothing."""
        work_id = self.resolve_identifier(scheme, value)
        if work_id is not None:
            return work_id
        name = canonical_scheme(scheme) if isinstance(scheme, str) else None
        if name is None:
            raise _BadLine(
                "identifier_scheme",
                "invalid_identifier_scheme",
                f"identifier_scheme must be one of {', '.join(MATCHING_SCHEMES)}",
            )
        if not isinstance(value, str):
            raise _BadLine("identifier", "invalid_identifier", "identifier must be a string")
        try:
            normal = normalise_identifier(name, value)
        except ValueError as error:
            raise _BadLine("identifier", "invalid_identifier", str(error)) from None
        if (name, normal) in self.scope.identifiers:
            raise _BadLine(
                "identifier",
                "identifier_shared",
                f"{SCHEME_LABELS[name]} {normal} names several works of this agreement; "
                "use work_id",
            )
        raise _NotTheAgreements(name, normal)

    def _metric(self, metric: Any) -> str:
        if metric is None:
            raise _BadLine("metric", "missing_metric", "metric is required")
        if metric not in _METRICS:
            raise _BadLine(
                "metric", "invalid_metric", f"metric must be one of {', '.join(UsageMetric.values)}"
            )
        if metric not in self.scope.priced_metrics:
            price = "revenue share" if metric == REVENUE else f"rate for {metric}"
            raise _BadLine(
                "metric",
                "metric_not_licensed",
                f"the agreement sets no {price}: {metric} usage is not licensed",
            )
        return str(metric)

    def _use(self, use: Any) -> str:
        if use is None:
            return ""
        if use not in _USES:
            raise _BadLine("use", "invalid_use", f"use must be one of {', '.join(AiUse.values)}")
        if use not in self.scope.permitted_uses:
            licensed = ", ".join(sorted(self.scope.permitted_uses)) or "no use"
            raise _BadLine(
                "use",
                "use_not_licensed",
                f"the agreement does not license {use} (it licenses {licensed})",
            )
        return str(use)

    def _quantity(self, quantity: Any) -> int:
        if quantity is None:
            raise _BadLine("quantity", "missing_quantity", "quantity is required")
        if type(quantity) is float and quantity.is_integer():
            raise _BadLine(
                "quantity",
                "non_integer_quantity",
                f"quantity must be a whole number without a decimal point, got {quantity!r}",
            )
        if type(quantity) is not int:
            raise _BadLine(
                "quantity",
                "non_integer_quantity",
                f"quantity must be a whole number, got {_shown(quantity)}",
            )
        if quantity < 0:
            raise _BadLine(
                "quantity", "negative_quantity", f"quantity must not be negative: {quantity}"
            )
        if quantity > QUANTITY_MAX:
            raise _BadLine(
                "quantity", "quantity_too_large", f"quantity must be at most {QUANTITY_MAX}"
            )
        return quantity

    def _check_currency(self, metric: str, currency: Any) -> None:
        expected = self.scope.currency
        if currency is None and metric == REVENUE:
            raise _BadLine(
                "currency",
                "missing_currency",
                f"a revenue line must give its currency ({expected})",
            )
        if currency is not None and currency != expected:
            raise _BadLine(
                "currency",
                "wrong_currency",
                f"currency must be {expected}, the agreement's currency, not {_shown(currency)}",
            )

    def _check_date(self, value: Any) -> None:
        try:
            day = (
                date.fromisoformat(value) if isinstance(value, str) and _DATE.match(value) else None
            )
        except ValueError:
            day = None
        scope = self.scope
        if day is None:
            raise _BadLine("date", "invalid_date", "date must be a calendar date, YYYY-MM-DD")
        if not scope.period_start <= day < scope.period_end:
            raise _BadLine(
                "date",
                "date_outside_period",
                f"{day} is outside the period reported ({self._period_label})",
            )
        if not scope.term_start <= day <= scope.term_end:
            raise _BadLine(
                "date",
                "outside_term",
                f"{day} is outside the agreement's term ({scope.term_start} to {scope.term_end})",
            )


def canonical_scheme(scheme: str) -> str | None:
    """The catalogue's name for a scheme usage lines may use, or None."""
    try:
        name = catalog_canonical_scheme(scheme)
    except ValueError:
        return None
    return name if name in MATCHING_SCHEMES else None


def _shown(value: Any) -> str:
    text = json.dumps(value) if not isinstance(value, bytes) else repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


# --- rows for COPY -----------------------------------------------------------------------------


class _Rows:
    """Good lines as rows of COPY's text format, sent a block at a time. Every value is an
    integer, or a metric or use already checked against our own vocabulary, so none needs
    escaping; a block's rows are formatted by one ``%`` over all their values, in C, which
    costs a fraction of a per-row ``copy.write_row``."""

    WIDTH = 5  # line, work, metric, quantity, use

    def __init__(self, copy: Any, report_pk: int) -> None:
        self.values: list[Any] = []
        self._row = f"{report_pk}\t%d\t%d\t%s\t%d\t%s\n"
        self._copy = copy

    @property
    def count(self) -> int:
        return len(self.values) // self.WIDTH

    def add(self, line: int, work: int, metric: str, quantity: int, use: str) -> None:
        self.values.extend((line, work, metric, quantity, use))

    def flush(self) -> None:
        if self.values:
            self._copy.write((self._row * self.count) % tuple(self.values))
            self.values.clear()


# --- JSON Lines --------------------------------------------------------------------------------


class _JsonLine(msgspec.Struct, forbid_unknown_fields=True, gc=False):
    """A well-formed line, as msgspec decodes and type-checks it in C."""

    metric: str
    quantity: Annotated[int, msgspec.Meta(ge=0, le=QUANTITY_MAX)]
    work_id: Annotated[int, msgspec.Meta(ge=1, le=QUANTITY_MAX)] | None = None
    identifier_scheme: str | None = None
    identifier: str | None = None
    currency: str | None = None
    use: str | None = None
    date: str | None = None


_JSON_LINE = msgspec.json.Decoder(_JsonLine)
_STRUCT_FIELDS = _JsonLine.__struct_fields__


def _reject_constant(name: str) -> None:
    raise ValueError(f"{name} is not JSON")


def _ingest_json_lines(
    blocks: Iterable[tuple[bytes, int]], checker: _LineChecker, rows: _Rows
) -> int:
    """Check and COPY every line; returns the number stored."""
    stored = line = 0
    for block, expected in blocks:
        try:
            records = _JSON_LINE.decode_lines(block)
        except (msgspec.DecodeError, msgspec.ValidationError):
            records = None
        if records is not None and len(records) == expected:
            numbered = zip(range(line + 1, line + 1 + expected), records, strict=True)
            stored += _store(numbered, checker, rows)
        else:  # something here is malformed, or blank lines shifted the count: line by line
            stored += _store_one_by_one(block, line, expected, checker, rows)
        rows.flush()
        line += expected
    return stored


def _store(numbered: Iterable[tuple[int, _JsonLine]], checker: _LineChecker, rows: _Rows) -> int:
    """The hot loop: a line that needs no second look is written as it is; any other goes to
    the checker, which writes nothing and reports why, or returns the row to write. Returns
    the number of rows written."""
    scope = checker.scope
    works, priced, uses = scope.work_ids, scope.priced_metrics, scope.permitted_uses
    # A line without a currency is fine unless it reports revenue.
    priced_without_currency = priced - {REVENUE}
    currency = scope.currency
    resolved = checker.resolved_identifiers
    extend = rows.values.extend
    before = rows.count
    for line, record in numbered:
        work = record.work_id
        if work is None:
            work = resolved.get((record.identifier_scheme, record.identifier))
            if work is None and record.identifier is not None:
                work = checker.resolve_identifier(record.identifier_scheme, record.identifier)
        elif record.identifier is not None or record.identifier_scheme is not None:
            work = None
        metric, given, use = record.metric, record.currency, record.use
        if (
            work in works
            and (
                metric in priced_without_currency
                if given is None
                else given == currency and metric in priced
            )
            and (use is None or use in uses)
            and record.date is None
        ):
            extend((line, work, metric, record.quantity, use or ""))
            continue
        row = checker.check(line, _fields_of(record))
        if row is not None:
            rows.add(line, *row)
    return rows.count - before


def _store_one_by_one(
    block: bytes, line: int, expected: int, checker: _LineChecker, rows: _Rows
) -> int:
    """A block with a malformed or blank line: each line on its own, in order."""
    stored = 0
    for number, raw in enumerate(block.split(b"\n")[:expected], start=line + 1):
        if not raw.strip():
            continue
        try:
            record = _JSON_LINE.decode(raw)
        except (msgspec.DecodeError, msgspec.ValidationError):
            fields = _decode_loosely(raw, number, checker)
            row = None if fields is _MALFORMED else checker.check(number, fields)
            if row is not None:
                rows.add(number, *row)
                stored += 1
            continue
        stored += _store([(number, record)], checker, rows)
    return stored


_MALFORMED = object()


def _decode_loosely(raw: bytes, line: int, checker: _LineChecker) -> Any:
    """Any JSON value (big numbers, wrong types), so the checker can say what is wrong."""
    try:
        return json.loads(raw, parse_constant=_reject_constant)
    except (ValueError, UnicodeDecodeError) as error:
        checker.errors.add(line, None, "malformed_json", f"not valid JSON: {error}")
        return _MALFORMED


def _fields_of(record: _JsonLine) -> dict[str, Any]:
    return {
        name: getattr(record, name) for name in _STRUCT_FIELDS if getattr(record, name) is not None
    }


# --- CSV ---------------------------------------------------------------------------------------


def _ingest_csv(chunks: Iterable[bytes], checker: _LineChecker, rows: _Rows) -> int:
    """CSV with a header row naming the columns (any order; the same names as JSON fields)."""
    text = io.TextIOWrapper(io.BufferedReader(_ChunkReader(chunks)), "utf-8-sig", newline="")
    reader = csv.reader(text)
    stored = 0
    try:
        header = _csv_header(next(reader, None))
        previous_end = reader.line_num
        for cells in reader:
            line = previous_end + 1
            previous_end = reader.line_num
            if not any(cell.strip() for cell in cells):
                continue
            if len(cells) != len(header):
                checker.errors.add(
                    line,
                    None,
                    "wrong_column_count",
                    f"expected {len(header)} columns, like the header, not {len(cells)}",
                )
                continue
            row = checker.check(line, _csv_fields(header, cells))
            if row is not None:
                rows.add(line, *row)
                stored += 1
                if rows.count >= _CSV_ROWS_PER_WRITE:
                    rows.flush()
        rows.flush()
    except UnicodeDecodeError:
        raise ContentRefused(
            f"line {reader.line_num + 1} is not UTF-8 text",
            code="not_utf8",
            line=reader.line_num + 1,
        ) from None
    except csv.Error as error:
        raise ContentRefused(
            f"line {reader.line_num}: {error}", code="malformed_csv", line=reader.line_num
        ) from None
    return stored


def _csv_header(cells: list[str] | None) -> list[str]:
    if cells is None:
        raise ContentRefused(
            "the file is empty: the first line must name the columns", code="missing_header", line=1
        )
    header = [cell.strip().lower() for cell in cells]
    problem = None
    unknown = [name for name in header if name not in ALL_FIELDS]
    if unknown:
        problem = f"unknown column {unknown[0]!r}; the columns are {', '.join(ALL_FIELDS)}"
    elif len(set(header)) != len(header):
        problem = "a column is named twice"
    elif not {"metric", "quantity"} <= set(header) or not (
        WORK_ID in header or {"identifier_scheme", "identifier"} <= set(header)
    ):
        problem = (
            "the header must name metric, quantity, and work_id or identifier_scheme and identifier"
        )
    if problem:
        raise ContentRefused(f"header: {problem}", code="invalid_header", line=1)
    return header


def _csv_fields(header: list[str], cells: list[str]) -> dict[str, Any]:
    """A CSV row as JSON would have typed it: empty cells absent, numbers as numbers."""
    fields: dict[str, Any] = {}
    for name, cell in zip(header, cells, strict=True):
        value = cell.strip()
        if not value:
            continue
        if name in (WORK_ID, "quantity") and _INTEGER.match(value):
            fields[name] = int(value)
        elif name == "quantity" and _NUMBER.match(value):
            fields[name] = float(value)
        else:
            fields[name] = value
    return fields


# --- the whole report ------------------------------------------------------------------------


@dataclass
class IngestOutcome:
    stored_lines: int
    content_sha256: str
    errors: ErrorLog


def ingest_report_lines(
    *, report_pk: int, scope: ReportScope, content: IO[bytes], content_format: ContentFormat
) -> IngestOutcome:
    """Stream ``content`` into the report's lines (one COPY); collect every bad line.

    Runs inside the caller's transaction: whether to keep what was written (all lines good,
    or partial acceptance) is the caller's decision. Raises ``ContentRefused`` for content
    that is not a report at all (corrupt gzip, a CSV without a header, a huge line)."""
    hashed = _Hashed(content)
    collector = _ErrorCollector()
    checker = _LineChecker(scope, collector)
    with connection.cursor() as wrapper, connection.wrap_database_errors:
        cursor = wrapper.cursor  # psycopg's own, for its COPY writer option
        # A writer thread sends to PostgreSQL while this one parses (libpq frees the GIL).
        with cursor.copy(_COPY_LINES, writer=QueuedLibpqWriter(cursor)) as copy:
            rows = _Rows(copy, report_pk)
            if content_format == ContentFormat.CSV:
                stored = _ingest_csv(hashed, checker, rows)
            else:
                stored = _ingest_json_lines(_line_blocks(hashed), checker, rows)
    return IngestOutcome(
        stored_lines=stored, content_sha256=hashed.digest.hexdigest(), errors=collector.finish()
    )
