"""Customers, payment methods, payment intents and charges.

``succeed_payment`` and ``decline_payment`` are shared by PaymentIntent confirmation and
the hosted Checkout page, so both produce the same charge, ledger entry and events.
"""

import secrets
import time
from typing import Any

from stripe_emulator import params as P
from stripe_emulator.errors import StripeError, invalid
from stripe_emulator.resources.balance import add_txn, card_fee
from stripe_emulator.resources.events import emit
from stripe_emulator.state import Ctx, Route, State, new_id, now, page, public

# Stripe's test cards that decline, and its magic test PaymentMethod ids.
DECLINING_CARDS = {"4000000000000002": "generic_decline", "4000000000009995": "insufficient_funds"}
TEST_PAYMENT_METHODS = {
    "pm_card_visa": "4242424242424242",
    "pm_card_chargeDeclined": "4000000000000002",
    "pm_card_chargeDeclinedInsufficientFunds": "4000000000009995",
    "pm_card_bypassPending": "4000000000000077",
}
# Stripe's test card whose charge funds skip pending and are available at once.
AVAILABLE_AT_ONCE_CARDS = {"4000000000000077"}
DECLINE_MESSAGES = {
    "generic_decline": "Your card was declined.",
    "insufficient_funds": "Your card has insufficient funds.",
}


# -- customers -------------------------------------------------------------------------
CUSTOMER_PARAMS = {"email", "name", "description", "metadata", "phone"}


def new_customer(
    st: State, owner: str | None, email: str | None, name: str | None = None
) -> dict[str, Any]:
    customer = {
        "id": new_id("cus"),
        "object": "customer",
        "address": None,
        "balance": 0,
        "created": now(),
        "currency": None,
        "default_source": None,
        "delinquent": False,
        "description": None,
        "email": email,
        "invoice_settings": {"custom_fields": None, "default_payment_method": None, "footer": None},
        "livemode": False,
        "metadata": {},
        "name": name,
        "phone": None,
        "shipping": None,
    }
    return st.put(customer, owner)


def create_customer(st: State, ctx: Ctx) -> dict[str, Any]:
    P.check_known(ctx.params, CUSTOMER_PARAMS)
    customer = new_customer(st, ctx.account, None)
    _apply_customer(customer, ctx.params)
    emit(st, ctx, "customer.created", customer, ctx.account)
    return public(customer)


def _apply_customer(customer: dict[str, Any], p: dict[str, Any]) -> None:
    for key in ("email", "name", "description", "phone"):
        if key in p:
            customer[key] = P.string(p, key)
    customer["metadata"] = P.metadata(p, customer["metadata"])


def update_customer(st: State, ctx: Ctx, customer: str) -> dict[str, Any]:
    P.check_known(ctx.params, CUSTOMER_PARAMS)
    obj = st.get(customer, "customer", ctx.account)
    _apply_customer(obj, ctx.params)
    emit(st, ctx, "customer.updated", obj, ctx.account)
    return public(obj)


def get_customer(st: State, ctx: Ctx, customer: str) -> dict[str, Any]:
    return public(st.get(customer, "customer", ctx.account))


def list_customers(st: State, ctx: Ctx) -> dict[str, Any]:
    items = st.find("customer", ctx.account, email=P.string(ctx.params, "email"))
    return page(st, items, ctx.params, "/v1/customers")


# -- payment methods -------------------------------------------------------------------
def new_payment_method(
    st: State, owner: str | None, number: str, customer: str | None = None, email: str | None = None
) -> dict[str, Any]:
    year = time.gmtime().tm_year + 3
    pm = {
        "id": new_id("pm"),
        "object": "payment_method",
        "allow_redisplay": "unspecified",
        "billing_details": {"address": None, "email": email, "name": None, "phone": None},
        "card": {
            "brand": "visa",
            "checks": {"cvc_check": "pass"},
            "country": "US",
            "display_brand": "visa",
            "exp_month": 12,
            "exp_year": year,
            "fingerprint": secrets.token_hex(8),
            "funding": "credit",
            "last4": number[-4:],
            "networks": {"available": ["visa"], "preferred": None},
        },
        "created": now(),
        "customer": customer,
        "livemode": False,
        "metadata": {},
        "type": "card",
        "_decline": DECLINING_CARDS.get(number),  # which decline this test card triggers
        "_bypass_pending": number in AVAILABLE_AT_ONCE_CARDS,  # funds available at once
    }
    return st.put(pm, owner)


