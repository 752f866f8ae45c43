"""Usage reports through the real service: every bad line by number and reason, duplicates
stored once, corrections as versions, partial acceptance, gzip, CSV, and the invariants
PostgreSQL holds whatever writes."""

from __future__ import annotations

import datetime as dt
import gzip
import io
import json
from pathlib import Path

import pytest
from django.db import IntegrityError, connection, transaction
from django.db.utils import DatabaseError
from hypothesis import given, settings
from hypothesis import strategies as st

from marketplace.models import Agreement
from tests.money.factories import license_another_work, submit_usage, usage_world
from usage.ingest import ContentFormat
from usage.models import UsageLine, UsageReport
from usage.selectors import usage_report_lines
from usage.services import (
    UsageReportConflict,
    UsageReportNeedsConfirmation,
    UsageReportRejected,
    usage_report_submit,
)

pytestmark = [pytest.mark.django_db, pytest.mark.dates]

OCTOBER = dt.date(2026, 10, 1)


def jsonl(*rows: dict) -> str:
    return "".join(json.dumps(row) + "\n" for row in rows)


def tokens(work, quantity: int = 1_000) -> dict:
    return {"work_id": work.pk, "metric": "tokens_trained", "quantity": quantity}


def stored(report: UsageReport) -> list[tuple]:
    return list(usage_report_lines(report=report))


def rejected_errors(world, content, **kwargs) -> list[dict]:
    before = (UsageReport.objects.count(), UsageLine.objects.count())
    with pytest.raises(UsageReportRejected) as raised:
        submit_usage(world, content, **kwargs)
    assert (UsageReport.objects.count(), UsageLine.objects.count()) == before
    return list(raised.value.errors.first)


def test_a_good_report_is_stored_line_by_line_in_order():
    world = usage_world()
    w1, w2, _ = world.works
    content = jsonl(
        tokens(w1, 12_000_000),
        {"work_id": w2.pk, "metric": "retrievals", "quantity": 40, "use": "ai-input"},
        {"work_id": w2.pk, "metric": "revenue", "quantity": 5_000, "currency": "USD"},
        {
            "identifier_scheme": "isrc",
            "identifier": "gb-trr-26-00002",
            "metric": "retrievals",
            "quantity": 7,
            "date": "2026-10-31",
        },
    )
    submission = submit_usage(world, content, report_id="october-1")

    report = submission.report
    assert submission.created
    assert (report.status, report.version, report.is_current, report.line_count) == (
        "accepted",
        1,
        True,
        4,
    )
    assert (report.period_start, report.period_end) == (OCTOBER, dt.date(2026, 11, 1))
    assert report.currency == "USD"
    assert stored(report) == [
        (1, w1.pk, "tokens_trained", 12_000_000, ""),
        (2, w2.pk, "retrievals", 40, "ai-input"),
        (3, w2.pk, "revenue", 5_000, ""),
        (4, world.works[2].pk, "retrievals", 7, ""),
    ]


