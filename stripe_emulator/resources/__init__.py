"""Stripe API resources, one module per family; ROUTES maps (method, path) to handlers."""

import re
from collections.abc import Callable
from typing import Any

from stripe_emulator.resources import (
    accounts,
    balance,
    checkout,
    disputes,
    events,
    payments,
    payouts,
    refunds,
    transfers,
)
from stripe_emulator.state import Route

Handler = Callable[..., Any]


def compile_routes(
    table: list[Route],
) -> list[tuple[str, re.Pattern[str], Handler, str]]:
    """Turn "/v1/transfers/{transfer}" templates into regexes with named groups (the
    template is kept: parameter checking looks endpoints up by it)."""
    return [
        (
            method,
            re.compile("^" + re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", path) + "$"),
            fn,
            path,
        )
        for method, path, fn in table
    ]


RAW_ROUTES: list[Route] = (
    accounts.ROUTES
    + balance.ROUTES
    + checkout.ROUTES
    + disputes.ROUTES
    + events.ROUTES
    + payments.ROUTES
    + payouts.ROUTES
    + refunds.ROUTES
    + transfers.ROUTES
)
ROUTES = compile_routes(RAW_ROUTES)
