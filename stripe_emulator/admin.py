"""The control API under /_emulator/ (JSON in and out, no auth): what a test or a demo
operator does that on Stripe would be the dashboard, the card network or the bank."""

from typing import Any

from stripe_emulator.errors import invalid, no_such
from stripe_emulator.resources.accounts import complete_onboarding
from stripe_emulator.resources.balance import make_all_available, settle_due
from stripe_emulator.resources.checkout import decline_session, expire, pay_session
from stripe_emulator.resources.disputes import close_dispute, open_dispute
from stripe_emulator.resources.events import register_endpoint
from stripe_emulator.resources.payments import DECLINE_MESSAGES
from stripe_emulator.resources.payouts import settle_payouts, sweep_automatic_payouts
from stripe_emulator.resources.refunds import settle_refund
from stripe_emulator.state import (
    DEFAULT_CONFIG,
    Ctx,
    Route,
    State,
    clock_offset,
    clock_set_offset,
    now,
    public,
)

FAULT_MODES = ("api_error", "rate_limit", "lock_timeout", "timeout", "drop", "delay")
_CHOICES = {
    "webhook_order": ("normal", "reverse", "shuffle"),
    "decline_reason": tuple(DECLINE_MESSAGES),
}


def _find(st: State, object_id: Any, kind: str) -> dict[str, Any]:
    """Any account's object: the control API sees everything."""
    obj = st.objects.get(object_id) if isinstance(object_id, str) else None
    if obj is None or obj["object"] != kind:
        raise no_such(kind, str(object_id), "id", 404)
    return obj


def _account_filter(p: dict[str, Any]) -> tuple[str | None, bool]:
    """``{"account": "acct_..."}`` targets one account, ``{"account": null}`` the platform,
    and leaving it out targets all."""
    return p.get("account"), "account" not in p


def reset(st: State, ctx: Ctx) -> dict[str, Any]:
    st.reset()
    ctx.deliverer.clear()
    return {"ok": True}


def get_config(st: State, ctx: Ctx) -> dict[str, Any]:
    return dict(st.config)


def set_config(st: State, ctx: Ctx) -> dict[str, Any]:
    for key, value in ctx.params.items():
        if key not in DEFAULT_CONFIG:
            raise invalid(f"Unknown config key: {key}", key)
        default = DEFAULT_CONFIG[key]
        numeric = isinstance(default, (int, float)) and not isinstance(default, bool)
        if numeric and (isinstance(value, bool) or not isinstance(value, (int, float))):
            raise invalid(f"{key} must be a number", key)
        if isinstance(default, bool) and not isinstance(value, bool):
            raise invalid(f"{key} must be true or false", key)
        if key in _CHOICES and value not in _CHOICES[key]:
            raise invalid(f"{key} must be one of {', '.join(_CHOICES[key])}", key)
    st.config.update(ctx.params)
    ctx.after.append(ctx.deliverer.wake)  # e.g. resumed delivery starts at once
    return dict(st.config)


def add_fault(st: State, ctx: Ctx) -> dict[str, Any]:
    p = ctx.params
    if p.get("mode") not in FAULT_MODES:
        raise invalid(f"mode must be one of {', '.join(FAULT_MODES)}", "mode")
    fault = {
        "mode": p["mode"],
        "count": int(p.get("count") or 1),
        "method": p.get("method"),
        "path": p.get("path"),
        "seconds": float(p.get("seconds") or 5),  # default: past most clients' timeouts
    }
    st.faults.append(fault)
    return {"data": st.faults}


def list_faults(st: State, ctx: Ctx) -> dict[str, Any]:
    return {"data": st.faults}


def clear_faults(st: State, ctx: Ctx) -> dict[str, Any]:
    st.faults.clear()
    return {"data": []}


def make_available(st: State, ctx: Ctx) -> dict[str, Any]:
    return {"updated": make_all_available(st, *_account_filter(ctx.params))}


def complete_checkout(st: State, ctx: Ctx, session: str) -> dict[str, Any]:
    obj = _find(st, session, "checkout.session")
    p = ctx.params
    error = pay_session(st, ctx, obj, p.get("card") or "4242424242424242", p.get("email"))
    if error is not None:
        raise error
    return public(obj)


def decline_checkout(st: State, ctx: Ctx, session: str) -> dict[str, Any]:
    obj = _find(st, session, "checkout.session")
    decline_session(st, ctx, obj, ctx.params.get("card") or "4000000000000002")
    return public(obj)


def expire_checkout(st: State, ctx: Ctx, session: str) -> dict[str, Any]:
    obj = _find(st, session, "checkout.session")
    if obj["status"] != "open":
        raise invalid(f"This Checkout Session is {obj['status']}.", "session")
    expire(st, ctx, obj)
    return public(obj)


def create_dispute(st: State, ctx: Ctx) -> dict[str, Any]:
    p = ctx.params
    amount = p.get("amount")
    if amount is not None and (isinstance(amount, bool) or not isinstance(amount, int)):
        raise invalid("amount must be an integer", "amount")
    return public(
        open_dispute(st, ctx, str(p.get("charge")), amount, p.get("reason", "fraudulent"))
    )