def _payment_method(st: State, ctx: Ctx, pm_id: Any) -> dict[str, Any]:
    """Look up a PaymentMethod, accepting Stripe's magic test ids such as pm_card_visa."""
    if pm_id in TEST_PAYMENT_METHODS:
        return new_payment_method(st, ctx.account, TEST_PAYMENT_METHODS[pm_id])
    return st.get(
        pm_id,
        "payment_method",
        ctx.account,
        param="payment_method",
        status=400,
        label="PaymentMethod",
    )


def attach_payment_method(st: State, ctx: Ctx, pm: str) -> dict[str, Any]:
    P.check_known(ctx.params, {"customer"})
    customer = st.get(
        P.string(ctx.params, "customer", required=True),
        "customer",
        ctx.account,
        param="customer",
        status=400,
    )
    obj = _payment_method(st, ctx, pm)
    if obj["customer"] and obj["customer"] != customer["id"]:
        raise invalid(
            "The payment method you provided has already been attached to a customer.",
            "payment_method",
        )
    obj["customer"] = customer["id"]
    emit(st, ctx, "payment_method.attached", obj, ctx.account)
    return public(obj)


def get_payment_method(st: State, ctx: Ctx, pm: str) -> dict[str, Any]:
    return public(st.get(pm, "payment_method", ctx.account, label="PaymentMethod"))


def list_payment_methods(st: State, ctx: Ctx) -> dict[str, Any]:
    p = ctx.params
    customer = P.string(p, "customer")
    if customer:
        st.get(customer, "customer", ctx.account, param="customer", status=400)
    items = st.find("payment_method", ctx.account, customer=customer, type=P.string(p, "type"))
    return page(st, items, p, "/v1/payment_methods")


def list_customer_payment_methods(st: State, ctx: Ctx, customer: str) -> dict[str, Any]:
    st.get(customer, "customer", ctx.account)
    items = st.find(
        "payment_method", ctx.account, customer=customer, type=P.string(ctx.params, "type")
    )
    return page(st, items, ctx.params, f"/v1/customers/{customer}/payment_methods")


# -- payment intents and charges -------------------------------------------------------
def new_intent(
    st: State, owner: str | None, amount: int, currency: str, **fields: Any
) -> dict[str, Any]:
    pi_id = new_id("pi")
    pi = {
        "id": pi_id,
        "object": "payment_intent",
        "amount": amount,
        "amount_capturable": 0,
        "amount_received": 0,
        "application": None,
        "application_fee_amount": None,
        "automatic_payment_methods": None,
        "canceled_at": None,
        "cancellation_reason": None,
        "capture_method": "automatic",
        "client_secret": f"{pi_id}_secret_{new_id('x')[2:]}",
        "confirmation_method": "automatic",
        "created": now(),
        "currency": currency,
        "customer": None,
        "description": None,
        "last_payment_error": None,
        "latest_charge": None,
        "livemode": False,
        "metadata": {},
        "next_action": None,
        "on_behalf_of": None,
        "payment_method": None,
        "payment_method_types": ["card"],
        "receipt_email": None,
        "setup_future_usage": None,
        "statement_descriptor": None,
        "status": "requires_payment_method",
        "transfer_data": None,
        "transfer_group": None,
    }
    pi.update(fields)
    return st.put(pi, owner)


