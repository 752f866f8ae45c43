"""In-memory store of Stripe objects, guarded by one lock, optionally persisted as JSON.

Objects are plain dicts shaped like Stripe's. Keys starting with "_" are private to the
emulator (owner account, insertion order, secrets) and never leave it; ``public`` strips them.
Every object belongs to an owner: None for the platform, or a connected account's id, so the
``Stripe-Account`` header decides what a request can see.
"""

import copy
import json
import os
import secrets
import string
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from stripe_emulator.errors import invalid, no_such, unknown_param
from stripe_emulator.params import integer

API_VERSION = "2026-10-28.endive"
DEFAULT_CONFIG: dict[str, Any] = {
    "api_version": API_VERSION,
    "card_fee_bps": 290,  # 2.9 %
    "card_fee_fixed": 30,  # + 30 minor units
    "dispute_fee": 1500,
    # Card funds stay pending this long (Stripe: about two days), unless paid with the test
    # card 4000000000000077, whose funds are available at once.
    "available_delay_seconds": 2 * 86400,
    "payout_failure_code": None,  # e.g. "account_closed": settled payouts fail
    "refunds_pending": False,  # new refunds stay pending until control refunds/{id}/settle
    "decline_next_off_session": 0,  # this many off-session confirmations decline
    "decline_reason": "generic_decline",  # decline_code used: or "insufficient_funds"
    "webhook_duplicate": False,  # deliver every event twice
    "webhook_order": "normal",  # normal | reverse | shuffle (per delivery batch)
    "webhook_seed": 0,
    "webhook_delay_seconds": 0.0,
    "webhook_paused": False,
    "webhook_max_attempts": 4,
    "webhook_retry_seconds": 0.5,  # first retry delay, doubled on each attempt
}
IDEMPOTENCY_TTL = 24 * 3600
_ALPHABET = string.ascii_letters + string.digits


# Seconds the emulator's clock runs ahead of the wall clock (a test clock for the whole
# emulator: moved forward by the control API, never back, saved with the state).
_clock = {"offset": 0}


def now() -> int:
    return int(time.time()) + _clock["offset"]


def clock_offset() -> int:
    return _clock["offset"]


def clock_set_offset(offset: int) -> None:
    _clock["offset"] = max(_clock["offset"], int(offset))


def new_id(prefix: str) -> str:
    return prefix + "_" + "".join(secrets.choice(_ALPHABET) for _ in range(24))


# (method, path template such as "/v1/transfers/{transfer}", handler(st, ctx, **path_ids))
Route = tuple[str, str, Callable[..., Any]]


@dataclass
class Response:
    """A non-JSON answer (HTML page, redirect) from a handler."""

    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Ctx:
    """What a handler knows about the request it serves."""

    method: str
    path: str
    params: dict[str, Any]
    account: str | None = None  # Stripe-Account header: the connected account acted on
    request_id: str | None = None
    idempotency_key: str | None = None
    base_url: str = ""
    api: bool = True  # False for hosted pages and control calls (events get no request id)
    deliverer: Any = None
    after: list[Callable[[], None]] = field(default_factory=list)  # run once the lock is free


