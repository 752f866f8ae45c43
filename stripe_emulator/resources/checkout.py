"""Checkout Sessions (mode=payment with price_data line items).

Customers pay on the emulator's hosted page (pages.py) or through the control API; both call
``pay_session`` / ``decline_session`` here.
"""

from typing import Any

from stripe_emulator import params as P
from stripe_emulator.errors import StripeError, invalid, missing_param
from stripe_emulator.resources.events import emit
from stripe_emulator.resources.payments import (
    DECLINING_CARDS,
    decline_payment,
    new_customer,
    new_intent,
    new_payment_method,
    succeed_payment,
)
from stripe_emulator.state import Ctx, Route, State, new_id, now, page, public

SESSION_PARAMS = {
    "mode",
    "line_items",
    "success_url",
    "cancel_url",
    "customer",
    "customer_email",
    "customer_creation",
    "client_reference_id",
    "metadata",
    "payment_intent_data",
    "expires_at",
    "payment_method_types",
    "locale",
    "submit_type",
    "billing_address_collection",
}
PI_DATA_PARAMS = {
    "transfer_group",
    "metadata",
    "setup_future_usage",
    "description",
    "receipt_email",
    "statement_descriptor_suffix",
}
MIN_LIFETIME, MAX_LIFETIME = 30 * 60, 24 * 3600  # Stripe's bounds for expires_at


def _line_items(p: dict[str, Any]) -> list[dict[str, Any]]:
    raw = p.get("line_items")
    if not raw:
        raise missing_param("line_items")
    if not isinstance(raw, list):
        raise invalid("Invalid array", "line_items")
    items = []
    for i, item in enumerate(raw):
        label = f"line_items[{i}]"
        if not isinstance(item, dict):
            raise invalid("Invalid hash", label)
        if "price" in item:
            raise invalid("The emulator supports only price_data line items.", f"{label}[price]")
        quantity = P.integer(item, "quantity", f"{label}[quantity]", required=True, minimum=1)
        data = item.get("price_data")
        if not isinstance(data, dict):
            raise missing_param(f"{label}[price_data]")
        cur = P.currency(data, "currency", f"{label}[price_data][currency]")
        unit = P.integer(
            data, "unit_amount", f"{label}[price_data][unit_amount]", required=True, minimum=0
        )
        product = data.get("product_data")
        name = (
            P.string(product, "name", f"{label}[price_data][product_data][name]", required=True)
            if isinstance(product, dict)
            else None
        )
        if name is None:
            raise missing_param(f"{label}[price_data][product_data]")
        assert quantity is not None and unit is not None
        items.append(
            {
                "id": new_id("li"),
                "object": "item",
                "amount_discount": 0,
                "amount_subtotal": unit * quantity,
                "amount_tax": 0,
                "amount_total": unit * quantity,
                "currency": cur,
                "description": name,
                "price": {
                    "id": new_id("price"),
                    "object": "price",
                    "currency": cur,
                    "product": new_id("prod"),
                    "type": "one_time",
                    "unit_amount": unit,
                },
                "quantity": quantity,
            }
        )
    if len({i["currency"] for i in items}) > 1:
        raise invalid("All line items must use the same currency.", "line_items")
    return items


def create_session(st: State, ctx: Ctx) -> dict[str, Any]:
    p = ctx.params
    P.check_known(p, SESSION_PARAMS)
    mode = P.string(p, "mode", required=True, choices=("payment", "setup", "subscription"))
    if mode != "payment":
        raise invalid("The emulator supports only mode=payment.", "mode")
    items = _line_items(p)
    total, cur = sum(i["amount_total"] for i in items), items[0]["currency"]
    P.check_minimum(total, cur, "line_items")
    customer, email = P.string(p, "customer"), P.string(p, "customer_email")
    if customer and email:
        raise invalid(
            "You may only specify one of these parameters: customer, customer_email.",
            "customer_email",
        )
    if customer:
        st.get(customer, "customer", ctx.account, param="customer", status=400)
    creation = P.string(p, "customer_creation", choices=("always", "if_required"))
    if creation and customer:
        raise invalid(
            "`customer_creation` can only be used when `customer` is not set.", "customer_creation"
        )
    pi_data = P.mapping(p, "payment_intent_data")
    P.check_known(pi_data, PI_DATA_PARAMS)
    intent = {
        "transfer_group": P.string(
            pi_data, "transfer_group", "payment_intent_data[transfer_group]"
        ),
        "metadata": P.metadata(pi_data, label="payment_intent_data[metadata]"),
        "description": P.string(pi_data, "description", "payment_intent_data[description]"),
        "setup_future_usage": P.string(
            pi_data,
            "setup_future_usage",
            "payment_intent_data[setup_future_usage]",
            choices=("off_session", "on_session"),
        ),
    }
    created = now()
    expires_at = P.integer(p, "expires_at") or created + MAX_LIFETIME
    if not created + MIN_LIFETIME <= expires_at <= created + MAX_LIFETIME:
        raise invalid(
            "The `expires_at` timestamp must be between 30 minutes and 24 hours "
            "from Checkout Session creation.",
            "expires_at",
        )
    session_id = new_id("cs_test")
    session = {
        "id": session_id,
        "object": "checkout.session",
        "amount_subtotal": total,
        "amount_total": total,
        "cancel_url": P.url(p, "cancel_url"),
        "client_reference_id": P.string(p, "client_reference_id"),
        "created": created,
        "currency": cur,
        "customer": customer,
        "customer_creation": creation,
        "customer_details": None,
        "customer_email": email,
        "expires_at": expires_at,
        "livemode": False,
        "locale": P.string(p, "locale"),
        "metadata": P.metadata(p),
        "mode": mode,
        "payment_intent": None,
        "payment_method_types": ["card"],
        "payment_status": "unpaid",
        "status": "open",
        "success_url": P.url(p, "success_url"),
        "ui_mode": "hosted",
        "url": f"{ctx.base_url}/_emulator/checkout/{session_id}",
        "_line_items": items,
        "_intent": intent,
    }
    st.put(session, ctx.account)
    return _render(session, p)


