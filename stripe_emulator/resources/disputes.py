"""Disputes: opened and closed by the control API (the card network's side), read by the API."""

from typing import Any

from stripe_emulator import params as P
from stripe_emulator.errors import invalid, no_such
from stripe_emulator.resources.balance import add_txn
from stripe_emulator.resources.events import emit
from stripe_emulator.state import Ctx, Route, State, new_id, now, page, public

REASONS = (
    "bank_cannot_process",
    "credit_not_processed",
    "customer_initiated",
    "duplicate",
    "fraudulent",
    "general",
    "product_not_received",
    "product_unacceptable",
    "subscription_canceled",
    "unrecognized",
)


def open_dispute(
    st: State, ctx: Ctx | None, charge_id: str, amount: int | None, reason: str
) -> dict[str, Any]:
    """The cardholder disputes a charge: funds plus Stripe's dispute fee are withdrawn."""
    charge = st.objects.get(charge_id)
    if charge is None or charge["object"] != "charge" or charge["status"] != "succeeded":
        raise no_such("charge", charge_id, "charge")
    if charge["disputed"]:
        raise invalid(f"Charge {charge_id} is already disputed.", "charge")
    if reason not in REASONS:
        raise invalid(f"Invalid reason: must be one of {', '.join(REASONS)}", "reason")
    amount = amount or charge["amount"]
    if not 0 < amount <= charge["amount"]:
        raise invalid("The dispute amount must be between 1 and the charge amount.", "amount")
    owner = charge["_account"]
    dispute = {
        "id": new_id("dp"),
        "object": "dispute",
        "amount": amount,
        "balance_transactions": [],
        "charge": charge_id,
        "created": now(),
        "currency": charge["currency"],
        "evidence": {
            "customer_email_address": None,
            "product_description": None,
            "uncategorized_text": None,
        },
        "evidence_details": {
            "due_by": now() + 7 * 86400,
            "has_evidence": False,
            "past_due": False,
            "submission_count": 0,
        },
        "is_charge_refundable": False,
        "livemode": False,
        "metadata": {},
        "payment_intent": charge["payment_intent"],
        "reason": reason,
        "status": "needs_response",
    }
    st.put(dispute, owner)
    txn = add_txn(
        st,
        owner,
        amount=-amount,
        currency=charge["currency"],
        type="adjustment",
        source=dispute["id"],
        fee=st.config["dispute_fee"],
        fee_description="Dispute fee",
        description=f"Chargeback withdrawal for {charge_id}",
    )
    dispute["balance_transactions"].append(public(txn))
    charge["disputed"] = True
    emit(st, ctx, "charge.dispute.created", dispute, owner)
    emit(st, ctx, "charge.dispute.funds_withdrawn", dispute, owner)
    return dispute


def close_dispute(st: State, ctx: Ctx | None, dispute: dict[str, Any], outcome: str) -> None:
    """Won: the disputed amount comes back (the fee does not). Lost: nothing comes back."""
    if dispute["status"] not in ("needs_response", "under_review"):
        raise invalid(f"Dispute {dispute['id']} is already closed.", "dispute")
    if outcome not in ("won", "lost"):
        raise invalid("outcome must be won or lost", "outcome")
    owner = dispute["_account"]
    if dispute["status"] == "needs_response":
        # Evidence goes in before the card network decides: the dispute is under review.
        dispute["status"] = "under_review"
        dispute["evidence_details"]["has_evidence"] = True
        dispute["evidence_details"]["submission_count"] += 1
        emit(st, ctx, "charge.dispute.updated", dispute, owner, {"status": "needs_response"})
    previous = {"status": dispute["status"]}
    dispute["status"] = outcome
    if outcome == "won":
        txn = add_txn(
            st,
            owner,
            amount=dispute["amount"],
            currency=dispute["currency"],
            type="adjustment",
            source=dispute["id"],
            category="dispute_reversal",
            description=f"Chargeback reversal for {dispute['charge']}",
        )
        dispute["balance_transactions"].append(public(txn))
        emit(st, ctx, "charge.dispute.funds_reinstated", dispute, owner)
    emit(st, ctx, "charge.dispute.closed", dispute, owner, previous)


def get_dispute(st: State, ctx: Ctx, dispute: str) -> dict[str, Any]:
    return public(st.get(dispute, "dispute", ctx.account))


def accept_dispute(st: State, ctx: Ctx, dispute: str) -> dict[str, Any]:
    """POST /v1/disputes/{id}/close: the merchant concedes, so the dispute is lost."""
    obj = st.get(dispute, "dispute", ctx.account)
    close_dispute(st, ctx, obj, "lost")
    return public(obj)


def list_disputes(st: State, ctx: Ctx) -> dict[str, Any]:
    p = ctx.params
    items = st.find(
        "dispute",
        ctx.account,
        charge=P.string(p, "charge"),
        payment_intent=P.string(p, "payment_intent"),
    )
    return page(st, items, p, "/v1/disputes")


ROUTES: list[Route] = [
    ("GET", "/v1/disputes", list_disputes),
    ("GET", "/v1/disputes/{dispute}", get_dispute),
    ("POST", "/v1/disputes/{dispute}/close", accept_dispute),
]
