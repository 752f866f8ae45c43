"""Refunds of platform charges."""

from typing import Any

from stripe_emulator import params as P
from stripe_emulator.errors import invalid
from stripe_emulator.resources.balance import add_txn
from stripe_emulator.resources.events import emit
from stripe_emulator.state import Ctx, Route, State, new_id, now, page, public


def _refundable_charge(st: State, ctx: Ctx) -> dict[str, Any]:
    p = ctx.params
    charge_id, pi_id = P.string(p, "charge"), P.string(p, "payment_intent")
    if not charge_id and not pi_id:
        raise invalid(
            "One of the following params should be provided for this request: "
            "payment_intent or charge.",
            "charge",
        )
    if pi_id:
        pi = st.get(
            pi_id,
            "payment_intent",
            ctx.account,
            param="payment_intent",
            status=400,
            label="payment_intent",
        )
        if pi["status"] != "succeeded":
            raise invalid(
                f"This PaymentIntent ({pi_id}) does not have a successful charge to refund.",
                "payment_intent",
            )
        if charge_id and charge_id != pi["latest_charge"]:
            raise invalid("The charge does not belong to this PaymentIntent.", "charge")
        charge_id = pi["latest_charge"]
    charge = st.get(charge_id, "charge", ctx.account, param="charge", status=400)
    if charge["status"] != "succeeded":
        raise invalid(f"Charge {charge['id']} has not succeeded and cannot be refunded.", "charge")
    if charge["disputed"]:
        raise invalid(
            f"Charge {charge['id']} has been charged back; cannot issue a refund.",
            "charge",
            "charge_disputed",
        )
    return charge


def create_refund(st: State, ctx: Ctx) -> dict[str, Any]:
    p = ctx.params
    P.check_known(
        p,
        {
            "charge",
            "payment_intent",
            "amount",
            "metadata",
            "reason",
            "reverse_transfer",
            "refund_application_fee",
        },
    )
    for flag in ("reverse_transfer", "refund_application_fee"):
        # Both act on destination charges' transfers and fees, which the emulator does not
        # make (separate charges and transfers are reversed with a transfer reversal).
        if P.boolean(p, flag):
            raise invalid(
                f"This charge has no transfer or application fee for {flag} to act on.", flag
            )
    charge = _refundable_charge(st, ctx)
    remaining = charge["amount"] - charge["amount_refunded"]
    if remaining == 0:
        raise invalid(
            f"Charge {charge['id']} has already been refunded.", "charge", "charge_already_refunded"
        )
    amount = P.amount(p, required=False) or remaining
    if amount > remaining:
        raise invalid(
            f"Refund amount ({amount}) is greater than unrefunded amount on charge ({remaining})",
            "amount",
            "amount_too_large",
        )
    refund: dict[str, Any] = {
        "id": new_id("re"),
        "object": "refund",
        "amount": amount,
        "balance_transaction": None,
        "charge": charge["id"],
        "created": now(),
        "currency": charge["currency"],
        "destination_details": {"card": {"type": "refund"}, "type": "card"},
        "metadata": P.metadata(p),
        "payment_intent": charge["payment_intent"],
        "reason": P.string(
            p, "reason", choices=("duplicate", "fraudulent", "requested_by_customer")
        ),
        "receipt_number": None,
        "failure_balance_transaction": None,
        "failure_reason": None,
        "source_transfer_reversal": None,
        # With the control switch refunds_pending, a refund waits for the card network
        # (control: refunds/{id}/settle), as Stripe's sometimes do.
        "status": "pending" if st.config["refunds_pending"] else "succeeded",
        "transfer_reversal": None,
    }
    st.put(refund, ctx.account)
    # Stripe keeps its processing fee on refunds, so the whole amount leaves the balance.
    txn = add_txn(
        st,
        ctx.account,
        amount=-amount,
        currency=charge["currency"],
        type="refund",
        source=refund["id"],
        description="REFUND FOR CHARGE",
    )
    refund["balance_transaction"] = txn["id"]
    charge["amount_refunded"] += amount
    charge["refunded"] = charge["amount_refunded"] == charge["amount"]
    emit(st, ctx, "refund.created", refund, ctx.account)
    emit(
        st,
        ctx,
        "charge.refunded",
        charge,
        ctx.account,
        {"amount_refunded": charge["amount_refunded"] - amount},
    )
    return public(refund)


FAILURE_REASONS = ("lost_or_stolen_card", "expired_or_canceled_card", "unknown")


def settle_refund(st: State, ctx: Ctx | None, refund: dict[str, Any], outcome: str) -> None:
    """A pending refund succeeds, or fails (the money comes back to the balance and off the
    charge's amount_refunded), with Stripe's events: ``refund.updated`` and
    ``charge.refund.updated``, plus ``refund.failed`` for a failure."""
    if refund["status"] != "pending":
        raise invalid(f"Refund {refund['id']} is {refund['status']}, not pending.", "refund")
    if outcome not in ("succeeded", "failed"):
        raise invalid("outcome must be succeeded or failed", "outcome")
    owner = refund["_account"]
    previous = {"status": "pending"}
    if outcome == "failed":
        txn = add_txn(
            st,
            owner,
            amount=refund["amount"],
            currency=refund["currency"],
            type="refund_failure",
            source=refund["id"],
            description="REFUND FAILURE",
        )
        charge = st.objects[refund["charge"]]
        charge["amount_refunded"] -= refund["amount"]
        charge["refunded"] = False
        refund.update(
            status="failed", failure_reason="unknown", failure_balance_transaction=txn["id"]
        )
    else:
        refund["status"] = "succeeded"
    emit(st, ctx, "refund.updated", refund, owner, previous)
    emit(st, ctx, "charge.refund.updated", refund, owner, previous)
    if outcome == "failed":
        emit(st, ctx, "refund.failed", refund, owner, previous)


def get_refund(st: State, ctx: Ctx, refund: str) -> dict[str, Any]:
    return public(st.get(refund, "refund", ctx.account))


def list_refunds(st: State, ctx: Ctx) -> dict[str, Any]:
    p = ctx.params
    items = st.find(
        "refund",
        ctx.account,
        charge=P.string(p, "charge"),
        payment_intent=P.string(p, "payment_intent"),
    )
    return page(st, items, p, "/v1/refunds")


ROUTES: list[Route] = [
    ("POST", "/v1/refunds", create_refund),
    ("GET", "/v1/refunds", list_refunds),
    ("GET", "/v1/refunds/{refund}", get_refund),
]
