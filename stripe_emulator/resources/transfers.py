"""Transfers from the platform to connected accounts, and their reversals.

A transfer debits the platform (``transfer`` txn) and credits the destination through a
destination payment (``py_``, a charge on the connected account, ``payment`` txn). With
``source_transaction`` the money comes from that charge even while it is pending, and both
sides stay pending until the charge's funds are available, as on Stripe.
"""

from typing import Any

from stripe_emulator import params as P
from stripe_emulator.errors import StripeError, invalid, no_such
from stripe_emulator.resources.balance import add_txn, available
from stripe_emulator.resources.events import emit
from stripe_emulator.state import Ctx, Route, State, filter_created, new_id, now, page, public

INSUFFICIENT = (
    "You have insufficient available funds in your Stripe account. Try adding "
    "funds directly to your available balance by creating Charges using the "
    "4000000000000077 test card. See: https://stripe.com/docs/testing"
    "#available-balance"
)


def balance_insufficient(message: str = INSUFFICIENT) -> StripeError:
    return invalid(message, None, "balance_insufficient")


def _source_charge(st: State, ctx: Ctx, charge_id: str, amount: int, cur: str) -> dict[str, Any]:
    charge = st.get(charge_id, "charge", ctx.account, param="source_transaction", status=400)
    if charge["status"] != "succeeded":
        raise invalid(f"Charge {charge_id} has not succeeded.", "source_transaction")
    if charge["currency"] != cur:
        raise invalid(
            f"The currency of source_transaction's balance transaction "
            f"({charge['currency']}) must be the same as the transfer currency "
            f"({cur})",
            "currency",
        )
    transferred = sum(
        t["amount"] - t["amount_reversed"]
        for t in st.find("transfer", ctx.account, source_transaction=charge_id)
    )
    # Bounded by what the charge put in the balance (net of fees): stricter than any real
    # limit, so code that passes here does not overdraw on Stripe.
    net = st.objects[charge["balance_transaction"]]["net"]
    remaining = net - charge["amount_refunded"] - transferred
    if amount > remaining:
        raise balance_insufficient(
            f"Insufficient funds in source transaction {charge_id}: {amount} {cur} requested "
            f"but only {remaining} {cur} of the charge remains to be transferred."
        )
    return charge


def create_transfer(st: State, ctx: Ctx) -> dict[str, Any]:
    p = ctx.params
    P.check_known(
        p,
        {
            "amount",
            "currency",
            "destination",
            "transfer_group",
            "source_transaction",
            "metadata",
            "description",
            "source_type",
        },
    )
    amount = P.amount(p)
    assert amount is not None
    cur = P.currency(p)
    fields: dict[str, Any] = {
        "metadata": P.metadata(p),
        "description": P.string(p, "description"),
        "transfer_group": P.string(p, "transfer_group"),
    }
    if ctx.account:
        raise invalid("Transfers can only be created by the platform.", "destination")
    dest = st.get(
        P.string(p, "destination", required=True),
        "account",
        None,
        param="destination",
        status=400,
        label="destination",
    )
    if dest["capabilities"].get("transfers") != "active":
        raise invalid(
            "Your destination account needs to have at least one of the following "
            "capabilities enabled: transfers, crypto_transfers, legacy_payments",
            "destination",
            "insufficient_capabilities_for_transfer",
        )
    source_id = P.string(p, "source_transaction")
    available_on = None  # from available funds: settled at once on both sides
    if source_id:
        charge = _source_charge(st, ctx, source_id, amount, cur)
        available_on = st.objects[charge["balance_transaction"]]["available_on"]
        # Stripe links the transfer to the charge's group, creating "group_<pi>" if needed.
        if not fields["transfer_group"]:
            if not charge["transfer_group"] and charge["payment_intent"]:
                pi = st.objects[charge["payment_intent"]]
                charge["transfer_group"] = pi["transfer_group"] = f"group_{pi['id']}"
            fields["transfer_group"] = charge["transfer_group"]
    elif available(st, ctx.account, cur) < amount:
        raise balance_insufficient()
    transfer_id = new_id("tr")
    out = add_txn(
        st,
        ctx.account,
        amount=-amount,
        currency=cur,
        type="transfer",
        source=transfer_id,
        available_on=available_on,
        description=fields["description"],
    )
    payment: dict[str, Any] = {
        "id": new_id("py"),
        "object": "charge",
        "amount": amount,
        "amount_captured": amount,
        "amount_refunded": 0,
        "balance_transaction": None,
        "captured": True,
        "created": now(),
        "currency": cur,
        "customer": None,
        "description": None,
        "disputed": False,
        "livemode": False,
        "metadata": {},
        "paid": True,
        "payment_intent": None,
        "payment_method": None,
        "refunded": False,
        "source_transfer": transfer_id,
        "status": "succeeded",
        "transfer_group": None,
    }
    st.put(payment, dest["id"])
    payment["balance_transaction"] = add_txn(
        st,
        dest["id"],
        amount=amount,
        currency=cur,
        type="payment",
        source=payment["id"],
        available_on=available_on,
    )["id"]
    transfer: dict[str, Any] = {
        "id": transfer_id,
        "object": "transfer",
        "amount": amount,
        "amount_reversed": 0,
        "balance_transaction": out["id"],
        "created": now(),
        "currency": cur,
        "destination": dest["id"],
        "destination_payment": payment["id"],
        "livemode": False,
        "reversals": {
            "object": "list",
            "data": [],
            "has_more": False,
            "total_count": 0,
            "url": f"/v1/transfers/{transfer_id}/reversals",
        },
        "reversed": False,
        "source_transaction": source_id,
        "source_type": "card",
        **fields,
    }
    st.put(transfer, ctx.account)
    emit(st, ctx, "transfer.created", transfer, ctx.account)
    return public(transfer)