def test_every_bad_line_is_reported_with_its_line_number_and_reason():
    world = usage_world(ends_on=dt.date(2026, 10, 15))
    outsider = usage_world(licensor=world.licensor).works[0]
    w1 = world.works[0]
    lines = [
        json.dumps(tokens(w1)),  # 1: good
        '{"work_id": 1, "metric": ',  # 2: malformed JSON
        json.dumps({"work_id": 999_999_999, "metric": "tokens_trained", "quantity": 1}),  # 3
        json.dumps(tokens(outsider)),  # 4: a real work, not in this agreement
        json.dumps({"work_id": w1.pk, "metric": "training_examples", "quantity": 1}),  # 5
        json.dumps({"work_id": w1.pk, "metric": "tokens_trained", "quantity": -5}),  # 6
        json.dumps({"work_id": w1.pk, "metric": "tokens_trained", "quantity": 2.5}),  # 7
        json.dumps({**tokens(w1), "date": "2026-10-20"}),  # 8: after the term ended
        json.dumps({"work_id": w1.pk, "metric": "revenue", "quantity": 10, "currency": "EUR"}),  # 9
        "",  # 10: blank lines are skipped, but counted
        json.dumps(
            {
                "identifier_scheme": "isrc",
                "identifier": "ZZ-ZZZ-26-99999",
                "metric": "tokens_trained",
                "quantity": 1,
            }
        ),  # 11: unknown ISRC
        json.dumps({**tokens(w1), "use": "synthetic-likeness"}),  # 12
        json.dumps({**tokens(w1), "quantitty": 3}),  # 13
        json.dumps({"work_id": w1.pk, "metric": "revenue", "quantity": 10}),  # 14
        json.dumps([1, 2]),  # 15
        json.dumps({"work_id": w1.pk, "metric": "tokens", "quantity": 1}),  # 16
        json.dumps({**tokens(w1), "date": "2026-11-02"}),  # 17
        json.dumps({"work_id": "12", "metric": "tokens_trained", "quantity": 1}),  # 18
        json.dumps({"work_id": w1.pk, "metric": "tokens_trained", "quantity": "12"}),  # 19
        json.dumps(
            {
                "identifier_scheme": "isrc",
                "identifier": "not-an-isrc",
                "metric": "tokens_trained",
                "quantity": 1,
            }
        ),  # 20
        json.dumps({"metric": "tokens_trained", "quantity": 1}),  # 21
        json.dumps({"work_id": w1.pk, "metric": "tokens_trained", "quantity": 2**63}),  # 22
        json.dumps({"work_id": w1.pk, "metric": "tokens_trained", "quantity": 3.0}),  # 23
    ]
    errors = rejected_errors(world, "\n".join(lines) + "\n")

    got = [(e["line"], e["field"], e["code"]) for e in errors]
    assert got == [
        (2, None, "malformed_json"),
        (3, "work_id", "unknown_work"),
        (4, "work_id", "work_not_in_agreement"),
        (5, "metric", "metric_not_licensed"),
        (6, "quantity", "negative_quantity"),
        (7, "quantity", "non_integer_quantity"),
        (8, "date", "outside_term"),
        (9, "currency", "wrong_currency"),
        (11, "identifier", "unknown_work"),
        (12, "use", "use_not_licensed"),
        (13, "quantitty", "unknown_field"),
        (14, "currency", "missing_currency"),
        (15, None, "not_an_object"),
        (16, "metric", "invalid_metric"),
        (17, "date", "date_outside_period"),
        (18, "work_id", "invalid_work_id"),
        (19, "quantity", "non_integer_quantity"),
        (20, "identifier", "invalid_identifier"),
        (21, "work_id", "missing_work"),
        (22, "quantity", "quantity_too_large"),
        (23, "quantity", "non_integer_quantity"),
    ]
    reasons = {e["line"]: e["reason"] for e in errors}
    assert reasons[3] == "no work has work_id 999999999"
    assert reasons[4] == f"the work with work_id {outsider.pk} is not licensed by this agreement"
    assert reasons[5] == (
        "the agreement sets no rate for training_examples: training_examples usage is not licensed"
    )
    assert reasons[6] == "quantity must not be negative: -5"
    assert reasons[8] == "2026-10-20 is outside the agreement's term (2026-01-01 to 2026-10-15)"
    assert reasons[9] == 'currency must be USD, the agreement\'s currency, not "EUR"'
    assert reasons[11] == "no work has ISRC ZZZZZ2699999"
    assert reasons[2].startswith("not valid JSON")


def test_a_rejected_report_stores_nothing_and_leaves_the_current_version_alone():
    world = usage_world()
    first = submit_usage(world, jsonl(tokens(world.works[0], 5)), report_id="r").report
    errors = rejected_errors(
        world, jsonl(tokens(world.works[0], 7), {"metric": "x"}), report_id="r"
    )
    assert [e["line"] for e in errors] == [2]
    first.refresh_from_db()
    assert first.is_current and UsageReport.objects.filter(report_id="r").count() == 1


def test_partial_acceptance_stores_the_good_lines_and_keeps_the_bad_ones():
    world = usage_world()
    w1, w2, _ = world.works
    content = jsonl(tokens(w1, 10), tokens(w2, -1), tokens(w2, 20))
    submission = submit_usage(world, content, partial=True)

    report = submission.report
    assert (report.status, report.line_count, report.rejected_line_count) == (
        "partially_accepted",
        2,
        1,
    )
    assert [line[0] for line in stored(report)] == [1, 3]
    assert report.errors == [
        {
            "line": 2,
            "field": "quantity",
            "code": "negative_quantity",
            "reason": "quantity must not be negative: -1",
        }
    ]
    assert submission.left_out.count == 1


def test_partial_acceptance_needs_one_good_line():
    world = usage_world()
    errors = rejected_errors(world, jsonl({"metric": "nope"}), partial=True)
    assert errors[0]["line"] == 1


