"""The Stripe gateway: the only module that talks to Stripe, and the only one importing `stripe`.

One small typed function per operation we use, built on the official SDK's `StripeClient`.
`settings.STRIPE_API_BASE` chooses the server: the local emulator in development, the demo and
the tests; Stripe itself when empty. The API version is pinned (`settings.STRIPE_API_VERSION`,
or the SDK's own pinned version when that is empty).

What every call gets:

* a token from the shared rate limiter (payments.rate_limit) before each HTTP attempt;
* retries of network errors, timeouts, 409, 429 and 5xx with exponential backoff and jitter,
  `settings.STRIPE_MAX_ATTEMPTS` tries in all (the SDK's own retries are off, so ours are the
  only ones), honouring Stripe's `Stripe-Should-Retry` header;
* Stripe's 4xx translated into our exceptions (`GatewayError` and subclasses) keeping Stripe's
  code, message, parameter and HTTP status.

Every mutating call also takes our own idempotency key, derived from the record it is made for
(`idempotency_key("transfer", payout.pk)` gives "transfer:42"). The key is journalled in
`StripeRequest` before the call and the outcome after it. A retried call reuses the key, so
Stripe returns the object it already made instead of making a second one; once the journal
knows the object's id, a rerun (even after Stripe forgot the key, 24 hours on) retrieves that
object instead of creating again. A call refused for good (a 4xx) needs a new key to try
again, e.g. with an attempt number in it.

Make mutating calls outside long database transactions: the journal row is written in the
caller's transaction, and a rollback would forget it.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache, partial
from typing import Any, TypeVar

import stripe
import structlog
from django.conf import settings
from django.db import transaction
from django.db.models import F

from core import clock
from core.errors import DomainError
from payments.models import StripeConnectedAccount, StripeRequest
from payments.rate_limit import RateLimitWaitExceeded, stripe_rate_limit_take

log = structlog.get_logger(__name__)

T = TypeVar("T")
MAX_PAGE_SIZE = 100  # Stripe's largest list page
Metadata = Mapping[str, str | int]


# --- Errors ------------------------------------------------------------------------------------
class GatewayError(DomainError):
    """Stripe refused or could not be reached. Stripe's own code, message, parameter and
    HTTP status are kept; `retryable` says whether trying again later may succeed."""

    retryable = False
    client_fault = False  # Stripe failing is not the client's doing

    def __init__(
        self,
        message: str,
        *,
        code: str = "",
        http_status: int | None = None,
        param: str = "",
        decline_code: str = "",
        request_id: str = "",
    ) -> None:
        super().__init__(message)
        self.code = code  # Stripe's own code, "" when Stripe gave none (as before)
        self.http_status = http_status
        self.param = param
        self.decline_code = decline_code
        self.request_id = request_id

    def __str__(self) -> str:
        where = f" (param {self.param})" if self.param else ""
        return f"{self.code or type(self).__name__}: {self.message}{where}"


class GatewayUnavailable(GatewayError):
    """Network errors, timeouts, 409, 429 or 5xx outlasted our retries, or no rate-limit token
    came in time. Try again later with the same idempotency key."""

    retryable = True


class InvalidRequest(GatewayError):
    """Stripe refused the request (4xx): retrying it unchanged will not help."""


class ResourceMissing(InvalidRequest):
    """No such object (Stripe's `resource_missing`)."""


class InsufficientBalance(InvalidRequest):
    """The balance the transfer or payout would come from is too small."""


class AccountCannotReceiveTransfers(InvalidRequest):
    """The destination account's `transfers` capability is not active (refused by us, from the
    stored status, before calling Stripe; or by Stripe)."""


class CardDeclined(GatewayError):
    """The card was declined (402); `decline_code` says why (e.g. insufficient_funds)."""


class IdempotencyConflict(GatewayError):
    """The idempotency key was already used for a different request."""


class NotPermitted(GatewayError):
    """Our API key may not do this (401/403): a configuration problem, not the caller's."""


class WebhookSignatureInvalid(GatewayError):
    """A webhook's `Stripe-Signature` does not match its body, or is too old."""


_ERRORS_BY_CODE: dict[str, type[GatewayError]] = {
    "balance_insufficient": InsufficientBalance,
    "insufficient_funds": InsufficientBalance,
    "insufficient_capabilities_for_transfer": AccountCannotReceiveTransfers,
    "transfers_not_allowed": AccountCannotReceiveTransfers,
    "resource_missing": ResourceMissing,
}


def expandable_id(value: object) -> str:
    """The id of a field Stripe may send as an id or expand into an object (a dict in an
    event's payload, a StripeObject from the SDK); "" when absent."""
    if isinstance(value, dict):
        return str(value.get("id") or "")
    return str(getattr(value, "id", value) or "")


def idempotency_key(operation: str, *record_ids: object) -> str:
    """Our deterministic key for a mutating call: "<operation>:<record ids>" ("transfer:42")."""
    return ":".join([operation, *(str(part) for part in record_ids)])


# --- The client --------------------------------------------------------------------------------
@lru_cache(maxsize=8)
def _client_for(api_key: str, api_base: str, api_version: str, timeout: float) -> Any:
    addresses: Any = {"api": api_base, "connect": api_base, "files": api_base} if api_base else None
    return stripe.StripeClient(
        api_key,
        stripe_version=api_version or None,
        base_addresses=addresses,
        max_network_retries=0,  # ours are the only retries: same key, our backoff, our journal
        http_client=stripe.RequestsClient(timeout=timeout),
    )


def _client() -> stripe.StripeClient:
    return _client_for(
        settings.STRIPE_SECRET_KEY,
        settings.STRIPE_API_BASE,
        settings.STRIPE_API_VERSION,
        float(settings.STRIPE_REQUEST_TIMEOUT),
    )


def _options(*, key: str | None = None, account: str | None = None) -> Any:
    options: dict[str, str] = {}
    if key:
        options["idempotency_key"] = key
    if account:
        options["stripe_account"] = account
    return options


# --- Retries, translation, journal -------------------------------------------------------------
def _header(exc: stripe.StripeError, name: str) -> str | None:
    for key, value in (exc.headers or {}).items():
        if key.lower() == name:
            return str(value)
    return None


def _is_transient(exc: stripe.StripeError) -> bool:
    advice = _header(exc, "stripe-should-retry")
    if advice in ("true", "false"):
        return advice == "true"
    if isinstance(exc, stripe.APIConnectionError):
        return exc.should_retry  # timeouts and refused/reset connections; not TLS failures
    status = exc.http_status or 0
    return status in (409, 429) or status >= 500


def _backoff(attempt: int) -> float:
    """Exponential, capped, with "equal jitter": half fixed, half random."""
    ceiling = min(
        float(settings.STRIPE_RETRY_MAX_DELAY),
        float(settings.STRIPE_RETRY_BASE_DELAY) * 2 ** (attempt - 1),
    )
    return ceiling / 2 + random.uniform(0, ceiling / 2)


def _translate(exc: stripe.StripeError) -> GatewayError:
    error: Any = exc.error
    details: dict[str, Any] = error.to_dict() if error is not None else {}
    code = str(exc.code or details.get("code") or "")
    kwargs: dict[str, Any] = {
        "code": code,
        "http_status": exc.http_status,
        "param": str(details.get("param") or ""),
        "decline_code": str(details.get("decline_code") or ""),
        "request_id": exc.request_id or "",
    }
    message = exc.user_message or str(exc)
    if _is_transient(exc):
        return GatewayUnavailable(message, **kwargs)
    if isinstance(exc, stripe.CardError):
        return CardDeclined(message, **kwargs)
    if isinstance(exc, stripe.IdempotencyError):
        return IdempotencyConflict(message, **kwargs)
    if isinstance(exc, (stripe.AuthenticationError, stripe.PermissionError)):
        return NotPermitted(message, **kwargs)
    if code in _ERRORS_BY_CODE:
        return _ERRORS_BY_CODE[code](message, **kwargs)
    if isinstance(exc, stripe.InvalidRequestError) or 400 <= (exc.http_status or 0) < 500:
        return InvalidRequest(message, **kwargs)
    return GatewayError(message, **kwargs)


def _send(operation: str, call: Callable[[], T], journal: StripeRequest | None = None) -> T:
    """Run one SDK call with rate limiting and retries; raise GatewayError on failure."""
    attempts = max(1, int(settings.STRIPE_MAX_ATTEMPTS))
    for attempt in range(1, attempts + 1):
        try:
            stripe_rate_limit_take()
        except RateLimitWaitExceeded as exc:
            raise GatewayUnavailable(str(exc), code="rate_limit_wait_exceeded") from exc
        if journal is not None:
            StripeRequest.objects.filter(pk=journal.pk).update(
                attempts=F("attempts") + 1, updated_at=clock.now()
            )
        try:
            return call()
        except stripe.StripeError as exc:
            if attempt < attempts and _is_transient(exc):
                delay = _backoff(attempt)
                log.warning(
                    "stripe_retry",
                    operation=operation,
                    attempt=attempt,
                    http_status=exc.http_status,
                    error=type(exc).__name__,
                    delay=round(delay, 3),
                )
                time.sleep(delay)
                continue
            raise _translate(exc) from exc
    raise AssertionError("unreachable: the loop returns or raises")


def _journal_open(*, key: str, operation: str, account: str | None) -> StripeRequest:
    with transaction.atomic():
        journal, _ = StripeRequest.objects.get_or_create(
            idempotency_key=key,
            defaults={"operation": operation, "stripe_account": account or ""},
        )
    if journal.operation != operation or journal.stripe_account != (account or ""):
        raise IdempotencyConflict(
            f"Idempotency key {key!r} was already used for {journal.operation}.",
            code="idempotency_key_reused",
        )
    return journal


def _journal_close(
    journal: StripeRequest, *, result: Any = None, error: GatewayError | None = None
) -> None:
    now = clock.now()
    if error is None:
        StripeRequest.objects.filter(pk=journal.pk).update(
            status=StripeRequest.Status.SUCCEEDED,
            stripe_object_id=str(getattr(result, "id", "") or ""),
            http_status=200,
            error_code="",
            error_message="",
            completed_at=now,
            updated_at=now,
        )
        return
    # A transient failure leaves the outcome unknown (the request may have been executed):
    # the row stays pending and the next try reuses the key.
    StripeRequest.objects.filter(pk=journal.pk).update(
        status=StripeRequest.Status.PENDING if error.retryable else StripeRequest.Status.FAILED,
        http_status=error.http_status,
        error_code=error.code[:100],
        error_message=error.message,
        completed_at=None if error.retryable else now,
        updated_at=now,
    )


def _mutate(
    operation: str,
    key: str,
    call: Callable[[Any], T],
    *,
    account: str | None = None,
    retrieve: Callable[[str], T] | None = None,
) -> T:
    """A journalled, idempotent, retried mutating call. `call` receives the request options."""
    if not key:
        raise ValueError("Every mutating Stripe call needs our idempotency key.")
    journal = _journal_open(key=key, operation=operation, account=account)
    done = journal.status == StripeRequest.Status.SUCCEEDED and journal.stripe_object_id
    if retrieve is not None and done:
        return retrieve(journal.stripe_object_id)
    options = _options(key=key, account=account)
    try:
        result = _send(operation, lambda: call(options), journal)
    except GatewayError as exc:
        _journal_close(journal, error=exc)
        log.warning("stripe_call_failed", operation=operation, key=key, error=str(exc))
        raise
    _journal_close(journal, result=result)
    return result


def _read(operation: str, call: Callable[[], T]) -> T:
    return _send(operation, call)


def _paginate(
    operation: str,
    list_page: Callable[[Any], Any],
    params: dict[str, Any],
    page_size: int = MAX_PAGE_SIZE,
) -> Iterator[Any]:
    """Every item of a Stripe list, page by page, each page a rate-limited, retried call."""
    starting_after: str | None = None
    while True:
        page_params = {k: v for k, v in params.items() if v is not None}
        page_params["limit"] = page_size
        if starting_after:
            page_params["starting_after"] = starting_after
        page = _read(operation, partial(list_page, page_params))
        yield from page.data
        if not page.has_more or not page.data:
            return
        starting_after = page.data[-1].id


def _currency(code: str) -> str:
    return code.lower()


def _metadata(metadata: Metadata | None) -> dict[str, str]:
    return {str(k): str(v) for k, v in (metadata or {}).items()}


# --- Connected accounts ------------------------------------------------------------------------
CONNECTED_ACCOUNT_PAYOUT_SCHEDULE = {"interval": "weekly", "weekly_anchor": "friday"}
"""Stripe pays a payee's balance to its bank every Friday (we never create their payouts):
until then a transfer can still be reversed if its payment is refunded or lost."""


def connected_account_create(
    *,
    country: str,
    email: str | None,
    business_name: str,
    metadata: Metadata,
    idempotency_key: str,
) -> stripe.Account:
    """An Express connected account that can receive transfers (the `transfers` capability);
    Stripe hosts its onboarding and dashboard. It is paid out automatically once a week
    (`CONNECTED_ACCOUNT_PAYOUT_SCHEDULE`): see the README's Stripe section for why."""
    params: Any = {
        "type": "express",
        "country": country.upper(),
        "capabilities": {"transfers": {"requested": True}},
        "business_profile": {"name": business_name},
        "metadata": _metadata(metadata),
        "settings": {"payouts": {"schedule": dict(CONNECTED_ACCOUNT_PAYOUT_SCHEDULE)}},
    }
    if email:
        params["email"] = email
    client = _client()
    return _mutate(
        "account.create",
        idempotency_key,
        lambda options: client.v1.accounts.create(params=params, options=options),
        retrieve=lambda account_id: connected_account_retrieve(account_id=account_id),
    )


def connected_account_retrieve(*, account_id: str) -> stripe.Account:
    client = _client()
    return _read("account.retrieve", lambda: client.v1.accounts.retrieve(account_id))


def account_link_create(
    *, account_id: str, refresh_url: str, return_url: str, idempotency_key: str
) -> stripe.AccountLink:
    """A single-use, expiring link to Stripe's hosted onboarding for this account."""
    params: Any = {
        "account": account_id,
        "refresh_url": refresh_url,
        "return_url": return_url,
        "type": "account_onboarding",
    }
    client = _client()
    return _mutate(
        "account_link.create",
        idempotency_key,
        lambda options: client.v1.account_links.create(params=params, options=options),
    )


# --- Checkout and customers --------------------------------------------------------------------
@dataclass(frozen=True)
class LineItem:
    name: str
    unit_amount_minor: int
    quantity: int = 1


@dataclass(frozen=True)
class CheckoutRequest:
    """What a Checkout Session is for. `transfer_group` is our business id (an agreement or
    invoice); `metadata` links the session, its PaymentIntent and charge back to our records.
    `save_card_for_later` (with the payer's consent) saves the card for off-session charges."""

    currency: str
    line_items: Sequence[LineItem]
    success_url: str
    cancel_url: str
    transfer_group: str
    metadata: Metadata = field(default_factory=dict)
    customer_id: str | None = None
    customer_email: str | None = None
    client_reference_id: str | None = None
    save_card_for_later: bool = False
    description: str | None = None


def checkout_session_create(
    *, checkout: CheckoutRequest, idempotency_key: str
) -> stripe.checkout.Session:
    """A hosted Checkout Session (mode=payment): card data goes to Stripe, never to us."""
    metadata = _metadata(checkout.metadata)
    payment_intent_data: dict[str, Any] = {
        "transfer_group": checkout.transfer_group,
        "metadata": metadata,
    }
    if checkout.save_card_for_later:
        payment_intent_data["setup_future_usage"] = "off_session"
    if checkout.description:
        payment_intent_data["description"] = checkout.description
    params: Any = {
        "mode": "payment",
        "line_items": [
            {
                "quantity": item.quantity,
                "price_data": {
                    "currency": _currency(checkout.currency),
                    "unit_amount": item.unit_amount_minor,
                    "product_data": {"name": item.name},
                },
            }
            for item in checkout.line_items
        ],
        "success_url": checkout.success_url,
        "cancel_url": checkout.cancel_url,
        "metadata": metadata,
        "payment_intent_data": payment_intent_data,
    }
    if checkout.customer_id:
        params["customer"] = checkout.customer_id
    elif checkout.customer_email:
        params["customer_email"] = checkout.customer_email
    if checkout.client_reference_id:
        params["client_reference_id"] = checkout.client_reference_id
    if checkout.save_card_for_later and not checkout.customer_id:
        params["customer_creation"] = "always"
    client = _client()
    return _mutate(
        "checkout_session.create",
        idempotency_key,
        lambda options: client.v1.checkout.sessions.create(params=params, options=options),
        retrieve=lambda session_id: checkout_session_retrieve(session_id=session_id),
    )


def checkout_session_retrieve(
    *, session_id: str, expand: Sequence[str] = ()
) -> stripe.checkout.Session:
    client = _client()
    params: Any = {"expand": list(expand)} if expand else None
    return _read(
        "checkout_session.retrieve",
        lambda: client.v1.checkout.sessions.retrieve(session_id, params=params),
    )


def checkout_session_expire(*, session_id: str, idempotency_key: str) -> stripe.checkout.Session:
    client = _client()
    return _mutate(
        "checkout_session.expire",
        idempotency_key,
        lambda options: client.v1.checkout.sessions.expire(session_id, options=options),
    )


def customer_create(
    *, email: str | None, name: str, metadata: Metadata, idempotency_key: str
) -> stripe.Customer:
    params: Any = {"name": name, "metadata": _metadata(metadata)}
    if email:
        params["email"] = email
    client = _client()
    return _mutate(
        "customer.create",
        idempotency_key,
        lambda options: client.v1.customers.create(params=params, options=options),
        retrieve=lambda customer_id: _read(
            "customer.retrieve", lambda: client.v1.customers.retrieve(customer_id)
        ),
    )


def payment_methods_list(*, customer_id: str) -> list[stripe.PaymentMethod]:
    """The customer's saved cards, newest first."""
    client = _client()
    return list(
        _paginate(
            "payment_method.list",
            lambda params: client.v1.customers.payment_methods.list(customer_id, params=params),
            {"type": "card"},
        )
    )


def payment_intent_create_off_session(
    *,
    amount_minor: int,
    currency: str,
    customer_id: str,
    payment_method_id: str,
    transfer_group: str,
    metadata: Metadata,
    idempotency_key: str,
    description: str | None = None,
) -> stripe.PaymentIntent:
    """Charge a saved card with nobody present (usage royalties): created and confirmed at once.
    A decline raises CardDeclined (with Stripe's decline_code)."""
    params: Any = {
        "amount": amount_minor,
        "currency": _currency(currency),
        "customer": customer_id,
        "payment_method": payment_method_id,
        "confirm": True,
        "off_session": True,
        "transfer_group": transfer_group,
        "metadata": _metadata(metadata),
    }
    if description:
        params["description"] = description
    client = _client()
    return _mutate(
        "payment_intent.create",
        idempotency_key,
        lambda options: client.v1.payment_intents.create(params=params, options=options),
        retrieve=lambda intent_id: payment_intent_retrieve(payment_intent_id=intent_id),
    )


def payment_intent_retrieve(*, payment_intent_id: str) -> stripe.PaymentIntent:
    client = _client()
    return _read(
        "payment_intent.retrieve", lambda: client.v1.payment_intents.retrieve(payment_intent_id)
    )


def charge_retrieve(*, charge_id: str, with_balance_transaction: bool = False) -> stripe.Charge:
    client = _client()
    params: Any = {"expand": ["balance_transaction"]} if with_balance_transaction else None
    return _read("charge.retrieve", lambda: client.v1.charges.retrieve(charge_id, params=params))


# --- Refunds and disputes ----------------------------------------------------------------------
def refund_create(
    *,
    charge_id: str,
    idempotency_key: str,
    amount_minor: int | None = None,
    reason: str | None = None,
    metadata: Metadata | None = None,
) -> stripe.Refund:
    """Refund all of a charge, or `amount_minor` of it. Stripe keeps its processing fee."""
    params: Any = {"charge": charge_id, "metadata": _metadata(metadata)}
    if amount_minor is not None:
        params["amount"] = amount_minor
    if reason:
        params["reason"] = reason
    client = _client()
    return _mutate(
        "refund.create",
        idempotency_key,
        lambda options: client.v1.refunds.create(params=params, options=options),
        retrieve=lambda refund_id: refund_retrieve(refund_id=refund_id),
    )


def refund_retrieve(*, refund_id: str) -> stripe.Refund:
    client = _client()
    return _read("refund.retrieve", lambda: client.v1.refunds.retrieve(refund_id))


def refunds_list(*, charge_id: str) -> list[stripe.Refund]:
    client = _client()
    return list(
        _paginate(
            "refund.list",
            lambda params: client.v1.refunds.list(params=params),
            {"charge": charge_id},
        )
    )


def dispute_retrieve(*, dispute_id: str) -> stripe.Dispute:
    client = _client()
    return _read("dispute.retrieve", lambda: client.v1.disputes.retrieve(dispute_id))


# --- Transfers and payouts ---------------------------------------------------------------------
def transfer_create(
    *,
    destination_account_id: str,
    amount_minor: int,
    currency: str,
    idempotency_key: str,
    transfer_group: str | None = None,
    source_transaction: str | None = None,
    metadata: Metadata | None = None,
    description: str | None = None,
) -> stripe.Transfer:
    """Move money from the platform's balance to a connected account.

    With `source_transaction` (the charge the money came from) the transfer may use that
    charge's funds while they are still pending, and settles when they do; without it, the
    platform's available balance must cover it (InsufficientBalance otherwise). Refused with
    AccountCannotReceiveTransfers, before any call, unless we know the destination's
    `transfers` capability to be active."""
    destination = StripeConnectedAccount.objects.filter(
        stripe_account_id=destination_account_id
    ).first()
    if destination is None or not destination.can_receive_transfers:
        raise AccountCannotReceiveTransfers(
            f"Connected account {destination_account_id} cannot receive transfers yet "
            "(its transfers capability is not active).",
            code="account_cannot_receive_transfers",
            param="destination",
        )
    params: Any = {
        "amount": amount_minor,
        "currency": _currency(currency),
        "destination": destination_account_id,
        "metadata": _metadata(metadata),
    }
    if transfer_group:
        params["transfer_group"] = transfer_group
    if source_transaction:
        params["source_transaction"] = source_transaction
    if description:
        params["description"] = description
    client = _client()
    return _mutate(
        "transfer.create",
        idempotency_key,
        lambda options: client.v1.transfers.create(params=params, options=options),
        retrieve=lambda transfer_id: transfer_retrieve(transfer_id=transfer_id),
    )


def transfer_retrieve(*, transfer_id: str) -> stripe.Transfer:
    client = _client()
    return _read("transfer.retrieve", lambda: client.v1.transfers.retrieve(transfer_id))


def transfers_list(
    *, destination_account_id: str | None = None, transfer_group: str | None = None
) -> Iterator[stripe.Transfer]:
    client = _client()
    return _paginate(
        "transfer.list",
        lambda params: client.v1.transfers.list(params=params),
        {"destination": destination_account_id, "transfer_group": transfer_group},
    )


def transfer_reversal_create(
    *,
    transfer_id: str,
    idempotency_key: str,
    amount_minor: int | None = None,
    metadata: Metadata | None = None,
) -> stripe.TransferReversal:
    """Take back all of a transfer, or `amount_minor` of it, from the connected account."""
    params: Any = {"metadata": _metadata(metadata)}
    if amount_minor is not None:
        params["amount"] = amount_minor
    client = _client()
    return _mutate(
        "transfer_reversal.create",
        idempotency_key,
        lambda options: client.v1.transfers.reversals.create(
            transfer_id, params=params, options=options
        ),
        retrieve=lambda reversal_id: _read(
            "transfer_reversal.retrieve",
            lambda: client.v1.transfers.reversals.retrieve(transfer_id, reversal_id),
        ),
    )


def payout_create(
    *,
    account_id: str,
    amount_minor: int,
    currency: str,
    idempotency_key: str,
    metadata: Metadata | None = None,
    description: str | None = None,
) -> stripe.Payout:
    """Pay out a connected account's available balance to its bank account."""
    params: Any = {
        "amount": amount_minor,
        "currency": _currency(currency),
        "metadata": _metadata(metadata),
    }
    if description:
        params["description"] = description
    client = _client()
    return _mutate(
        "payout.create",
        idempotency_key,
        lambda options: client.v1.payouts.create(params=params, options=options),
        account=account_id,
        retrieve=lambda payout_id: payout_retrieve(payout_id=payout_id, account_id=account_id),
    )


def payout_retrieve(*, payout_id: str, account_id: str | None = None) -> stripe.Payout:
    client = _client()
    options = _options(account=account_id)
    return _read("payout.retrieve", lambda: client.v1.payouts.retrieve(payout_id, options=options))


# --- Balances ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class BalanceAmounts:
    """An account's balance in minor units per currency (uppercase ISO 4217)."""

    available: dict[str, int]
    pending: dict[str, int]

    def available_minor(self, currency: str) -> int:
        return self.available.get(currency.upper(), 0)

    def pending_minor(self, currency: str) -> int:
        return self.pending.get(currency.upper(), 0)


def balance_retrieve(*, account_id: str | None = None) -> BalanceAmounts:
    """The platform's balance, or a connected account's."""
    client = _client()
    options = _options(account=account_id)
    balance = _read("balance.retrieve", lambda: client.v1.balance.retrieve(options=options))

    def by_currency(entries: Any) -> dict[str, int]:
        totals: dict[str, int] = {}
        for entry in entries or []:
            code = entry.currency.upper()
            totals[code] = totals.get(code, 0) + int(entry.amount)
        return totals

    return BalanceAmounts(
        available=by_currency(balance.available), pending=by_currency(balance.pending)
    )


def balance_transactions(
    *,
    account_id: str | None = None,
    type: str | None = None,
    source: str | None = None,
    payout: str | None = None,
    currency: str | None = None,
    created_gte: int | None = None,
    created_lt: int | None = None,
    page_size: int = MAX_PAGE_SIZE,
) -> Iterator[stripe.BalanceTransaction]:
    """Every balance transaction matching the filters, newest first, fetched page by page as
    the iterator is consumed (bounded memory however many there are)."""
    client = _client()
    options = _options(account=account_id)
    created = {k: v for k, v in (("gte", created_gte), ("lt", created_lt)) if v is not None} or None
    return _paginate(
        "balance_transaction.list",
        lambda params: client.v1.balance_transactions.list(params=params, options=options),
        {
            "type": type,
            "source": source,
            "payout": payout,
            "currency": _currency(currency) if currency else None,
            "created": created,
        },
        page_size,
    )


# --- Events and webhooks -----------------------------------------------------------------------
def events_list(
    *,
    types: Sequence[str] = (),
    created_gte: int | None = None,
    account_id: str | None = None,
    page_size: int = MAX_PAGE_SIZE,
) -> Iterator[stripe.Event]:
    """Events newest first (Stripe keeps 30 days), e.g. to recover missed webhooks."""
    client = _client()
    options = _options(account=account_id)
    return _paginate(
        "event.list",
        lambda params: client.v1.events.list(params=params, options=options),
        {
            "types": list(types) or None,
            "created": {"gte": created_gte} if created_gte is not None else None,
        },
        page_size,
    )


def event_retrieve(*, event_id: str, account_id: str | None = None) -> stripe.Event:
    client = _client()
    options = _options(account=account_id)
    return _read("event.retrieve", lambda: client.v1.events.retrieve(event_id, options=options))


def event_payload(event: stripe.Event) -> str:
    """The event as the JSON Stripe would POST to a webhook endpoint."""
    return json.dumps(event.to_dict(for_json=True))


def webhook_signature_verify(
    *, payload: bytes, signature: str | None, secret: str | None = None
) -> None:
    """Check a webhook's `Stripe-Signature`: any matching v1 signature, dated at most
    `settings.STRIPE_WEBHOOK_TOLERANCE` seconds from now, in the past or in the future.

    The SDK's check refuses only old timestamps; one dated ahead of the wall clock by more than
    the tolerance is refused here, like a stale one (a signature made for later replay, or a
    signer whose clock is wrong)."""
    tolerance = int(settings.STRIPE_WEBHOOK_TOLERANCE)
    try:
        stripe.WebhookSignature.verify_header(
            payload, signature, secret or settings.STRIPE_WEBHOOK_SECRET, tolerance=tolerance
        )
    except (stripe.SignatureVerificationError, ValueError) as exc:
        raise WebhookSignatureInvalid(str(exc), code="signature_invalid") from exc
    signed_at = _signature_timestamp(signature or "")
    if tolerance and signed_at > clock.real_now().timestamp() + tolerance:
        raise WebhookSignatureInvalid(
            f"Timestamp outside the tolerance zone ({signed_at}): in the future",
            code="signature_invalid",
        )


def _signature_timestamp(header: str) -> int:
    """The `t=` of a header the SDK has accepted (read as the SDK reads it: the first one)."""
    items = [item.split("=", 2) for item in header.split(",")]
    return int(next(item[1] for item in items if item[0] == "t"))


def webhook_event_verify(
    *, payload: bytes, signature: str | None, secret: str | None = None
) -> dict[str, Any]:
    """`webhook_signature_verify`, then the body as a dict (an object with an id and a type)."""
    webhook_signature_verify(payload=payload, signature=signature, secret=secret)
    event = json.loads(payload)
    if not isinstance(event, dict) or not event.get("id") or not event.get("type"):
        raise WebhookSignatureInvalid("Not a Stripe event.", code="payload_invalid")
    return event


def webhook_endpoints_list() -> list[stripe.WebhookEndpoint]:
    client = _client()
    return list(
        _paginate(
            "webhook_endpoint.list",
            lambda params: client.v1.webhook_endpoints.list(params=params),
            {},
        )
    )
