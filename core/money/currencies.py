"""ISO 4217 currencies and their minor units: the one table.

Money is an integer number of minor units plus an ISO 4217 code; the code's *exponent* says how
many minor units make a major unit (USD 2: 100 cents to the dollar; JPY 0: the yen has none;
KWD 3: 1,000 fils to the dinar). Every conversion between minor and major units reads it here.

The table is ISO 4217's list of current codes (and a few that Stripe still accepts, noted),
covering every currency Stripe supports. Codes ISO gives no minor unit (gold, the SDR, test
codes) are not money here and are unknown.

Stripe differs from ISO 4217 for a few currencies, and this table follows ISO 4217: Stripe
sends ISK and UGX (ISO: 0 decimals) as two-decimal amounts whose last two digits are 00, and
pays out HUF and TWD (ISO: 2 decimals) only in whole major units. Converting our amounts to
Stripe's is the Stripe gateway's business, not this table's.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

_ZERO_DECIMAL = (
    "BIF CLP DJF GNF ISK JPY KMF KRW PYG RWF UGX UYI VND VUV XAF XOF XPF"
)  # fmt: skip
_THREE_DECIMAL = "BHD IQD JOD KWD LYD OMR TND"
_FOUR_DECIMAL = "CLF UYW"  # Unidad de Fomento (Chile), Unidad Previsional (Uruguay)
_TWO_DECIMAL = (
    "AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BMD BND BOB BOV BRL BSD BTN BWP "
    "BYN BZD CAD CDF CHE CHF CHW CNY COP COU CRC CUC CUP CVE CZK DKK DOP DZD EGP ERN ETB EUR "
    "FJD FKP GBP GEL GHS GIP GMD GTQ GYD HKD HNL HTG HUF IDR ILS INR IRR JMD KES KGS KHR KPW "
    "KYD KZT LAK LBP LKR LRD LSL MAD MDL MGA MKD MMK MNT MOP MRU MUR MVR MWK MXN MXV MYR MZN "
    "NAD NGN NIO NOK NPR NZD PAB PEN PGK PHP PKR PLN QAR RON RSD RUB SAR SBD SCR SDG SEK SGD "
    "SHP SLE SOS SRD SSP STN SVC SYP SZL THB TJS TMT TOP TRY TTD TWD TZS UAH USD USN UYU UZS "
    "VED VES WST XCD XCG YER ZAR ZMW ZWG ZWL "
    # Withdrawn by ISO 4217 but still in Stripe's list of currencies: the old leone and dobra.
    "SLL STD"
)

CURRENCY_EXPONENTS: Mapping[str, int] = MappingProxyType(
    {
        code: exponent
        for codes, exponent in (
            (_ZERO_DECIMAL, 0),
            (_TWO_DECIMAL, 2),
            (_THREE_DECIMAL, 3),
            (_FOUR_DECIMAL, 4),
        )
        for code in codes.split()
    }
)
"""ISO 4217 code (upper case) → digits after the decimal point of its major unit."""


class UnknownCurrencyError(ValueError):
    """A code that is not an ISO 4217 currency this table knows."""


def currency_exponent(code: str) -> int:
    """The currency's minor-unit exponent (USD 2, JPY 0, KWD 3); any letter case.

    Raises ``UnknownCurrencyError`` (a ``ValueError``) for a code that is not in the table:
    guessing 2 would show a yen amount a hundred times too small.
    """
    exponent = CURRENCY_EXPONENTS.get(code.upper()) if isinstance(code, str) else None
    if exponent is None:
        raise UnknownCurrencyError(f"{code!r} is not an ISO 4217 currency code, e.g. USD.")
    return exponent
