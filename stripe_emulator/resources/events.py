"""Events (every state change emits one) and webhook endpoints that receive them."""

import secrets
from typing import Any

from stripe_emulator import params as P
from stripe_emulator.errors import invalid, missing_param
from stripe_emulator.state import Ctx, Route, State, filter_created, new_id, now, page, public


def emit(
    st: State,
    ctx: Ctx | None,
    type: str,
    obj: dict[str, Any],
    owner: str | None,
    previous: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Record an event with a snapshot of ``obj`` and queue it for webhook delivery.

    ``owner`` is the connected account the object lives on; such events carry ``account``
    and go to Connect endpoints, as on Stripe.
    """
    from_api = ctx is not None and ctx.api
    event: dict[str, Any] = {
        "id": new_id("evt"),
        "object": "event",
        "api_version": st.config["api_version"],
        "created": now(),
        "data": {"object": public(obj)},
        "livemode": False,
        "pending_webhooks": len(endpoints_for(st, type, owner)),
        # Stripe sets request.id only for events caused by an API request.
        "request": {
            "id": ctx.request_id if from_api else None,  # type: ignore[union-attr]
            "idempotency_key": ctx.idempotency_key if from_api else None,  # type: ignore[union-attr]
        },
        "type": type,
    }
    if previous:
        event["data"]["previous_attributes"] = previous
    if owner:
        event["account"] = owner
    st.put(event, owner)
    st.outbox.append(event["id"])
    return event


def endpoints_for(st: State, type: str, owner: str | None) -> list[dict[str, Any]]:
    """Enabled endpoints subscribed to ``type``: Connect ones get connected-account events,
    account ones get the platform's; None (control-registered) gets both, like
    ``stripe listen`` with --forward-connect-to."""
    return [
        e
        for e in st.find("webhook_endpoint", None, status="enabled")
        if (e["_connect"] is None or e["_connect"] == (owner is not None))
        and ("*" in e["enabled_events"] or type in e["enabled_events"])
    ]


def register_endpoint(
    st: State,
    url: str,
    secret: str | None,
    events: list[str],
    connect: bool | None,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    endpoint = {
        "id": new_id("we"),
        "object": "webhook_endpoint",
        "api_version": None,
        "application": None,
        "created": now(),
        "description": None,
        "enabled_events": events,
        "livemode": False,
        "metadata": {},
        "status": "enabled",
        "url": url,
        **(extra or {}),
        "_secret": secret or "whsec_" + secrets.token_hex(16),
        "_connect": connect,
    }
    return st.put(endpoint, None)


def _enabled_events(p: dict[str, Any]) -> list[str]:
    events = p.get("enabled_events")
    if not events:
        raise missing_param("enabled_events")
    if not isinstance(events, list) or not all(isinstance(e, str) and e for e in events):
        raise invalid("Invalid array", "enabled_events")
    return events


def create_endpoint(st: State, ctx: Ctx) -> dict[str, Any]:
    p = ctx.params
    P.check_known(p, {"url", "enabled_events", "connect", "description", "metadata", "api_version"})
    url = P.url(p, "url", required=True)
    assert url
    events = _enabled_events(p)
    extra = {
        "description": P.string(p, "description"),
        "metadata": P.metadata(p),
        "api_version": P.string(p, "api_version"),
    }
    endpoint = register_endpoint(st, url, None, events, bool(P.boolean(p, "connect")), extra)
    # Stripe reveals the signing secret only in the creation response.
    return public(endpoint) | {"secret": endpoint["_secret"]}


def update_endpoint(st: State, ctx: Ctx, endpoint: str) -> dict[str, Any]:
    p = ctx.params
    P.check_known(p, {"url", "enabled_events", "description", "metadata", "disabled"})
    obj = st.get(endpoint, "webhook_endpoint", None, label="webhook endpoint")
    if "url" in p:
        obj["url"] = P.url(p, "url", required=True)
    if "enabled_events" in p:
        obj["enabled_events"] = _enabled_events(p)
    if "description" in p:
        obj["description"] = P.string(p, "description")
    disabled = P.boolean(p, "disabled")
    if disabled is not None:
        obj["status"] = "disabled" if disabled else "enabled"
    obj["metadata"] = P.metadata(p, obj["metadata"])
    return public(obj)


def get_endpoint(st: State, ctx: Ctx, endpoint: str) -> dict[str, Any]:
    return public(st.get(endpoint, "webhook_endpoint", None, label="webhook endpoint"))


def delete_endpoint(st: State, ctx: Ctx, endpoint: str) -> dict[str, Any]:
    st.get(endpoint, "webhook_endpoint", None, label="webhook endpoint")
    st.remove(endpoint)
    return {"id": endpoint, "object": "webhook_endpoint", "deleted": True}


def list_endpoints(st: State, ctx: Ctx) -> dict[str, Any]:
    return page(st, st.find("webhook_endpoint", None), ctx.params, "/v1/webhook_endpoints")


def list_events(st: State, ctx: Ctx) -> dict[str, Any]:
    p = ctx.params
    items = st.find("event", ctx.account)
    wanted = P.string(p, "type")
    if wanted:  # "charge.*" is a wildcard for a family of events
        items = [
            e
            for e in items
            if e["type"] == wanted or (wanted.endswith("*") and e["type"].startswith(wanted[:-1]))
        ]
    types = p.get("types")
    if isinstance(types, list):
        items = [e for e in items if e["type"] in types]
    return page(st, filter_created(items, p), p, "/v1/events")


def get_event(st: State, ctx: Ctx, event: str) -> dict[str, Any]:
    return public(st.get(event, "event", ctx.account))


ROUTES: list[Route] = [
    ("GET", "/v1/events", list_events),
    ("GET", "/v1/events/{event}", get_event),
    ("POST", "/v1/webhook_endpoints", create_endpoint),
    ("GET", "/v1/webhook_endpoints", list_endpoints),
    ("GET", "/v1/webhook_endpoints/{endpoint}", get_endpoint),
    ("POST", "/v1/webhook_endpoints/{endpoint}", update_endpoint),
    ("DELETE", "/v1/webhook_endpoints/{endpoint}", delete_endpoint),
]
