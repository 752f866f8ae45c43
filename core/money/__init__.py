"""The money core: currencies and their minor units, formatting and parsing, rounding and
apportionment. Money is an integer number of minor units plus an ISO 4217 code, never a float.
The bottom layer: it imports nothing of ours but itself."""

from core.money.apportion import apportion
from core.money.currencies import UnknownCurrencyError, currency_exponent
from core.money.format import major_text, major_to_minor, minor_to_major, money_format
from core.money.rounding import exact_arithmetic, to_minor_units

__all__ = [
    "UnknownCurrencyError",
    "apportion",
    "currency_exponent",
    "exact_arithmetic",
    "major_text",
    "major_to_minor",
    "minor_to_major",
    "money_format",
    "to_minor_units",
]
