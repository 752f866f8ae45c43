"""Connected accounts and account links (onboarding is finished on the hosted page)."""

import secrets
from typing import Any

from stripe_emulator import params as P
from stripe_emulator.errors import invalid, no_such
from stripe_emulator.resources.events import emit
from stripe_emulator.resources.payouts import WEEKDAYS, schedule_account
from stripe_emulator.state import Ctx, Route, State, new_id, now, page, public

DEFAULT_CURRENCY = {
    "US": "usd",
    "GB": "gbp",
    "CA": "cad",
    "AU": "aud",
    "NZ": "nzd",
    "CH": "chf",
    "SE": "sek",
    "NO": "nok",
    "DK": "dkk",
    "PL": "pln",
    "JP": "jpy",
    "SG": "sgd",
    "HK": "hkd",
    "MX": "mxn",
    "BR": "brl",
}
CURRENTLY_DUE = ["external_account", "individual.verification.document", "tos_acceptance.date"]
LINK_TTL = 300  # account links expire after five minutes, as on Stripe
EXPRESS_CONTROLLER = {
    "fees": {"payer": "application"},
    "is_controller": True,
    "losses": {"payments": "application"},
    "requirement_collection": "stripe",
    "stripe_dashboard": {"type": "express"},
    "type": "application",
}


def _requirements(due: list[str]) -> dict[str, Any]:
    return {
        "alternatives": [],
        "current_deadline": None,
        "currently_due": list(due),
        "disabled_reason": "requirements.past_due" if due else None,
        "errors": [],
        "eventually_due": list(due),
        "past_due": list(due),
        "pending_verification": [],
    }


# What Stripe gives a new connected account: automatic daily payouts, two days' delay.
DEFAULT_SCHEDULE = {"delay_days": 2, "interval": "daily"}


def _settings(p: dict[str, Any], current: dict[str, Any]) -> dict[str, Any]:
    """Apply ``settings[payouts][...]`` (the part the emulator implements) to ``current``."""
    merged = {**current, "payouts": dict(current["payouts"])}
    for name in P.mapping(p, "settings"):
        if name != "payouts":  # documented (checked against Stripe's description) but not ours
            raise invalid(
                f"The Stripe emulator does not implement the parameter settings[{name}].",
                f"settings[{name}]",
                "emulator_parameter_unsupported",
            )
    payouts = P.mapping(P.mapping(p, "settings"), "payouts", "settings[payouts]")
    if "debit_negative_balances" in payouts:
        merged["payouts"]["debit_negative_balances"] = P.boolean(
            payouts, "debit_negative_balances", "settings[payouts][debit_negative_balances]"
        )
    if "statement_descriptor" in payouts:
        merged["payouts"]["statement_descriptor"] = P.string(
            payouts, "statement_descriptor", "settings[payouts][statement_descriptor]"
        )
    raw = P.mapping(payouts, "schedule", "settings[payouts][schedule]")
    if not raw:
        return merged
    label = "settings[payouts][schedule]"
    schedule = dict(merged["payouts"]["schedule"])
    interval = P.string(
        raw, "interval", f"{label}[interval]", choices=("daily", "manual", "monthly", "weekly")
    )
    if interval:
        schedule = {"interval": interval}
        if interval != "manual":
            schedule["delay_days"] = merged["payouts"]["schedule"].get("delay_days", 2)
    delay = raw.get("delay_days")
    if delay not in (None, ""):
        schedule["delay_days"] = (
            2 if delay == "minimum" else P.integer(raw, "delay_days", f"{label}[delay_days]")
        )
    if schedule["interval"] == "weekly":
        anchor = P.string(raw, "weekly_anchor", f"{label}[weekly_anchor]", choices=WEEKDAYS)
        schedule["weekly_anchor"] = anchor or schedule.get("weekly_anchor") or "monday"
    if schedule["interval"] == "monthly":
        anchor_day = P.integer(raw, "monthly_anchor", f"{label}[monthly_anchor]", minimum=1)
        if anchor_day is not None and anchor_day > 31:
            raise invalid(
                "This value must be less than or equal to 31.", f"{label}[monthly_anchor]"
            )
        schedule["monthly_anchor"] = anchor_day or schedule.get("monthly_anchor") or 1
    merged["payouts"]["schedule"] = schedule
    return merged