def test_the_same_report_sent_twice_is_stored_once():
    world = usage_world()
    content = jsonl(tokens(world.works[0], 100), tokens(world.works[1], 200))
    first = submit_usage(world, content, report_id="oct")
    again = submit_usage(world, gzip.compress(content.encode()), report_id="oct")

    assert first.created and not again.created
    assert again.report.pk == first.report.pk
    assert UsageReport.objects.filter(report_id="oct").count() == 1
    assert UsageLine.objects.filter(report__report_id="oct").count() == 2


def test_a_correction_supersedes_the_current_version():
    world = usage_world()
    v1 = submit_usage(world, jsonl(tokens(world.works[0], 100)), report_id="oct").report
    v2 = submit_usage(world, jsonl(tokens(world.works[0], 150)), report_id="oct").report
    v1.refresh_from_db()

    assert (v1.version, v1.is_current, v2.version, v2.is_current) == (1, False, 2, True)
    assert v2.supersedes_id == v1.pk
    assert stored(v1) == [(1, world.works[0].pk, "tokens_trained", 100, "")]
    assert stored(v2) == [(1, world.works[0].pk, "tokens_trained", 150, "")]
    current = UsageReport.objects.filter(agreement=world.agreement, is_current=True)
    assert list(current) == [v2]

    # A late copy of version 1 is a duplicate of it: the correction stays current.
    late = submit_usage(world, jsonl(tokens(world.works[0], 100)), report_id="oct")
    assert (late.created, late.report.pk) == (False, v1.pk)
    assert UsageReport.objects.get(is_current=True, report_id="oct").pk == v2.pk


def test_reports_of_one_month_under_different_ids_add_up():
    world = usage_world()
    a = submit_usage(world, jsonl(tokens(world.works[0], 1)), report_id="run-a").report
    b = submit_usage(world, jsonl(tokens(world.works[0], 2)), report_id="run-b").report
    assert {a.is_current, b.is_current} == {True}


def test_a_report_id_belongs_to_one_month():
    world = usage_world()
    submit_usage(world, jsonl(tokens(world.works[0])), report_id="oct")
    with pytest.raises(UsageReportConflict):
        submit_usage(
            world, jsonl(tokens(world.works[0], 9)), report_id="oct", period=dt.date(2026, 9, 1)
        )


def test_gzip_is_accepted_even_in_several_members():
    world = usage_world()
    content = gzip.compress(jsonl(tokens(world.works[0], 1)).encode()) + gzip.compress(
        jsonl(tokens(world.works[1], 2)).encode()
    )
    report = submit_usage(world, content).report
    assert [line[3] for line in stored(report)] == [1, 2]


def test_corrupt_gzip_is_refused_whole():
    world = usage_world()
    broken = gzip.compress(jsonl(tokens(world.works[0], 1)).encode() * 500)[:-40]
    errors = rejected_errors(world, broken)
    assert errors == [
        {
            "line": None,
            "field": None,
            "code": "invalid_gzip",
            "reason": "the gzip data ends before its end marker",
        }
    ]


def test_identifiers_resolve_in_any_accepted_spelling_and_shared_ones_are_refused():
    world = usage_world(
        works=2, identifiers=[{"isbn13": "9780306406157"}, {"doi": "10.1000/xyz123"}]
    )
    b1, b2 = world.works
    # Two works of the agreement, from two of the licensor's catalogues, share an ISRC.
    license_another_work(world, isrc="GBTRR2600009")
    license_another_work(world, isrc="GBTRR2600009")
    content = jsonl(
        {
            "identifier_scheme": "isbn",
            "identifier": "0-306-40615-2",
            "metric": "retrievals",
            "quantity": 1,
        },
        {
            "identifier_scheme": "DOI",
            "identifier": "https://doi.org/10.1000/XYZ123",
            "metric": "retrievals",
            "quantity": 2,
        },
        {
            "identifier_scheme": "isrc",
            "identifier": "GB-TRR-26-00009",
            "metric": "retrievals",
            "quantity": 3,
        },
        {
            "identifier_scheme": "url",
            "identifier": "https://example.test/",
            "metric": "retrievals",
            "quantity": 4,
        },
        {
            "work_id": b1.pk,
            "identifier_scheme": "isbn13",
            "identifier": "9780306406157",
            "metric": "retrievals",
            "quantity": 5,
        },
    )
    errors = submit_usage(world, content, partial=True)
    assert stored(errors.report) == [
        (1, b1.pk, "retrievals", 1, ""),
        (2, b2.pk, "retrievals", 2, ""),
    ]
    assert [(e["line"], e["code"]) for e in errors.report.errors] == [
        (3, "identifier_shared"),
        (4, "invalid_identifier_scheme"),
        (5, "ambiguous_work"),
    ]