def _render(session: dict[str, Any], p: dict[str, Any]) -> dict[str, Any]:
    data = public(session)
    if "line_items" in P.expand_paths(p):  # the one non-id expansion Checkout offers
        data["line_items"] = _items_list(session)
    return data


def _items_list(session: dict[str, Any]) -> dict[str, Any]:
    return {
        "object": "list",
        "data": session["_line_items"],
        "has_more": False,
        "url": f"/v1/checkout/sessions/{session['id']}/line_items",
    }


def _session(st: State, ctx: Ctx, session: str) -> dict[str, Any]:
    return st.get(session, "checkout.session", ctx.account, label="checkout.session")


def get_session(st: State, ctx: Ctx, session: str) -> dict[str, Any]:
    return _render(_session(st, ctx, session), ctx.params)


def list_line_items(st: State, ctx: Ctx, session: str) -> dict[str, Any]:
    return _items_list(_session(st, ctx, session))


def list_sessions(st: State, ctx: Ctx) -> dict[str, Any]:
    p = ctx.params
    items = st.find(
        "checkout.session",
        ctx.account,
        payment_intent=P.string(p, "payment_intent"),
        customer=P.string(p, "customer"),
        status=P.string(p, "status"),
    )
    return page(st, items, p, "/v1/checkout/sessions")


def expire_session(st: State, ctx: Ctx, session: str) -> dict[str, Any]:
    obj = _session(st, ctx, session)
    if obj["status"] != "open":
        raise invalid('Only Checkout Sessions with a status in ["open"] can be expired.', "session")
    expire(st, ctx, obj)
    return public(obj)


def expire(st: State, ctx: Ctx | None, session: dict[str, Any]) -> None:
    session.update(status="expired", url=None)
    emit(st, ctx, "checkout.session.expired", session, session["_account"])


def expire_due(st: State) -> None:
    """Sessions past ``expires_at`` expire on their own, as on Stripe."""
    t = now()
    for obj in list(st.objects.values()):  # expire() adds events while we iterate
        if (
            obj["object"] == "checkout.session"
            and obj["status"] == "open"
            and obj["expires_at"] <= t
        ):
            expire(st, None, obj)


def _require_open(session: dict[str, Any]) -> None:
    if session["status"] != "open":
        raise invalid(
            f"This Checkout Session is {session['status']}.", "session", "checkout_session_not_open"
        )


def _intent_for(st: State, ctx: Ctx | None, session: dict[str, Any]) -> dict[str, Any]:
    """The session's PaymentIntent, created at the first payment attempt and then reused."""
    if session["payment_intent"]:
        return st.objects[session["payment_intent"]]
    pi = new_intent(
        st, session["_account"], session["amount_total"], session["currency"], **session["_intent"]
    )
    session["payment_intent"] = pi["id"]
    emit(st, ctx, "payment_intent.created", pi, session["_account"])
    return pi


def pay_session(
    st: State,
    ctx: Ctx | None,
    session: dict[str, Any],
    card: str = "4242424242424242",
    email: str | None = None,
) -> StripeError | None:
    """Customer submits the Checkout form. Returns the card error if the card declines."""
    _require_open(session)
    owner = session["_account"]
    email = email or session["customer_email"] or "jenny.rosen@example.com"
    if card in DECLINING_CARDS:
        return decline_session(st, ctx, session, card)
    intent = session["_intent"]
    customer = session["customer"]
    if not customer and (session["customer_creation"] == "always" or intent["setup_future_usage"]):
        customer = new_customer(st, owner, email)["id"]
        emit(st, ctx, "customer.created", st.objects[customer], owner)
    pi = _intent_for(st, ctx, session)
    pi["customer"] = customer
    # Saved for later off-session use only when the session asked to set it up.
    saved_for = customer if intent["setup_future_usage"] else None
    pm = new_payment_method(st, owner, card, saved_for, email)
    succeed_payment(st, ctx, pi, pm)
    session.update(
        status="complete",
        payment_status="paid",
        customer=customer,
        url=None,
        customer_details={
            "address": None,
            "email": email,
            "name": None,
            "phone": None,
            "tax_exempt": "none",
            "tax_ids": [],
        },
    )
    emit(st, ctx, "checkout.session.completed", session, owner)
    return None


def decline_session(
    st: State, ctx: Ctx | None, session: dict[str, Any], card: str = "4000000000000002"
) -> StripeError:
    """A declined card: the session stays open so the customer can try again."""
    _require_open(session)
    pi = _intent_for(st, ctx, session)
    pm = new_payment_method(st, session["_account"], card)
    return decline_payment(st, ctx, pi, pm, DECLINING_CARDS.get(card, "generic_decline"))


ROUTES: list[Route] = [
    ("POST", "/v1/checkout/sessions", create_session),
    ("GET", "/v1/checkout/sessions", list_sessions),
    ("GET", "/v1/checkout/sessions/{session}", get_session),
    ("GET", "/v1/checkout/sessions/{session}/line_items", list_line_items),
    ("POST", "/v1/checkout/sessions/{session}/expire", expire_session),
]
