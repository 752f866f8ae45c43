"""The statement CSV prints every number plainly: never an exponent ("0E-18") and no trailing
zeros, a zero-value line included (issue 13, finding 8)."""

from __future__ import annotations

import csv
import io
import re

import pytest

from settlement.models import Statement
from settlement.selectors import statement_csv
from tests.money.settlement_world import OCTOBER, report_usage, worked_example
from tests.settlement.test_settlement_runs import settle

pytestmark = pytest.mark.django_db

PLAIN = re.compile(r"^-?\d+(\.\d*[1-9])?$")
NUMERIC = (
    "quantity",
    "gross_exact_minor",
    "commission_exact_minor",
    "share_bp",
    "amount_minor",
    "cumulative_entitled_exact_minor",
    "cumulative_allocated_minor",
)


def _csv(statement: Statement) -> tuple[list[dict[str, str]], dict[str, str]]:
    rows = list(csv.reader(io.StringIO(statement_csv(statement=statement))))
    header, body = rows[0], rows[1:]
    lines = [dict(zip(header, row, strict=True)) for row in body if len(row) == len(header)]
    totals = {row[3]: row[4] for row in body if len(row) == 5}
    return lines, totals


def _assert_plain(lines: list[dict[str, str]], totals: dict[str, str]) -> None:
    for line in lines:
        for column in NUMERIC:
            assert PLAIN.match(line[column]), (column, line[column])
    for key, value in totals.items():
        assert key == "sha256" or PLAIN.match(value), (key, value)


def test_a_zero_carry_forward_and_whole_exact_amounts_print_plainly():
    world = worked_example()
    report_usage(
        world.agreement,
        OCTOBER,
        [(world.w1, "tokens_trained", 12_000_000), (world.w2, "tokens_trained", 4_000_000)],
    )
    settle(OCTOBER)

    for statement in Statement.objects.all():
        lines, totals = _csv(statement)
        assert totals["carry_forward_exact_minor"] == "0"  # the worked example divides exactly
        _assert_plain(lines, totals)
    lines, _ = _csv(Statement.objects.get(holder=world.harbour))
    assert [(line["gross_exact_minor"], line["commission_exact_minor"]) for line in lines] == [
        ("3600", "360"),
        ("1200", "120"),
    ]


def test_a_zero_value_line_prints_plainly():
    world = worked_example()
    # One token of Salt Roads is worth 0.0003 cents: Harbour's line for it pays 0 now.
    report_usage(
        world.agreement,
        OCTOBER,
        [(world.w1, "tokens_trained", 1), (world.w2, "tokens_trained", 4_000_000)],
    )
    settle(OCTOBER)

    for statement in Statement.objects.all():
        _assert_plain(*_csv(statement))
    lines, _ = _csv(Statement.objects.get(holder=world.harbour))
    salt_roads = next(line for line in lines if line["work"] == "Salt Roads")
    assert salt_roads["amount_minor"] == "0"
    assert (salt_roads["gross_exact_minor"], salt_roads["commission_exact_minor"]) == (
        "0.0003",
        "0.00003",
    )