class State:
    def __init__(self, path: str | None = None) -> None:
        self.lock = threading.RLock()
        self.path = path
        self.reset()
        if path and os.path.exists(path):
            self.load()

    def reset(self) -> None:
        self.objects: dict[str, dict[str, Any]] = {}
        # (type, owner) -> {id: object}, so `find` reads one type's objects, not every object
        # (lists and balances stay fast however many transfers a benchmark creates).
        self.by_kind: dict[tuple[str, str | None], dict[str, dict[str, Any]]] = {}
        # Balance bookkeeping kept as transactions are added, so that a balance check (every
        # transfer makes one) and the settling of pending funds (every request) do not read
        # every transaction: net totals per (owner, currency), and the pending ones by id.
        self.net_totals: dict[tuple[str | None, str], int] = {}
        self.txn_counts: dict[tuple[str | None, str], int] = {}
        self.pending_txns: dict[str, dict[str, Any]] = {}
        self.seq = 0
        self.links: dict[str, dict[str, Any]] = {}  # account link token -> link
        self.idempotency: dict[str, dict[str, Any]] = {}
        self.config: dict[str, Any] = dict(DEFAULT_CONFIG)
        self.faults: list[dict[str, Any]] = []
        self.request_log: list[dict[str, Any]] = []
        self.outbox: list[str] = []  # ids of events not yet handed to the deliverer
        self.sweep_at = 0  # earliest automatic payout due (0: none, or not yet computed)
        self.clock_offset = 0
        _clock["offset"] = 0

    # -- persistence -------------------------------------------------------------------
    _SAVED = ("objects", "seq", "links", "idempotency", "config", "clock_offset")

    def save(self) -> None:
        if not self.path:
            return
        done = {k: v for k, v in self.idempotency.items() if v["status"] is not None}
        data = {name: getattr(self, name) for name in self._SAVED} | {"idempotency": done}
        tmp = self.path + ".tmp"
        with open(tmp, "w") as f:
            json.dump(data, f)
        os.replace(tmp, self.path)  # atomic, so a crash never leaves half a file

    def load(self) -> None:
        assert self.path
        with open(self.path) as f:
            data = json.load(f)
        for name in self._SAVED:
            if name in data:
                setattr(self, name, data[name])
        _clock["offset"] = int(self.clock_offset)
        self.config = DEFAULT_CONFIG | self.config
        self.by_kind, self.net_totals, self.txn_counts, self.pending_txns = {}, {}, {}, {}
        self.sweep_at = 0
        for obj in self.objects.values():
            self._index(obj)
            due = obj.get("_next_payout_at")
            if due:
                self.sweep_at = min(self.sweep_at, due) if self.sweep_at else due

    # -- objects -------------------------------------------------------------------------
    def put(self, obj: dict[str, Any], owner: str | None) -> dict[str, Any]:
        self.seq += 1
        obj["_account"] = owner
        obj["_seq"] = self.seq
        self.objects[obj["id"]] = obj
        self._index(obj)
        return obj

    def _index(self, obj: dict[str, Any]) -> None:
        owner = obj["_account"]
        self.by_kind.setdefault((obj["object"], owner), {})[obj["id"]] = obj
        if obj["object"] == "balance_transaction":
            key = (owner, obj["currency"])
            self.net_totals[key] = self.net_totals.get(key, 0) + obj["net"]
            self.txn_counts[key] = self.txn_counts.get(key, 0) + 1
            if obj["status"] == "pending":
                self.pending_txns[obj["id"]] = obj

    def remove(self, object_id: str) -> None:
        obj = self.objects.pop(object_id)
        self.by_kind.get((obj["object"], obj["_account"]), {}).pop(object_id, None)

    def get(
        self,
        object_id: Any,
        kind: str,
        owner: str | None,
        *,
        param: str = "id",
        status: int = 404,
        label: str | None = None,
    ) -> dict[str, Any]:
        """Fetch an object of type ``kind`` visible to ``owner`` or raise resource_missing."""
        obj = self.objects.get(object_id) if isinstance(object_id, str) else None
        if obj is None or obj["object"] != kind or obj["_account"] != owner:
            raise no_such(
                label or kind.split(".")[-1].replace("_", " "), str(object_id), param, status
            )
        return obj

    def find(self, kind: str, owner: str | None, **equals: Any) -> list[dict[str, Any]]:
        """Objects of a type visible to ``owner``, newest first, matching non-None filters."""
        wanted = {k: v for k, v in equals.items() if v is not None}
        found = [
            o
            for o in self.by_kind.get((kind, owner), {}).values()
            if all(o.get(k) == v for k, v in wanted.items())
        ]
        return sorted(found, key=lambda o: -o["_seq"])


def public(obj: dict[str, Any]) -> dict[str, Any]:
    return copy.deepcopy({k: v for k, v in obj.items() if not k.startswith("_")})


def page(
    st: State, items: list[dict[str, Any]], params: dict[str, Any], url: str
) -> dict[str, Any]:
    """Stripe's list envelope over newest-first ``items`` with cursor pagination."""
    limit = integer(params, "limit", minimum=1)
    limit = 10 if limit is None else limit
    if limit > 100:
        raise invalid("This value must be less than or equal to 100.", "limit")
    after, before = params.get("starting_after"), params.get("ending_before")
    ids = [o["id"] for o in items]
    if after:
        if after not in ids:
            raise no_such("object", after, "starting_after", 400)
        rest = items[ids.index(after) + 1 :]
        chosen, has_more = rest[:limit], len(rest) > limit
    elif before:
        if before not in ids:
            raise no_such("object", before, "ending_before", 400)
        rest = items[: ids.index(before)]
        chosen, has_more = rest[-limit:], len(rest) > limit
    else:
        chosen, has_more = items[:limit], len(items) > limit
    return {"object": "list", "data": [public(o) for o in chosen], "has_more": has_more, "url": url}


def expand(st: State, data: dict[str, Any], paths: list[str], owner: str | None) -> None:
    """Replace id strings named by expand paths ("a", "a.b", "data.a") with the objects."""
    for path in paths:
        _expand(st, data, path.split("."), owner)


def _expand(st: State, node: Any, parts: list[str], owner: str | None) -> None:
    if not parts or not isinstance(node, dict):
        return
    head, rest = parts[0], parts[1:]
    if head == "data" and isinstance(node.get("data"), list):
        for item in node["data"]:
            _expand(st, item, rest, owner)
        return
    value = node.get(head)
    if isinstance(value, str) and value in st.objects:
        target = st.objects[value]
        if target["_account"] == owner:
            node[head] = value = public(target)
    _expand(st, value, rest, owner)


def filter_created(items: list[dict[str, Any]], params: dict[str, Any]) -> list[dict[str, Any]]:
    """Apply ``created=T`` or ``created[gte|gt|lte|lt]=T`` as Stripe list endpoints do."""
    raw = params.get("created")
    if raw is None or raw == "":
        return items
    if isinstance(raw, str):
        exact = integer(params, "created")
        return [o for o in items if o["created"] == exact]
    ops = {"gte": int.__ge__, "gt": int.__gt__, "lte": int.__le__, "lt": int.__lt__}
    for op in raw:
        if op not in ops:
            raise unknown_param(f"created[{op}]")
        limit = integer(raw, op, f"created[{op}]")
        items = [o for o in items if limit is None or ops[op](o["created"], limit)]
    return items
