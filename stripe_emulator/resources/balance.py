"""The ledger: balance transactions (txn_) for every movement, and balances derived from them.

A balance is never stored: it is the sum of the nets of an account's balance transactions,
split by status. Charges land ``pending`` and turn ``available`` once ``available_on``
passes (see ``settle_due``), which is how Stripe's settlement timing looks from the API.
"""

from typing import Any

from stripe_emulator import params as P
from stripe_emulator.state import Ctx, Route, State, filter_created, new_id, now, page, public

# Stripe's reporting_category for each balance transaction type we create.
CATEGORY = {
    "charge": "charge",
    "payment": "charge",
    "refund": "refund",
    "refund_failure": "refund_failure",
    "payment_refund": "refund",
    "transfer": "transfer",
    "transfer_refund": "transfer_reversal",
    "payout": "payout",
    "payout_failure": "payout_reversal",
    "payout_cancel": "payout_reversal",
    "adjustment": "dispute",
}


def card_fee(st: State, amount: int) -> int:
    bps, fixed = st.config["card_fee_bps"], st.config["card_fee_fixed"]
    return (amount * bps + 5000) // 10000 + fixed  # rounded half up, like Stripe's pricing


def add_txn(
    st: State,
    owner: str | None,
    *,
    amount: int,
    currency: str,
    type: str,
    source: str,
    fee: int = 0,
    fee_description: str = "Stripe processing fees",
    available_on: int | None = None,
    description: str | None = None,
    category: str | None = None,
    pending: bool | None = None,
) -> dict[str, Any]:
    """Record one movement of ``amount`` (signed, minor units) on ``owner``'s balance.

    Without ``available_on`` the movement is available at once (debits, transfers out of
    available funds); with a future one it stays pending until then. A charge lands
    pending even when due now, unless ``pending=False`` (the bypass-pending test card).
    """
    created = now()
    available_on = created if available_on is None else available_on
    txn = {
        "id": new_id("txn"),
        "object": "balance_transaction",
        "amount": amount,
        "available_on": available_on,
        "created": created,
        "currency": currency,
        "description": description,
        "exchange_rate": None,
        "fee": fee,
        "fee_details": [
            {
                "amount": fee,
                "application": None,
                "currency": currency,
                "description": fee_description,
                "type": "stripe_fee",
            }
        ]
        if fee
        else [],
        "net": amount - fee,
        "reporting_category": category or CATEGORY[type],
        "source": source,
        # Charges always land pending, even with a zero delay, as on Stripe.
        "status": "pending"
        if available_on > created or (pending if pending is not None else type == "charge")
        else "available",
        "type": type,
    }
    return st.put(txn, owner)


def settle_due(st: State) -> None:
    """Flip pending transactions whose ``available_on`` has passed to available."""
    t = now()
    for txn in list(st.pending_txns.values()):
        if txn["available_on"] <= t:
            txn["status"] = "available"
            del st.pending_txns[txn["id"]]


def make_all_available(st: State, owner: str | None = None, everyone: bool = True) -> int:
    """Control API: make pending funds available now (for one account or all)."""
    count, t = 0, now()
    for txn in list(st.pending_txns.values()):
        if everyone or txn["_account"] == owner:
            txn["status"], txn["available_on"] = "available", min(txn["available_on"], t)
            del st.pending_txns[txn["id"]]
            count += 1
    return count


def amounts(st: State, owner: str | None, status: str) -> dict[str, int]:
    """Net totals per currency of ``owner``'s pending or available funds."""
    pending: dict[str, int] = {}
    pending_count: dict[str, int] = {}
    for txn in st.pending_txns.values():
        if txn["_account"] == owner:
            pending[txn["currency"]] = pending.get(txn["currency"], 0) + txn["net"]
            pending_count[txn["currency"]] = pending_count.get(txn["currency"], 0) + 1
    if status == "pending":
        return pending
    return {
        currency: total - pending.get(currency, 0)
        for (account, currency), total in st.net_totals.items()
        if account == owner and st.txn_counts[account, currency] > pending_count.get(currency, 0)
    }


def available(st: State, owner: str | None, currency: str) -> int:
    return amounts(st, owner, "available").get(currency, 0)


def default_currency(st: State, owner: str | None) -> str:
    return st.objects[owner]["default_currency"] if owner else "usd"


def get_balance(st: State, ctx: Ctx) -> dict[str, Any]:
    def entries(status: str) -> list[dict[str, Any]]:
        totals = amounts(st, ctx.account, status) or {default_currency(st, ctx.account): 0}
        return [
            {"amount": v, "currency": c, "source_types": {"card": v}}
            for c, v in sorted(totals.items())
        ]

    return {
        "object": "balance",
        "available": entries("available"),
        "livemode": False,
        "pending": entries("pending"),
    }


def list_txns(st: State, ctx: Ctx) -> dict[str, Any]:
    p = ctx.params
    P.check_known(
        p,
        {
            "payout",
            "type",
            "source",
            "currency",
            "created",
            "limit",
            "starting_after",
            "ending_before",
        },
    )
    items = st.find(
        "balance_transaction",
        ctx.account,
        type=P.string(p, "type"),
        source=P.string(p, "source"),
        currency=P.string(p, "currency"),
    )
    payout = P.string(p, "payout")
    if payout:
        # Manual payouts don't reconcile charges; Stripe lists just the payout's own txns.
        st.get(payout, "payout", ctx.account, param="payout", status=400)
        items = [t for t in items if t["source"] == payout]
    return page(st, filter_created(items, p), p, "/v1/balance_transactions")


def get_txn(st: State, ctx: Ctx, txn: str) -> dict[str, Any]:
    return public(st.get(txn, "balance_transaction", ctx.account, label="balance transaction"))


ROUTES: list[Route] = [
    ("GET", "/v1/balance", get_balance),
    ("GET", "/v1/balance_transactions", list_txns),
    ("GET", "/v1/balance_transactions/{txn}", get_txn),
]