def test_a_month_outside_the_term_in_the_future_or_before_payment_is_refused():
    world = usage_world(starts_on=dt.date(2026, 3, 10), ends_on=dt.date(2026, 6, 30))
    line = jsonl(tokens(world.works[0]))
    assert rejected_errors(world, line, period=dt.date(2026, 7, 1))[0]["code"] == (
        "period_outside_term"
    )
    assert rejected_errors(world, line, period=dt.date(2026, 2, 1))[0]["code"] == (
        "period_outside_term"
    )
    assert submit_usage(world, line, period=dt.date(2026, 3, 1)).created  # overlaps the term
    future = dt.date.today().replace(day=1) + dt.timedelta(days=62)
    assert rejected_errors(world, line, period=future.replace(day=1))[0]["code"] in (
        "period_in_future"
    )
    unpaid = usage_world(status=Agreement.Status.AWAITING_PAYMENT)
    assert rejected_errors(unpaid, jsonl(tokens(unpaid.works[0])))[0]["code"] == (
        "agreement_not_active"
    )


def test_a_csv_report_counts_physical_lines_header_included():
    world = usage_world()
    w1, w2, _ = world.works
    content = (
        "\ufeffWork_ID,metric,quantity,currency,use\r\n"
        f"{w1.pk},tokens_trained,1000,,\r\n"
        "\r\n"
        f'{w2.pk},revenue,"2500",USD,"ai-\ntrain"\r\n'  # a quoted field spanning two lines
        f"{w2.pk},tokens_trained,-3,,\r\n"
        f"{w2.pk},tokens_trained,1.5,,\r\n"
        f"{w2.pk},tokens_trained,12,USD\r\n"
        f"{w1.pk},retrievals,7,,ai-input\r\n"
    )
    submission = submit_usage(world, content, content_format=ContentFormat.CSV, partial=True)
    assert stored(submission.report) == [
        (2, w1.pk, "tokens_trained", 1000, ""),
        (9, w1.pk, "retrievals", 7, "ai-input"),
    ]
    assert [(e["line"], e["code"]) for e in submission.report.errors] == [
        (4, "invalid_use"),
        (6, "negative_quantity"),
        (7, "non_integer_quantity"),
        (8, "wrong_column_count"),
    ]


def test_a_csv_header_must_name_known_columns():
    world = usage_world()
    errors = rejected_errors(
        world, "work,metric,quantity\n1,tokens_trained,1\n", content_format=ContentFormat.CSV
    )
    assert errors[0]["line"] == 1 and errors[0]["code"] == "invalid_header"


def test_the_documented_examples_are_accepted_by_an_agreement_with_their_works(settings):
    world = usage_world(
        identifiers=[{"id": 900_001}, {"isrc": "GBTRR2600042"}, {"isbn13": "9780306406157"}]
    )
    examples = Path(settings.BASE_DIR) / "docs" / "examples"
    for name, content_format in (
        ("usage-report.jsonl", ContentFormat.JSON_LINES),
        ("usage-report.csv", ContentFormat.CSV),
    ):
        content = (examples / name).read_bytes()
        report = submit_usage(world, content, content_format=content_format).report
        assert (report.status, report.line_count) == ("accepted", 4), name
        assert {line[1] for line in stored(report)} == {work.pk for work in world.works}


def test_a_million_bad_lines_cost_disk_not_memory_and_are_all_reported():
    world = usage_world()
    bad = jsonl({"work_id": world.works[0].pk, "metric": "tokens_trained", "quantity": -1})
    with pytest.raises(UsageReportRejected) as raised:
        submit_usage(world, bad * 20_000)
    log = raised.value.errors
    assert log.count == 20_000 and len(log.first) == 1_000
    assert [json.loads(e)["line"] for e in log.iter_encoded()] == list(range(1, 20_001))


