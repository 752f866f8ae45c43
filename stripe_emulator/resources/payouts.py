"""Payouts from an account's available balance to its bank account: manual ones through the
API, and the automatic ones Stripe makes on a connected account's payout schedule
(``settings.payouts.schedule``: daily by default, weekly, monthly or manual)."""

import calendar
import time
from typing import Any

from stripe_emulator import params as P
from stripe_emulator.errors import invalid
from stripe_emulator.resources.balance import add_txn, amounts, available
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


def _new_payout(
    st: State,
    ctx: Ctx | None,
    owner: str | None,
    amount: int,
    cur: str,
    destination: str,
    *,
    automatic: bool = False,
    description: str | None = None,
    metadata: dict[str, str] | None = None,
    statement_descriptor: str | None = None,
) -> dict[str, Any]:
    payout: dict[str, Any] = {
        "id": new_id("po"),
        "object": "payout",
        "amount": amount,
        "application_fee": None,
        "application_fee_amount": None,
        "arrival_date": now() + 86400,
        "automatic": automatic,
        "balance_transaction": None,
        "created": now(),
        "currency": cur,
        "description": description,
        "destination": destination,
        "failure_balance_transaction": None,
        "failure_code": None,
        "failure_message": None,
        "livemode": False,
        "metadata": metadata or {},
        "method": "standard",
        "original_payout": None,
        "reconciliation_status": "in_progress" if automatic else "not_applicable",
        "reversed_by": None,
        "source_type": "card",
        "statement_descriptor": statement_descriptor,
        "status": "pending",
        "type": "bank_account",
    }
    st.put(payout, owner)
    payout["balance_transaction"] = add_txn(
        st,
        owner,
        amount=-amount,
        currency=cur,
        type="payout",
        source=payout["id"],
        description="STRIPE PAYOUT",
    )["id"]
    emit(st, ctx, "payout.created", payout, owner)
    return payout


# -- automatic payouts -----------------------------------------------------------------
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


def next_payout_time(schedule: dict[str, Any], after: int) -> int | None:
    """The next midnight (UTC, emulator time) after ``after`` on which the schedule pays out;
    None for manual payouts."""
    interval = schedule.get("interval")
    if interval not in ("daily", "weekly", "monthly"):
        return None
    day = after - after % 86400 + 86400  # the next midnight
    for _ in range(62):
        tm = time.gmtime(day)
        if interval == "daily":
            return day
        if interval == "weekly" and WEEKDAYS[tm.tm_wday] == schedule.get("weekly_anchor"):
            return day
        if interval == "monthly":
            last = calendar.monthrange(tm.tm_year, tm.tm_mon)[1]
            if tm.tm_mday == min(int(schedule.get("monthly_anchor") or 1), last):
                return day
        day += 86400
    return None


def schedule_account(st: State, account: dict[str, Any]) -> None:
    """(Re)compute when an account's next automatic payout is due."""
    due = next_payout_time(account["settings"]["payouts"]["schedule"], now())
    account["_next_payout_at"] = due
    if due is not None:
        st.sweep_at = min(st.sweep_at, due) if st.sweep_at else due


def sweep_automatic_payouts(st: State) -> list[dict[str, Any]]:
    """Stripe's automatic payouts: on each due date, an account on a daily, weekly or monthly
    schedule has its whole available balance (per currency) paid to its bank account."""
    t = now()
    if not st.sweep_at or st.sweep_at > t:
        return []
    made: list[dict[str, Any]] = []
    st.sweep_at = 0
    for account in list(st.by_kind.get(("account", None), {}).values()):
        due = account.get("_next_payout_at")
        if due is not None and due <= t:
            banks = account["external_accounts"]["data"]
            if account["payouts_enabled"] and banks:
                for cur, amount in sorted(amounts(st, account["id"], "available").items()):
                    if amount > 0:
                        made.append(
                            _new_payout(
                                st, None, account["id"], amount, cur, banks[0]["id"], automatic=True
                            )
                        )
            schedule_account(st, account)
        elif due is not None:
            st.sweep_at = min(st.sweep_at, due) if st.sweep_at else due
    return made


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
    payout = _new_payout(
        st,
        ctx,
        ctx.account,
        amount,
        cur,
        destination,
        description=P.string(p, "description"),
        metadata=P.metadata(p),
        statement_descriptor=P.string(p, "statement_descriptor"),
    )
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


def cancel_payout(st: State, ctx: Ctx, payout: str) -> dict[str, Any]:
    """A pending payout is canceled before the bank has it: the funds come back."""
    obj = st.get(payout, "payout", ctx.account)
    if obj["status"] != "pending":
        raise invalid(
            f"Payouts can only be canceled while they are pending; {payout} is {obj['status']}.",
            None,
        )
    txn = add_txn(
        st,
        ctx.account,
        amount=obj["amount"],
        currency=obj["currency"],
        type="payout_cancel",
        source=obj["id"],
        description="STRIPE PAYOUT CANCELLATION",
    )
    previous = {"status": "pending"}
    obj.update(status="canceled", failure_balance_transaction=txn["id"])
    emit(st, ctx, "payout.canceled", obj, ctx.account, previous)
    return public(obj)


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
    ("POST", "/v1/payouts/{payout}/cancel", cancel_payout),
]