def _transfer(st: State, ctx: Ctx, transfer: str) -> dict[str, Any]:
    return st.get(transfer, "transfer", ctx.account)


def get_transfer(st: State, ctx: Ctx, transfer: str) -> dict[str, Any]:
    return public(_transfer(st, ctx, transfer))


def update_transfer(st: State, ctx: Ctx, transfer: str) -> dict[str, Any]:
    P.check_known(ctx.params, {"metadata", "description"})
    obj = _transfer(st, ctx, transfer)
    obj["metadata"] = P.metadata(ctx.params, obj["metadata"])
    if "description" in ctx.params:
        obj["description"] = P.string(ctx.params, "description")
    emit(st, ctx, "transfer.updated", obj, ctx.account)
    return public(obj)


def list_transfers(st: State, ctx: Ctx) -> dict[str, Any]:
    p = ctx.params
    items = st.find(
        "transfer",
        ctx.account,
        destination=P.string(p, "destination"),
        transfer_group=P.string(p, "transfer_group"),
    )
    return page(st, filter_created(items, p), p, "/v1/transfers")


def create_reversal(st: State, ctx: Ctx, transfer: str) -> dict[str, Any]:
    p = ctx.params
    P.check_known(p, {"amount", "metadata", "description", "refund_application_fee"})
    obj = _transfer(st, ctx, transfer)
    remaining = obj["amount"] - obj["amount_reversed"]
    if remaining == 0:
        raise invalid(f"Transfer {transfer} has already been fully reversed.", "amount")
    amount = P.amount(p, required=False) or remaining
    if amount > remaining:
        raise invalid(
            f"Reversal amount ({amount}) is greater than the amount remaining on "
            f"the transfer ({remaining}).",
            "amount",
        )
    cur, dest = obj["currency"], obj["destination"]
    # Money still pending on the transfer comes back pending too, so balances stay consistent.
    pending_until = st.objects[obj["balance_transaction"]]["available_on"]
    available_on = pending_until if pending_until > now() else None
    payment = st.objects[obj["destination_payment"]]
    # As on Stripe, the destination must have the money: a reversal of settled funds needs
    # that much in its available balance (it may have been paid out or spent since).
    if available_on is None and available(st, dest, cur) < amount:
        raise balance_insufficient(
            f"The destination account {dest} has insufficient available funds to cover "
            f"this transfer reversal of {amount} {cur}."
        )
    refund: dict[str, Any] = {
        "id": new_id("pyr"),
        "object": "refund",
        "amount": amount,
        "balance_transaction": None,
        "charge": payment["id"],
        "created": now(),
        "currency": cur,
        "metadata": {},
        "payment_intent": None,
        "reason": None,
        "status": "succeeded",
    }
    st.put(refund, dest)
    refund["balance_transaction"] = add_txn(
        st,
        dest,
        amount=-amount,
        currency=cur,
        type="payment_refund",
        source=refund["id"],
        available_on=available_on,
    )["id"]
    payment["amount_refunded"] += amount
    payment["refunded"] = payment["amount_refunded"] == payment["amount"]
    reversal_id = new_id("trr")
    back = add_txn(
        st,
        ctx.account,
        amount=amount,
        currency=cur,
        type="transfer_refund",
        source=reversal_id,
        available_on=available_on,
    )
    reversal: dict[str, Any] = {
        "id": reversal_id,
        "object": "transfer_reversal",
        "amount": amount,
        "balance_transaction": back["id"],
        "created": now(),
        "currency": cur,
        "destination_payment_refund": refund["id"],
        "metadata": P.metadata(p),
        "source_refund": None,
        "transfer": obj["id"],
    }
    st.put(reversal, ctx.account)
    previous = {"amount_reversed": obj["amount_reversed"], "reversed": obj["reversed"]}
    obj["amount_reversed"] += amount
    obj["reversed"] = obj["amount_reversed"] == obj["amount"]
    obj["reversals"]["data"].insert(0, public(reversal))
    obj["reversals"]["total_count"] += 1
    emit(st, ctx, "transfer.reversed", obj, ctx.account, previous)
    return public(reversal)


def list_reversals(st: State, ctx: Ctx, transfer: str) -> dict[str, Any]:
    _transfer(st, ctx, transfer)
    items = st.find("transfer_reversal", ctx.account, transfer=transfer)
    return page(st, items, ctx.params, f"/v1/transfers/{transfer}/reversals")


def get_reversal(st: State, ctx: Ctx, transfer: str, reversal: str) -> dict[str, Any]:
    obj = st.get(reversal, "transfer_reversal", ctx.account, label="transfer reversal")
    if obj["transfer"] != transfer:
        raise no_such("transfer reversal", reversal, "id", 404)
    return public(obj)


ROUTES: list[Route] = [
    ("POST", "/v1/transfers", create_transfer),
    ("GET", "/v1/transfers", list_transfers),
    ("GET", "/v1/transfers/{transfer}", get_transfer),
    ("POST", "/v1/transfers/{transfer}", update_transfer),
    ("POST", "/v1/transfers/{transfer}/reversals", create_reversal),
    ("GET", "/v1/transfers/{transfer}/reversals", list_reversals),
    ("GET", "/v1/transfers/{transfer}/reversals/{reversal}", get_reversal),
]