def _tos_acceptance(p: dict[str, Any], current: dict[str, Any]) -> dict[str, Any]:
    raw = P.mapping(p, "tos_acceptance")
    merged = dict(current)
    if "date" in raw:
        merged["date"] = P.integer(raw, "date", "tos_acceptance[date]")
    for key in ("ip", "user_agent", "service_agreement"):
        if key in raw:
            merged[key] = P.string(raw, key, f"tos_acceptance[{key}]")
    return merged


def create_account(st: State, ctx: Ctx) -> dict[str, Any]:
    p = ctx.params
    P.check_known(
        p,
        {
            "type",
            "controller",
            "country",
            "email",
            "metadata",
            "capabilities",
            "business_type",
            "business_profile",
            "default_currency",
            "settings",
            "tos_acceptance",
        },
    )
    if ctx.account:
        raise invalid("Connected accounts cannot create other accounts.", "type")
    kind = P.string(p, "type", choices=("express", "standard", "custom"))
    controller = P.mapping(p, "controller")
    if kind and controller:
        raise invalid("You cannot specify both `type` and `controller`.", "controller")
    if not kind and not controller:
        kind = "standard"  # what Stripe assumes when neither is given
    country = P.string(p, "country") or "US"
    if len(country) != 2 or not country.isupper():
        raise invalid(f"Invalid country: {country}", "country")
    capabilities = {}
    for name, spec in P.mapping(p, "capabilities").items():
        if (
            not isinstance(spec, dict)
            or P.boolean(spec, "requested", f"capabilities[{name}][requested]") is None
        ):
            raise invalid(f"Invalid capabilities[{name}]", f"capabilities[{name}][requested]")
        if spec["requested"] == "true":
            capabilities[name] = "inactive"
    if kind in ("express", "custom") and not capabilities:
        raise invalid(
            "You must request the `transfers` capability (or `card_payments`) for "
            f"{kind} accounts.",
            "capabilities",
        )
    currency = P.string(p, "default_currency") or DEFAULT_CURRENCY.get(country, "eur")
    account: dict[str, Any] = {
        "id": new_id("acct"),
        "object": "account",
        "business_profile": P.mapping(p, "business_profile") or {"name": None, "url": None},
        "business_type": P.string(p, "business_type"),
        "capabilities": capabilities,
        "charges_enabled": False,
        "controller": EXPRESS_CONTROLLER
        if kind == "express"
        else {"type": "application", "is_controller": True, **controller},
        "country": country,
        "created": now(),
        "default_currency": currency,
        "details_submitted": False,
        "email": P.string(p, "email"),
        "external_accounts": {
            "object": "list",
            "data": [],
            "has_more": False,
            "total_count": 0,
            "url": "",
        },
        "future_requirements": _requirements([]),
        "metadata": P.metadata(p),
        "payouts_enabled": False,
        "requirements": _requirements(CURRENTLY_DUE),
        "settings": _settings(
            p,
            {
                "payouts": {
                    "debit_negative_balances": kind != "standard",
                    "schedule": dict(DEFAULT_SCHEDULE),
                    "statement_descriptor": None,
                }
            },
        ),
        "tos_acceptance": _tos_acceptance(p, {"date": None}),
        "type": kind or "none",
    }
    account["external_accounts"]["url"] = f"/v1/accounts/{account['id']}/external_accounts"
    st.put(account, None)
    schedule_account(st, account)
    return public(account)


def _own_account(st: State, ctx: Ctx, account: str) -> dict[str, Any]:
    if ctx.account and ctx.account != account:  # a connected account only sees itself
        raise no_such("account", account, "id", 404)
    return st.get(account, "account", None)


