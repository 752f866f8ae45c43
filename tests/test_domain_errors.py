"""Every product domain error is a core DomainError: a message for people, a code for tools."""

from __future__ import annotations

import pytest

from core.errors import DomainError
from core.services import SandboxClockError
from finance.period_close import PeriodCloseError
from finance.reconciliation import ReconciliationError
from ledger.services import ClosedPeriodError, LedgerError
from marketplace.errors import MarketplaceError, StaleVersion
from payments.events import StripeEventMalformed
from payments.gateway import CardDeclined, GatewayError
from payouts.collections import CollectionError
from payouts.services import PayoutError
from payouts.upfront_fees import UpfrontFeeError
from settlement.services import SettlementError


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (MarketplaceError("no"), "marketplace_error"),
        (StaleVersion("old", current={"version": 2}), "stale_version"),
        (SettlementError("no"), "settlement_error"),
        (CollectionError("no"), "collection_error"),
        (UpfrontFeeError("no"), "upfront_fee_error"),
        (SandboxClockError("no", code="sandbox_target"), "sandbox_target"),
        (CardDeclined("declined", code="card_declined"), "card_declined"),
        (StripeEventMalformed("no"), "event_malformed"),
        (LedgerError("no"), "ledger"),
        (ClosedPeriodError("closed"), "closed_period"),
        (PayoutError("no", code="balance"), "balance"),
        (ReconciliationError("no"), "reconciliation"),
        (PeriodCloseError("not yet"), "period_close_checks"),
    ],
)
def test_domain_errors_share_the_base(error, code):
    assert isinstance(error, DomainError)
    assert (error.code == code and error.message in str(error)) or isinstance(error, GatewayError)
    assert error.code == code


def test_existing_signatures_still_work():
    stale = StaleVersion("old", errors=[{"work": 1}], current={"version": 2})
    assert (stale.errors, stale.current, stale.message) == ([{"work": 1}], {"version": 2}, "old")
    declined = CardDeclined("no", code="card_declined", http_status=402, decline_code="x")
    assert str(declined) == "card_declined: no" and declined.http_status == 402
    assert GatewayError("down").code == ""  # Stripe gave no code: as before
