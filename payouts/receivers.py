"""Receivers of other apps' signals (connected in ``PayoutsConfig.ready``)."""

from __future__ import annotations

from typing import Any

import structlog

from core import clock
from marketplace.signals import UpfrontFeePayment
from payouts.collections import collections_open_for_run
from payouts.tasks import upfront_fee_collect_task, upfront_fee_settle_task
from payouts.upfront_fees import upfront_fee_post
from settlement.models import SettlementRun

logger = structlog.get_logger(__name__)


def post_upfront_fee_on_activation(
    sender: Any, *, agreement_id: int, payment: UpfrontFeePayment | None = None, **_: Any
) -> None:
    """An agreement became active with its fee paid: post the fee and allocate it (idempotent
    per agreement, so a repeated signal changes nothing), then queue the posting of the
    licensee's payment. The agreement's activation has committed already, so a failure here is
    handed to a retrying task (and the beat sweep ``upfront_fees_catch_up_task``) instead."""
    if payment is None or payment.amount_minor <= 0:
        return
    try:
        upfront_fee_post(
            agreement_id=agreement_id,
            amount_minor=payment.amount_minor,
            currency=payment.currency,
            recoupable=payment.recoupable_advance,
            paid_on=clock.today(),
        )
    except Exception:
        logger.exception("upfront_fee_post_failed", agreement_id=agreement_id)
        upfront_fee_settle_task.delay(agreement_id)
        return
    if payment.stripe_charge_id:
        upfront_fee_collect_task.delay(agreement_id, payment.stripe_charge_id)


def collections_open_on_run_completed(sender: Any, *, run: SettlementRun, **_: Any) -> None:
    """A settlement run is complete: open its invoices now (the beat job is the catch-up)."""
    collections_open_for_run(run=run)