def get_account(st: State, ctx: Ctx, account: str) -> dict[str, Any]:
    return public(_own_account(st, ctx, account))


def update_account(st: State, ctx: Ctx, account: str) -> dict[str, Any]:
    p = ctx.params
    P.check_known(p, {"metadata", "email", "business_profile", "settings", "tos_acceptance"})
    obj = _own_account(st, ctx, account)
    previous = {"metadata": obj["metadata"], "settings": public(obj)["settings"]}
    obj["metadata"] = P.metadata(p, obj["metadata"])
    obj["settings"] = _settings(p, obj["settings"])
    obj["tos_acceptance"] = _tos_acceptance(p, obj["tos_acceptance"])
    schedule_account(st, obj)
    if "email" in p:
        obj["email"] = P.string(p, "email")
    if "business_profile" in p:
        obj["business_profile"] = {**obj["business_profile"], **P.mapping(p, "business_profile")}
    emit(st, ctx, "account.updated", obj, obj["id"], previous)
    return public(obj)


def list_accounts(st: State, ctx: Ctx) -> dict[str, Any]:
    return page(st, st.find("account", None), ctx.params, "/v1/accounts")


def create_link(st: State, ctx: Ctx) -> dict[str, Any]:
    p = ctx.params
    P.check_known(
        p, {"account", "refresh_url", "return_url", "type", "collect", "collection_options"}
    )
    st.get(P.string(p, "account", required=True), "account", None, param="account", status=400)
    kind = P.string(p, "type", required=True, choices=("account_onboarding", "account_update"))
    refresh_url = P.url(p, "refresh_url", required=True)
    return_url = P.url(p, "return_url", required=True)
    token = secrets.token_urlsafe(18)
    created = now()
    st.links[token] = {
        "account": p["account"],
        "refresh_url": refresh_url,
        "return_url": return_url,
        "type": kind,
        "expires_at": created + LINK_TTL,
        "state": "new",
    }
    return {
        "object": "account_link",
        "created": created,
        "expires_at": created + LINK_TTL,
        "url": f"{ctx.base_url}/_emulator/onboarding/{token}",
    }


def complete_onboarding(st: State, ctx: Ctx | None, account: dict[str, Any]) -> None:
    """What finishing Stripe's hosted onboarding does to an Express account."""
    fields = (
        "details_submitted",
        "charges_enabled",
        "payouts_enabled",
        "capabilities",
        "requirements",
    )
    previous = {k: public(account)[k] for k in fields}
    account.update(
        details_submitted=True,
        charges_enabled=True,
        payouts_enabled=True,
        requirements=_requirements([]),
    )
    before = dict(account["capabilities"])
    account["capabilities"] = {k: "active" for k in account["capabilities"]} or {
        "transfers": "active"
    }
    for name, status in account["capabilities"].items():
        if before.get(name) != status:
            capability = {
                "id": name,
                "object": "capability",
                "account": account["id"],
                "requested": True,
                "requested_at": account["created"],
                "requirements": _requirements([]),
                "status": status,
            }
            emit(
                st,
                ctx,
                "capability.updated",
                capability,
                account["id"],
                {"status": before.get(name, "inactive")},
            )
    account["tos_acceptance"] = {**account["tos_acceptance"], "date": now()}
    bank = {
        "id": new_id("ba"),
        "object": "bank_account",
        "account": account["id"],
        "bank_name": "STRIPE TEST BANK",
        "country": account["country"],
        "currency": account["default_currency"],
        "default_for_currency": True,
        "last4": "6789",
        "routing_number": "110000000",
        "status": "new",
    }
    account["external_accounts"].update(data=[bank], total_count=1)
    emit(st, ctx, "account.updated", account, account["id"], previous)


ROUTES: list[Route] = [
    ("POST", "/v1/accounts", create_account),
    ("GET", "/v1/accounts", list_accounts),
    ("GET", "/v1/accounts/{account}", get_account),
    ("POST", "/v1/accounts/{account}", update_account),
    ("POST", "/v1/account_links", create_link),
]