def finish_dispute(st: State, ctx: Ctx, dispute: str) -> dict[str, Any]:
    obj = _find(st, dispute, "dispute")
    close_dispute(st, ctx, obj, str(ctx.params.get("outcome")))
    return public(obj)


def finish_refund(st: State, ctx: Ctx, refund: str) -> dict[str, Any]:
    obj = _find(st, refund, "refund")
    settle_refund(st, ctx, obj, str(ctx.params.get("outcome") or "succeeded"))
    return public(obj)


def settle(st: State, ctx: Ctx) -> dict[str, Any]:
    return {"data": [public(p) for p in settle_payouts(st, ctx, *_account_filter(ctx.params))]}


def onboard(st: State, ctx: Ctx, account: str) -> dict[str, Any]:
    obj = _find(st, account, "account")
    complete_onboarding(st, ctx, obj)
    return public(obj)


def get_clock(st: State, ctx: Ctx) -> dict[str, Any]:
    return {"now": now(), "offset_seconds": clock_offset()}


def advance_clock(st: State, ctx: Ctx) -> dict[str, Any]:
    """Move the emulator's clock forward to ``advance_to`` (a Unix time), like advancing a
    Stripe test clock: pending funds due by then become available and payouts due by then
    arrive. A time before the emulator's current time changes nothing (never back)."""
    target = ctx.params.get("advance_to")
    if isinstance(target, bool) or not isinstance(target, int):
        raise invalid("advance_to must be a Unix time in seconds", "advance_to")
    if target > now():
        clock_set_offset(target - (now() - clock_offset()))
        st.clock_offset = clock_offset()
    settle_due(st)
    sweep_automatic_payouts(st)
    arrived = settle_payouts(st, ctx, None, True, arrived_only=True)
    return {"now": now(), "offset_seconds": clock_offset(), "payouts_arrived": len(arrived)}


def request_log(st: State, ctx: Ctx) -> dict[str, Any]:
    return {"data": list(st.request_log)}


def clear_request_log(st: State, ctx: Ctx) -> dict[str, Any]:
    st.request_log.clear()
    return {"data": []}


def counts(st: State, ctx: Ctx) -> dict[str, Any]:
    totals: dict[str, int] = {}
    for obj in st.objects.values():
        totals[obj["object"]] = totals.get(obj["object"], 0) + 1
    return totals


def add_endpoint(st: State, ctx: Ctx) -> dict[str, Any]:
    p = ctx.params
    if not isinstance(p.get("url"), str):
        raise invalid("url is required", "url")
    connect = p.get("connect")
    if connect not in (None, True, False):
        raise invalid("connect must be true, false or null (both)", "connect")
    endpoint = register_endpoint(
        st, p["url"], p.get("secret"), list(p.get("enabled_events") or ["*"]), connect
    )
    return public(endpoint) | {"secret": endpoint["_secret"]}


def flush_webhooks(st: State, ctx: Ctx) -> dict[str, Any]:
    ctx.after.append(ctx.deliverer.flush)  # sending needs the state lock released
    return {"ok": True}


def deliveries(st: State, ctx: Ctx) -> dict[str, Any]:
    return {"data": ctx.deliverer.deliveries(), "queued": ctx.deliverer.pending()}


ROUTES: list[Route] = [
    ("POST", "/_emulator/reset", reset),
    ("GET", "/_emulator/config", get_config),
    ("POST", "/_emulator/config", set_config),
    ("GET", "/_emulator/faults", list_faults),
    ("POST", "/_emulator/faults", add_fault),
    ("DELETE", "/_emulator/faults", clear_faults),
    ("POST", "/_emulator/balances/available", make_available),
    ("POST", "/_emulator/checkout/sessions/{session}/complete", complete_checkout),
    ("POST", "/_emulator/checkout/sessions/{session}/decline", decline_checkout),
    ("POST", "/_emulator/checkout/sessions/{session}/expire", expire_checkout),
    ("POST", "/_emulator/disputes", create_dispute),
    ("POST", "/_emulator/disputes/{dispute}/close", finish_dispute),
    ("POST", "/_emulator/payouts/settle", settle),
    ("POST", "/_emulator/refunds/{refund}/settle", finish_refund),
    ("POST", "/_emulator/accounts/{account}/onboard", onboard),
    ("GET", "/_emulator/clock", get_clock),
    ("POST", "/_emulator/clock/advance", advance_clock),
    ("GET", "/_emulator/requests", request_log),
    ("DELETE", "/_emulator/requests", clear_request_log),
    ("GET", "/_emulator/counts", counts),
    ("POST", "/_emulator/webhook_endpoints", add_endpoint),
    ("POST", "/_emulator/webhooks/flush", flush_webhooks),
    ("GET", "/_emulator/webhooks/deliveries", deliveries),
]