def _new_charge(
    st: State, pi: dict[str, Any], pm: dict[str, Any], owner: str | None, failure: str | None
) -> dict[str, Any]:
    paid = failure is None
    charge = {
        "id": new_id("ch"),
        "object": "charge",
        "amount": pi["amount"],
        "amount_captured": pi["amount"] if paid else 0,
        "amount_refunded": 0,
        "application_fee": None,
        "application_fee_amount": None,
        "balance_transaction": None,
        "billing_details": pm["billing_details"],
        "captured": paid,
        "created": now(),
        "currency": pi["currency"],
        "customer": pi["customer"],
        "description": pi["description"],
        "disputed": False,
        "failure_code": "card_declined" if failure else None,
        "failure_message": DECLINE_MESSAGES[failure] if failure else None,
        "livemode": False,
        "metadata": dict(pi["metadata"]),
        "outcome": {
            "network_status": "approved_by_network" if paid else "declined_by_network",
            "reason": failure,
            "risk_level": "normal",
            "seller_message": "Payment complete."
            if paid
            else "The bank did not return any further details with this decline.",
            "type": "authorized" if paid else "issuer_declined",
        },
        "paid": paid,
        "payment_intent": pi["id"],
        "payment_method": pm["id"],
        "payment_method_details": {
            "card": {
                k: pm["card"][k]
                for k in ("brand", "country", "exp_month", "exp_year", "funding", "last4")
            },
            "type": "card",
        },
        "receipt_url": None,
        "refunded": False,
        "source_transfer": None,
        "status": "succeeded" if paid else "failed",
        "transfer_group": pi["transfer_group"],
    }
    return st.put(charge, owner)


def succeed_payment(
    st: State, ctx: Ctx | None, pi: dict[str, Any], pm: dict[str, Any]
) -> dict[str, Any]:
    """Charge the card: a captured charge, a ``charge`` ledger entry with the fee, pending
    until ``available_on`` (now + ``available_delay_seconds``), or available at once for
    Stripe's test card 4000000000000077."""
    owner = pi["_account"]
    charge = _new_charge(st, pi, pm, owner, None)
    at_once = bool(pm.get("_bypass_pending"))
    txn = add_txn(
        st,
        owner,
        amount=charge["amount"],
        currency=charge["currency"],
        type="charge",
        source=charge["id"],
        fee=card_fee(st, charge["amount"]),
        available_on=now() if at_once else now() + int(st.config["available_delay_seconds"]),
        description=charge["description"],
        pending=not at_once,
    )
    charge["balance_transaction"] = txn["id"]
    pi.update(
        status="succeeded",
        amount_received=pi["amount"],
        latest_charge=charge["id"],
        payment_method=pm["id"],
        last_payment_error=None,
    )
    emit(st, ctx, "charge.succeeded", charge, owner)
    emit(st, ctx, "payment_intent.succeeded", pi, owner)
    return charge


def decline_payment(
    st: State, ctx: Ctx | None, pi: dict[str, Any], pm: dict[str, Any], reason: str
) -> StripeError:
    """A declined attempt: a failed charge, the intent back to requires_payment_method."""
    owner = pi["_account"]
    charge = _new_charge(st, pi, pm, owner, reason)
    error = {
        "charge": charge["id"],
        "code": "card_declined",
        "decline_code": reason,
        "doc_url": "https://stripe.com/docs/error-codes/card-declined",
        "message": DECLINE_MESSAGES[reason],
        "payment_method": public(pm),
        "type": "card_error",
    }
    pi.update(
        status="requires_payment_method",
        latest_charge=charge["id"],
        last_payment_error=error,
        payment_method=None,
    )
    emit(st, ctx, "charge.failed", charge, owner)
    emit(st, ctx, "payment_intent.payment_failed", pi, owner)
    # The decline happened after execution began, so it is replayed under its key.
    return StripeError(
        402,
        error["message"],
        type="card_error",
        code="card_declined",
        stored=True,
        extra={
            "charge": charge["id"],
            "decline_code": reason,
            "payment_intent": public(pi),
            "payment_method": public(pm),
        },
    )


INTENT_PARAMS = {
    "amount",
    "currency",
    "customer",
    "payment_method",
    "off_session",
    "confirm",
    "transfer_group",
    "metadata",
    "description",
    "setup_future_usage",
    "payment_method_types",
    "automatic_payment_methods",
    "receipt_email",
    "statement_descriptor_suffix",
    "return_url",
    "error_on_requires_action",
    "capture_method",
}


