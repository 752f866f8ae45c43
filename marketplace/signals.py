"""Signals other apps (payouts) connect to. Imports flow from payouts to marketplace, never
back, so the marketplace announces what happened and payouts posts it to the ledger.

Both are sent after the transaction that made the change commits (`transaction.on_commit`),
once per change, with `sender=Agreement`. Receivers should do their work idempotently (keyed
by the agreement id), e.g. by queueing a Celery task; a receiver that raises is logged and does
not undo the change. `marketplace.selectors.agreement_fee_payment` rebuilds the payment from
the database, for a receiver that has to catch up.

agreement_activated(agreement_id: int, payment: UpfrontFeePayment | None)
    The agreement became active. `payment` is the upfront fee the licensee paid (None when
    the agreement has no fee and became active on acceptance).

agreement_terminated(agreement_id: int, reason: str, was_active: bool)
    The agreement was terminated before the end of its term (`was_active` says whether it had
    become active, i.e. whether any fee was paid).
"""

from __future__ import annotations

from dataclasses import dataclass

from django.dispatch import Signal

agreement_activated = Signal()
agreement_terminated = Signal()


@dataclass(frozen=True)
class UpfrontFeePayment:
    """The upfront fee as paid through Stripe Checkout."""

    # Amount charged, minor units of `currency`, > 0 (the fee times the works when per work).
    amount_minor: int
    currency: str  # ISO 4217, uppercase
    # True: an advance, recouped from later usage royalties; False: earned on payment.
    recoupable_advance: bool
    stripe_payment_intent_id: str
    stripe_charge_id: str
    stripe_customer_id: str
    checkout_attempt_id: int
