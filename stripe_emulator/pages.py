"""HTML stand-ins for Stripe's hosted onboarding and Checkout pages.

Plain forms (no JavaScript), so a browser, urllib or a test client can drive them: GET shows
the page, POST submits it with ``action`` (and ``card`` / ``email`` for Checkout).
"""

import html
from typing import Any

from stripe_emulator.errors import StripeError
from stripe_emulator.resources.accounts import complete_onboarding
from stripe_emulator.resources.checkout import decline_session, pay_session
from stripe_emulator.state import Ctx, Response, Route, State, now

_STYLE = """body{font-family:system-ui,sans-serif;max-width:34rem;margin:3rem auto;color:#1a1f36}
.box{border:1px solid #e3e8ee;border-radius:8px;padding:1.5rem}
button{padding:.6rem 1.2rem;margin-right:.5rem;border-radius:6px;border:0;cursor:pointer}
.primary{background:#635bff;color:#fff}.secondary{background:#e3e8ee}
.error{color:#df1b41}.badge{background:#ffde92;padding:.1rem .4rem;border-radius:4px}
input{width:100%;padding:.5rem;margin:.3rem 0 1rem;box-sizing:border-box}
table{width:100%;border-collapse:collapse}td{padding:.3rem 0}td.n{text-align:right}"""


def _page(title: str, body: str, status: int = 200) -> Response:
    text = (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}"
        f"</title><style>{_STYLE}</style></head><body><p><span class='badge'>Stripe "
        f"emulator &middot; test mode</span></p><div class='box'>{body}</div></body></html>"
    )
    return Response(status, text.encode(), {"Content-Type": "text/html; charset=utf-8"})


def _redirect(url: str, status: int = 302) -> Response:
    return Response(status, b"", {"Location": url})


def _money(amount: int, currency: str) -> str:
    return f"{amount / 100:,.2f} {currency.upper()}"


# -- onboarding ------------------------------------------------------------------------
def onboarding_page(st: State, ctx: Ctx, token: str) -> Response:
    link = st.links.get(token)
    if link is None:
        return _page("Link not found", "<h1>This link is not valid.</h1>", 404)
    # Account links are single use: a second visit or an expired link goes to refresh_url.
    if link["state"] != "new" or link["expires_at"] < now():
        return _redirect(link["refresh_url"])
    link["state"] = "visited"
    account = st.objects[link["account"]]
    due = "".join(f"<li>{html.escape(f)}</li>" for f in account["requirements"]["currently_due"])
    return _page(
        "Onboarding",
        f"""<h1>Set up payouts</h1>
<p>Connected account <code>{account["id"]}</code> ({html.escape(account["email"] or "no email")},
{account["country"]})</p><p>Information Stripe would collect:</p><ul>{due or "<li>none</li>"}</ul>
<form method="post" action="/_emulator/onboarding/{token}">
<button class="primary" name="action" value="complete">Complete onboarding</button>
<button class="secondary" name="action" value="leave">Leave incomplete</button></form>""",
    )


def onboarding_submit(st: State, ctx: Ctx, token: str) -> Response:
    link = st.links.get(token)
    if link is None:
        return _page("Link not found", "<h1>This link is not valid.</h1>", 404)
    if link["state"] == "done" or link["expires_at"] < now():
        return _redirect(link["refresh_url"], 303)
    link["state"] = "done"
    if ctx.params.get("action") == "complete":
        complete_onboarding(st, ctx, st.objects[link["account"]])
    # Stripe sends the user to return_url either way; the platform must check the account.
    return _redirect(link["return_url"], 303)


# -- checkout --------------------------------------------------------------------------
def _session(st: State, session_id: str) -> dict[str, Any] | None:
    obj = st.objects.get(session_id)
    return obj if obj is not None and obj["object"] == "checkout.session" else None


def _success_url(session: dict[str, Any]) -> str | None:
    url = session["success_url"]
    return url.replace("{CHECKOUT_SESSION_ID}", session["id"]) if url else None


def _closed(session: dict[str, Any]) -> Response:
    if session["status"] == "complete":
        url = _success_url(session)
        return _redirect(url, 303) if url else _page("Paid", "<h1>Payment complete.</h1>")
    return _page("Expired", "<h1>This Checkout Session has expired.</h1>")


def _checkout_form(
    session: dict[str, Any], error: str | None = None, card: str = "4242 4242 4242 4242"
) -> Response:
    rows = "".join(
        f"<tr><td>{html.escape(i['description'])} &times; {i['quantity']}</td>"
        f"<td class='n'>{_money(i['amount_total'], i['currency'])}</td></tr>"
        for i in session["_line_items"]
    )
    email = html.escape(session["customer_email"] or "jenny.rosen@example.com")
    cancel = (
        f"<p><a href='{html.escape(session['cancel_url'])}'>&larr; Back</a></p>"
        if session["cancel_url"]
        else ""
    )
    problem = f"<p class='error' role='alert'>{html.escape(error)}</p>" if error else ""
    body = f"""{cancel}<h1>Pay {_money(session["amount_total"], session["currency"])}</h1>
<table>{rows}</table>{problem}
<form method="post" action="/_emulator/checkout/{session["id"]}">
<label>Email<input name="email" value="{email}"></label>
<label>Card number<input name="card" value="{html.escape(card)}"></label>
<button class="primary" name="action" value="pay">Pay</button>
<button class="secondary" name="action" value="decline">Decline</button></form>
<p><small>4000 0000 0000 0002 declines; 4000 0000 0000 9995 has insufficient funds.</small></p>"""
    return _page("Checkout", body)


def checkout_page(st: State, ctx: Ctx, session_id: str) -> Response:
    session = _session(st, session_id)
    if session is None:
        return _page("Not found", "<h1>No such Checkout Session.</h1>", 404)
    return _checkout_form(session) if session["status"] == "open" else _closed(session)


def checkout_submit(st: State, ctx: Ctx, session_id: str) -> Response:
    session = _session(st, session_id)
    if session is None:
        return _page("Not found", "<h1>No such Checkout Session.</h1>", 404)
    if session["status"] != "open":
        return _closed(session)
    card = "".join(ch for ch in str(ctx.params.get("card", "")) if ch.isdigit())
    error: StripeError | None
    if ctx.params.get("action") == "decline":
        error = decline_session(st, ctx, session)
    else:
        if len(card) < 12:
            return _checkout_form(session, "Your card number is incomplete.", card)
        error = pay_session(st, ctx, session, card, str(ctx.params.get("email") or "") or None)
    if error is not None:  # the session stays open: the customer can try another card
        return _checkout_form(session, error.message, card or "4242 4242 4242 4242")
    return _closed(session)


ROUTES: list[Route] = [
    ("GET", "/_emulator/onboarding/{token}", onboarding_page),
    ("POST", "/_emulator/onboarding/{token}", onboarding_submit),
    ("GET", "/_emulator/checkout/{session_id}", checkout_page),
    ("POST", "/_emulator/checkout/{session_id}", checkout_submit),
]