@settings(max_examples=40, deadline=None)
@given(
    kinds=st.lists(
        st.sampled_from(["good", "blank", "negative", "unknown_work", "malformed", "foreign"]),
        min_size=1,
        max_size=40,
    )
)
def test_exactly_the_good_lines_are_stored_and_exactly_the_bad_ones_reported(kinds):
    world = usage_world(works=1)
    work = world.works[0]
    text = {
        "good": json.dumps(tokens(work, 3)),
        "blank": "  ",
        "negative": json.dumps(tokens(work, -3)),
        "unknown_work": json.dumps({**tokens(work), "work_id": 10**12}),
        "malformed": "{",
        "foreign": json.dumps({**tokens(work), "currency": "GBP"}),
    }
    content = "\n".join(text[kind] for kind in kinds)
    good = [n for n, kind in enumerate(kinds, 1) if kind == "good"]
    bad = [n for n, kind in enumerate(kinds, 1) if kind not in ("good", "blank")]
    try:
        submission = submit_usage(world, content, partial=True)
    except UsageReportRejected as rejected:
        assert not good and [e["line"] for e in rejected.errors.first] == bad
        return
    except UsageReportNeedsConfirmation as refused:  # blank lines only: no line at all
        assert not good and not bad and refused.code == "empty_report"
        return
    assert [line[0] for line in stored(submission.report)] == good
    assert [e["line"] for e in submission.report.errors] == bad


# --- what PostgreSQL holds true ------------------------------------------------------------


def test_lines_are_append_only_and_reports_are_never_edited_or_deleted():
    world = usage_world()
    report = submit_usage(world, jsonl(tokens(world.works[0], 5))).report
    for attempt in (
        lambda: UsageLine.objects.filter(report=report).update(quantity=6),
        lambda: UsageLine.objects.filter(report=report).delete(),
        lambda: UsageReport.objects.filter(pk=report.pk).update(line_count=9),
        lambda: UsageReport.objects.filter(pk=report.pk)._raw_delete(connection.alias),
    ):
        with pytest.raises(DatabaseError), transaction.atomic():
            attempt()
    UsageReport.objects.filter(pk=report.pk).update(is_current=False)  # superseding is allowed
    with pytest.raises(DatabaseError), transaction.atomic():
        UsageReport.objects.filter(pk=report.pk).update(is_current=True)


def test_a_reports_lines_must_name_works_of_its_agreement_when_it_is_committed():
    world = usage_world()
    outsider = usage_world().works[0]
    with pytest.raises(IntegrityError, match="not licensed"), transaction.atomic():
        report = submit_usage(world, jsonl(tokens(world.works[0], 5))).report
        UsageLine.objects.create(
            report=report, line_no=2, work=outsider, metric="tokens_trained", quantity=1
        )
        with connection.cursor() as cursor:
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # what COMMIT does
    report = submit_usage(world, jsonl(tokens(world.works[0], 5))).report
    for duplicate_or_negative in (
        {"line_no": 1, "quantity": 1},
        {"line_no": 2, "quantity": -1},
    ):
        with pytest.raises(IntegrityError), transaction.atomic():
            UsageLine.objects.create(
                report=report,
                work=world.works[0],
                metric="tokens_trained",
                **duplicate_or_negative,
            )


def test_a_report_cannot_be_committed_while_receiving_lines():
    world = usage_world()
    with pytest.raises(DatabaseError, match="receiving"), transaction.atomic():
        UsageReport.objects.create(
            agreement=world.agreement,
            report_id="x",
            period_start=OCTOBER,
            period_end=dt.date(2026, 11, 1),
            currency="USD",
            status="receiving",
        )
        with connection.cursor() as cursor:
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")


def test_reading_lines_streams_them_in_batches():
    world = usage_world()
    content = jsonl(*(tokens(world.works[i % 3], i) for i in range(25_001)))
    report = submit_usage(world, content).report
    rows = stored(report)
    assert len(rows) == 25_001 and rows[-1] == (
        25_001,
        world.works[25_000 % 3].pk,
        "tokens_trained",
        25_000,
        "",
    )
    assert [row[0] for row in rows] == list(range(1, 25_002))


def test_bytes_streams_are_read_in_chunks_not_whole():
    class Reader(io.RawIOBase):
        def __init__(self, data: bytes) -> None:
            self.data, self.largest = data, 0

        def readable(self) -> bool:
            return True

        def read(self, size: int = -1) -> bytes:
            assert size != -1, "the ingestion must never read the whole body at once"
            self.largest = max(self.largest, size)
            chunk, self.data = self.data[:size], self.data[size:]
            return chunk

    world = usage_world()
    body = jsonl(*(tokens(world.works[0], i) for i in range(40_000))).encode()
    reader = Reader(body)
    report = usage_report_submit(
        agreement=world.agreement,
        report_id="chunked",
        period_start=OCTOBER,
        content=reader,
        content_format=ContentFormat.JSON_LINES,
        partial=False,
    ).report
    assert report.line_count == 40_000
    assert reader.largest <= 1 << 20 < len(body)
