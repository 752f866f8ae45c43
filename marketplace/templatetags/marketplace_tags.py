"""Template tags of the marketplace pages: the notification badge, the dashboard panels and
basis points as percentages."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django import template

from accounts.tenancy import principal_for_request
from marketplace import selectors
from marketplace.models import Agreement, Offer, Party

register = template.Library()


@register.filter
def bp_percent(basis_points: int | None) -> str:
    """10,000 basis points = 100 %: 2500 → "25.00 %"."""
    if basis_points is None:
        return "—"
    return f"{Decimal(basis_points) / 100:.2f} %"


@register.inclusion_tag("frontend/marketplace/_notifications_link.html", takes_context=True)
def notifications_link(context: dict[str, Any]) -> dict[str, Any]:
    principal = principal_for_request(context["request"])
    return {"unread": selectors.notification_unread_count(principal=principal)}


@register.inclusion_tag("frontend/marketplace/_panel.html", takes_context=True)
def marketplace_panel(context: dict[str, Any], party: str) -> dict[str, Any]:
    """What needs doing: offers awaiting the organisation's answer and agreements by status."""
    principal = principal_for_request(context["request"])
    offers = selectors.offer_list(principal=principal, party=party)
    awaiting = (
        Offer.Status.AWAITING_LICENSOR
        if party == Party.LICENSOR
        else (Offer.Status.AWAITING_LICENSEE)
    )
    agreements = selectors.agreement_list(principal=principal, party=party)
    return {
        "party": party,
        "your_turn": offers.filter(status=awaiting).count(),
        "open_offers": offers.filter(status__in=Offer.OPEN_STATUSES).count(),
        "awaiting_payment": agreements.filter(status=Agreement.Status.AWAITING_PAYMENT).count(),
        "active": agreements.filter(status=Agreement.Status.ACTIVE).count(),
    }