def create_intent(st: State, ctx: Ctx) -> dict[str, Any]:
    p = ctx.params
    P.check_known(p, INTENT_PARAMS)
    amount = P.amount(p)
    assert amount is not None
    cur = P.currency(p)
    P.check_minimum(amount, cur, "amount")
    if P.string(p, "capture_method") not in (None, "automatic", "automatic_async"):
        raise invalid("The emulator supports only capture_method=automatic.", "capture_method")
    confirm, off_session = P.boolean(p, "confirm"), P.boolean(p, "off_session")
    if off_session is not None and not confirm:
        raise invalid("off_session can only be used when confirm=true.", "off_session")
    fields: dict[str, Any] = {
        "description": P.string(p, "description"),
        "metadata": P.metadata(p),
        "transfer_group": P.string(p, "transfer_group"),
        "receipt_email": P.string(p, "receipt_email"),
        "setup_future_usage": P.string(
            p, "setup_future_usage", choices=("off_session", "on_session")
        ),
    }
    customer = P.string(p, "customer")
    if customer:
        st.get(customer, "customer", ctx.account, param="customer", status=400)
    if confirm and not p.get("payment_method"):
        raise invalid(
            "You cannot confirm this PaymentIntent because it's missing a payment method.",
            "payment_method",
            "payment_intent_unexpected_state",
        )
    pm = _payment_method(st, ctx, p["payment_method"]) if p.get("payment_method") else None
    if pm and pm["customer"] and pm["customer"] != customer:
        raise invalid(
            "The provided PaymentMethod is attached to another Customer (or you "
            "didn't pass `customer`); pass the Customer it belongs to.",
            "payment_method",
        )
    pi = new_intent(
        st,
        ctx.account,
        amount,
        cur,
        customer=customer,
        payment_method=pm["id"] if pm else None,
        status="requires_confirmation" if pm else "requires_payment_method",
        **fields,
    )
    emit(st, ctx, "payment_intent.created", pi, ctx.account)
    if not confirm:
        return public(pi)
    assert pm is not None
    reason = pm["_decline"]
    if off_session and st.config["decline_next_off_session"] > 0:  # control switch
        st.config["decline_next_off_session"] -= 1
        reason = reason or st.config["decline_reason"]
    if reason:
        raise decline_payment(st, ctx, pi, pm, reason)
    succeed_payment(st, ctx, pi, pm)
    return public(pi)


def get_intent(st: State, ctx: Ctx, intent: str) -> dict[str, Any]:
    return public(st.get(intent, "payment_intent", ctx.account, label="payment_intent"))


def list_intents(st: State, ctx: Ctx) -> dict[str, Any]:
    items = st.find("payment_intent", ctx.account, customer=P.string(ctx.params, "customer"))
    return page(st, items, ctx.params, "/v1/payment_intents")


def get_charge(st: State, ctx: Ctx, charge: str) -> dict[str, Any]:
    return public(st.get(charge, "charge", ctx.account))


def list_charges(st: State, ctx: Ctx) -> dict[str, Any]:
    p = ctx.params
    items = st.find(
        "charge",
        ctx.account,
        payment_intent=P.string(p, "payment_intent"),
        customer=P.string(p, "customer"),
        transfer_group=P.string(p, "transfer_group"),
    )
    return page(st, items, p, "/v1/charges")


ROUTES: list[Route] = [
    ("POST", "/v1/customers", create_customer),
    ("GET", "/v1/customers", list_customers),
    ("GET", "/v1/customers/{customer}", get_customer),
    ("POST", "/v1/customers/{customer}", update_customer),
    ("GET", "/v1/customers/{customer}/payment_methods", list_customer_payment_methods),
    ("GET", "/v1/payment_methods", list_payment_methods),
    ("GET", "/v1/payment_methods/{pm}", get_payment_method),
    ("POST", "/v1/payment_methods/{pm}/attach", attach_payment_method),
    ("POST", "/v1/payment_intents", create_intent),
    ("GET", "/v1/payment_intents", list_intents),
    ("GET", "/v1/payment_intents/{intent}", get_intent),
    ("GET", "/v1/charges", list_charges),
    ("GET", "/v1/charges/{charge}", get_charge),
]
