"""``{% load money %}``: amounts on pages, by the one formatter (``core.money.money_format``).

``{{ statement.earned_minor|money:statement.currency }}`` → "USD 1,200.00", "JPY 5,000".
"""

from __future__ import annotations

from decimal import Decimal

from django import template

from core.money import money_format

register = template.Library()


@register.filter(name="money")
def money(amount_minor: int | Decimal | None, currency: str) -> str:
    """Minor units (or an exact fraction of one) of ``currency`` as people read them."""
    if amount_minor is None:
        return "—"
    return money_format(amount_minor, currency)
