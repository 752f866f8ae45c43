"""Cells that cannot run as formulas, for every CSV and XLSX file we write (OWASP's advice on
CSV injection): a text cell beginning with ``=``, ``+``, ``-``, ``@``, a tab or a carriage
return gets a leading single quote, so a spreadsheet shows it as text. Organisation names and
work titles are chosen by anyone who signs up; finance opens these files in Excel."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
_PLAIN_NUMBER = re.compile(r"[+-]?[0-9]+(\.[0-9]+)?")  # "-1200", "0.5": a number, never a formula


def spreadsheet_cell(value: Any) -> Any:
    """``value`` safe to put in a spreadsheet cell (numbers and other types unchanged)."""
    if (
        isinstance(value, str)
        and value.startswith(FORMULA_TRIGGERS)
        and not _PLAIN_NUMBER.fullmatch(value)
    ):
        return "'" + value
    return value


def spreadsheet_row(row: Iterable[Any]) -> list[Any]:
    return [spreadsheet_cell(value) for value in row]
