"""Minor units to major units and back, and the one way money is shown.

An amount is an integer number of minor units plus an ISO 4217 code (``currencies``); a
rate may be an exact ``Decimal`` fraction of a minor unit (0.3 cents per 1,000 tokens). Both
convert exactly, in ``Decimal``, never through a float:

- ``money_format``: for people (pages, emails, statements, contracts): the code, then the
  major units with thousands separators and the currency's decimals: "USD 1,200.00",
  "JPY 5,000", "KWD 1.234"; a fraction of a minor unit shows in full ("USD 0.003").
- ``major_text``: for files that machines read (RSL documents, the journal export): the same
  exact number, plain: "1200.00", "5000", "1.234", "0.003".
- ``minor_to_major`` / ``major_to_minor``: the ``Decimal`` behind both, and its inverse for what
  people type, which refuses (never rounds) more decimals than the currency has.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from core.money.currencies import currency_exponent
from core.money.rounding import exact_arithmetic


def minor_to_major(amount_minor: int | Decimal, currency: str) -> Decimal:
    """The amount in major units, exactly, with at least the currency's decimals.

    120000 USD → Decimal("1200.00"); 5000 JPY → Decimal("5000"); 1234 KWD → Decimal("1.234");
    Decimal("0.3000") USD → Decimal("0.003") (trailing zeros beyond the currency's decimals go).
    """
    exponent = currency_exponent(currency)
    amount = _exact(amount_minor)
    with exact_arithmetic():
        major = amount.scaleb(-exponent)
        places = max(exponent, -_exponent_of(major.normalize()))
        return major.quantize(Decimal(1).scaleb(-places))


def money_format(amount_minor: int | Decimal, currency: str) -> str:
    """The amount as people read it: "USD 1,200.00", "JPY 5,000", "KWD 1.234", "USD -0.50"."""
    return f"{currency.upper()} {minor_to_major(amount_minor, currency):,f}"


def major_text(amount_minor: int | Decimal, currency: str) -> str:
    """The amount in major units as a plain decimal, for machines: "1200.00", "5000", "1.234"."""
    return f"{minor_to_major(amount_minor, currency):f}"


def major_to_minor(amount_major: Decimal | int | str, currency: str) -> int:
    """What a person typed in major units ("1200.00", Decimal("0.5")) as integer minor units.

    Exact: an amount with more decimals than the currency has raises ``ValueError`` ("JPY has
    no smaller unit than that"), as does text that is not a finite number; an unknown currency
    raises ``currencies.UnknownCurrencyError`` (also a ``ValueError``).
    """
    exponent = currency_exponent(currency)
    if isinstance(amount_major, str):
        try:
            amount = Decimal(amount_major.strip())
        except InvalidOperation:
            raise ValueError(f"{amount_major!r} is not an amount.") from None
    else:
        amount = _exact(amount_major)
    if not amount.is_finite():
        raise ValueError(f"{amount_major!r} is not an amount.")
    try:
        with exact_arithmetic():
            minor = amount.scaleb(exponent)
    except ArithmeticError:  # more digits than any amount has
        raise ValueError(f"{amount_major!r} is not an amount.") from None
    if minor != minor.to_integral_value():
        most = f"At most {exponent} decimal places." if exponent else "Whole amounts only."
        raise ValueError(f"{currency.upper()} has no smaller unit than that. {most}")
    return int(minor)


def _exact(amount: int | Decimal) -> Decimal:
    # bool is an int subclass and a float cannot hold most amounts: both are bugs, not money.
    if isinstance(amount, bool) or not isinstance(amount, int | Decimal):
        raise TypeError(f"an amount is an int or a Decimal, not {type(amount).__name__}")
    if isinstance(amount, Decimal) and not amount.is_finite():
        raise ValueError(f"{amount} is not an amount")
    return Decimal(amount)


def _exponent_of(value: Decimal) -> int:
    exponent = value.as_tuple().exponent
    assert isinstance(exponent, int)  # finite, checked by _exact
    return exponent
