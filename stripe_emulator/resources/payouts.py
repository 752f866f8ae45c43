"""Manual payouts from an account's available balance to its bank account."""

from typing import Any

from stripe_emulator import params as P
from stripe_emulator.errors import invalid
from stripe_emulator.resources.balance import add_txn, available
from stripe_emulator.resources.events import emit
from stripe_emulator.resources.transfers import balance_insufficient
from stripe_emulator.state import Ctx, Route, State, filter_created, new_id, now, page, public

FAILURE_MESSAGES = {
    "account_closed": "The bank account has been closed.",
    "no_account": "The bank account details on file are probably incorrect. No bank account "
    "could be located with those details.",
    "insufficient_funds": "Your Stripe account has insufficient funds to cover the payout.",
}
PLATFORM_BANK = "ba_emulatorplatformbank0000"


def create_payout(st: State, ctx: Ctx) -> dict[str, Any]:
    p = ctx.params
    P.check_known(
        p,
        {
            "amount",
            "currency",
            "description",
            "metadata",
            "method",
            "statement_descriptor",
            "destination",
            "source_type",
        },
    )
    amount = P.amount(p)
    assert amount is not None
    cur = P.currency(p)
    if P.string(p, "method", choices=("standard", "instant")) == "instant":
        raise invalid("The emulator supports only standard payouts.", "method")
    destination = PLATFORM_BANK
    if ctx.account:
        account = st.objects[ctx.account]
        banks = account["external_accounts"]["data"]
        if not account["payouts_enabled"] or not banks:
            raise invalid(
                "Payouts are not enabled for this account: it has not finished "
                "onboarding or has no external account.",
                None,
                "payouts_not_allowed",
            )
        destination = banks[0]["id"]
    if available(st, ctx.account, cur) < amount:
        raise balance_insufficient()
    payout: dict[str, Any] = {
        "id": new_id("po"),
        "object": "payout",
        "amount": amount,
        "application_fee": None,
        "application_fee_amount": None,
        "arrival_date": now() + 86400,
        "automatic": False,
        "balance_transaction": None,
        "created": now(),
        "currency": cur,
        "description": P.string(p, "description"),
        "destination": destination,
        "failure_balance_transaction": None,
        "failure_code": None,
        "failure_message": None,
        "livemode": False,
        "metadata": P.metadata(p),
        "method": "standard",
        "original_payout": None,
        "reconciliation_status": "not_applicable",
        "reversed_by": None,
        "source_type": "card",
        "statement_descriptor": P.string(p, "statement_descriptor"),
        "status": "pending",
        "type": "bank_account",
    }
    st.put(payout, ctx.account)
    payout["balance_transaction"] = add_txn(
        st,
        ctx.account,
        amount=-amount,
        currency=cur,
        type="payout",
        source=payout["id"],
        description="STRIPE PAYOUT",
    )["id"]
    emit(st, ctx, "payout.created", payout, ctx.account)
    return public(payout)


def settle_payouts(
    st: State, ctx: Ctx | None, owner: str | None, everyone: bool, *, arrived_only: bool = False
) -> list[dict[str, Any]]:
    """The bank answers: pending payouts become paid, or failed (funds returned) when the
    control switch ``payout_failure_code`` is set. ``arrived_only``: just those whose
    ``arrival_date`` has come (the clock moved past it)."""
    code = st.config["payout_failure_code"]
    settled = []
    t = now()
    for payout in [o for o in st.objects.values() if o["object"] == "payout"]:
        if payout["status"] != "pending" or not (everyone or payout["_account"] == owner):
            continue
        if arrived_only and payout["arrival_date"] > t:
            continue
        account = payout["_account"]
        if code:
            txn = add_txn(
                st,
                account,
                amount=payout["amount"],
                currency=payout["currency"],
                type="payout_failure",
                source=payout["id"],
                description="STRIPE PAYOUT FAILURE",
            )
            payout.update(
                status="failed",
                failure_code=code,
                failure_message=FAILURE_MESSAGES.get(
                    code, "The bank could not process this payout."
                ),
                failure_balance_transaction=txn["id"],
            )
            emit(st, ctx, "payout.failed", payout, account)
        else:
            payout["status"] = "paid"
            emit(st, ctx, "payout.paid", payout, account)
        settled.append(payout)
    return settled


def get_payout(st: State, ctx: Ctx, payout: str) -> dict[str, Any]:
    return public(st.get(payout, "payout", ctx.account))


def list_payouts(st: State, ctx: Ctx) -> dict[str, Any]:
    p = ctx.params
    items = st.find("payout", ctx.account, status=P.string(p, "status"))
    return page(st, filter_created(items, p), p, "/v1/payouts")


ROUTES: list[Route] = [
    ("POST", "/v1/payouts", create_payout),
    ("GET", "/v1/payouts", list_payouts),
    ("GET", "/v1/payouts/{payout}", get_payout),
]
