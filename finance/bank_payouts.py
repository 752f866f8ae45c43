"""The platform's bank payouts: Stripe moving the platform's own balance to its bank account.

Posting rule, one entry per payout, when the platform's ``payout.paid`` arrives
(``adjustment``, Stripe payout po_; reference ``stripe_payout:<po_id>``, key
``stripe:<po_id>:paid``):

    Dr platform_cash [sub-ledger "bank"]   amount   (the platform's bank account)
    Cr platform_cash                       amount   (the Stripe balance)

dated on the payout's creation day (when Stripe's ``payout`` balance transaction takes the
money), or, once that day's period is closed, as a late receipt in the open period
(``journal_post(late_if_closed=True)``). A payout that fails or is cancelled after
it was posted is reversed (``journal_reverse``), mirroring Stripe's ``payout_failure`` /
``payout_cancel`` transaction that returns the money.

The bank is a sub-ledger of ``platform_cash`` rather than an account code of its own because a
new code needs a migration (the chart's codes are a check constraint). Reconciliation compares
only the Stripe balance (``platform_cash`` with no sub-ledger) with Stripe's balance
transactions, so a ``payout`` transaction matches the entry carrying its ``po_`` id.

Connected accounts' payouts (events with ``account``) are the holders' business and are ignored.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db import transaction

from core import clock
from ledger.models import AccountCode, EntryKind, JournalEntry
from ledger.services import LegSpec, journal_post, journal_reverse, ledger_account_for
from payments import gateway
from payments.events import stripe_event_handler
from payments.models import StripeEvent

BANK_SUBLEDGER = "bank"
"""The ``platform_cash`` sub-ledger holding what Stripe paid out to the platform's bank."""


def bank_payout_idempotency_key(payout_id: str) -> str:
    return f"stripe:{payout_id}:paid"


@transaction.atomic
def bank_payout_record(
    *, payout_id: str, amount_minor: int, currency: str, created: dt.datetime
) -> JournalEntry:
    """Post a paid platform payout once (a second call returns the first entry)."""
    existing = JournalEntry.objects.filter(
        idempotency_key=bank_payout_idempotency_key(payout_id)
    ).first()
    if existing is not None:
        return existing
    currency = currency.upper()
    return journal_post(
        kind=EntryKind.ADJUSTMENT,
        currency=currency,
        effective_date=created.astimezone(dt.UTC).date(),
        legs=[
            LegSpec(
                account=ledger_account_for(
                    code=AccountCode.PLATFORM_CASH, currency=currency, subledger_key=BANK_SUBLEDGER
                ),
                amount_minor=amount_minor,
                memo=f"bank payout {payout_id}",
            ),
            LegSpec(
                account=ledger_account_for(code=AccountCode.PLATFORM_CASH, currency=currency),
                amount_minor=-amount_minor,
                memo=f"bank payout {payout_id}",
            ),
        ],
        memo=f"Stripe payout {payout_id} to the platform's bank account",
        reference=f"stripe_payout:{payout_id}",
        idempotency_key=bank_payout_idempotency_key(payout_id),
        stripe_object_id=payout_id,
        late_if_closed=True,
    )


@transaction.atomic
def bank_payout_unwind(*, payout_id: str, status: str) -> JournalEntry | None:
    """Reverse a posted payout that failed or was cancelled (Stripe returned the money)."""
    entry = (
        JournalEntry.objects.select_for_update()
        .filter(idempotency_key=bank_payout_idempotency_key(payout_id))
        .first()
    )
    if entry is None:
        return None
    return journal_reverse(
        entry=entry,
        effective_date=clock.today(),
        memo=f"Stripe payout {payout_id} {status}: the money is back in the Stripe balance",
        idempotency_key=f"stripe:{payout_id}:{status}",
        late_if_closed=True,
    )


def _created(payout: Any) -> dt.datetime:
    return dt.datetime.fromtimestamp(int(payout.created), tz=dt.UTC)


@stripe_event_handler("payout.paid", "payout.failed", "payout.canceled")
def _platform_payout_settled(event: StripeEvent) -> None:
    if event.account:
        return
    payout_id = str(event.data_object.get("id") or "")
    if not payout_id:
        return
    # Events may come in any order: act on the payout as it is now.
    payout = gateway.payout_retrieve(payout_id=payout_id)
    if payout.status == "paid":
        bank_payout_record(
            payout_id=payout_id,
            amount_minor=int(payout.amount),
            currency=str(payout.currency),
            created=_created(payout),
        )
    elif payout.status in ("failed", "canceled"):
        bank_payout_unwind(payout_id=payout_id, status=str(payout.status))
