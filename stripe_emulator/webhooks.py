"""Webhook delivery: signed POSTs from a background thread, never from the API request.

Events go into ``State.outbox`` while the state lock is held; after each request the server
turns them into ``Delivery`` items (``take_outbox``) and hands them to the ``Deliverer``. The
deliverer sends whatever is due as one batch, which the control switches can duplicate,
reverse or shuffle, delay, or hold back (pause) until resumed or flushed.
"""

import dataclasses
import hashlib
import hmac
import json
import random
import threading
import time
import urllib.error
import urllib.request
from typing import Any

from stripe_emulator.resources.events import endpoints_for
from stripe_emulator.state import State, public


@dataclasses.dataclass
class Delivery:
    event_id: str
    event_type: str
    endpoint_id: str
    url: str
    secret: str
    payload: str
    attempt: int = 1
    due: float = 0.0


def sign(payload: str, secret: str, timestamp: int) -> str:
    """The ``Stripe-Signature`` header: HMAC-SHA256 of "{t}.{payload}" keyed by the secret."""
    mac = hmac.new(secret.encode(), f"{timestamp}.{payload}".encode(), hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


def take_outbox(st: State) -> list[Delivery]:
    """Turn events emitted since the last call into deliveries (call with the lock held)."""
    items = []
    for event_id in st.outbox:
        event = st.objects.get(event_id)
        if event is None:  # wiped by a reset in the meantime
            continue
        payload = json.dumps(public(event), indent=2)
        for endpoint in endpoints_for(st, event["type"], event["_account"]):
            items.append(
                Delivery(
                    event_id,
                    event["type"],
                    endpoint["id"],
                    endpoint["url"],
                    endpoint["_secret"],
                    payload,
                )
            )
    st.outbox.clear()
    return items


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """Stripe treats a redirect as a failed delivery instead of following it."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


# No proxies either: endpoints are local development servers.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}), _NoRedirect)


class Deliverer:
    def __init__(self, st: State) -> None:
        self.st = st
        self.cond = threading.Condition()
        self.queue: list[Delivery] = []
        self.log: list[dict[str, Any]] = []
        self.stopping = False
        self.thread = threading.Thread(target=self._run, name="webhook-delivery", daemon=True)

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        with self.cond:
            self.stopping = True
            self.cond.notify_all()
        self.thread.join(timeout=5)

    def clear(self) -> None:
        with self.cond:
            self.queue.clear()
            self.log.clear()

    def wake(self) -> None:
        """Re-check the queue now (e.g. after a config change such as resume)."""
        with self.cond:
            self.cond.notify_all()

    def enqueue(self, items: list[Delivery]) -> None:
        config = self.st.config
        due = time.time() + float(config["webhook_delay_seconds"])
        copies = 2 if config["webhook_duplicate"] else 1
        with self.cond:
            for item in items:
                self.queue.extend(dataclasses.replace(item, due=due) for _ in range(copies))
            self.cond.notify_all()

    def flush(self) -> None:
        """Deliver everything queued now, ignoring pause and delay; returns when done."""
        with self.cond:
            batch = self._take(everything=True)
        for item in batch:
            self._send(item)

    def deliveries(self) -> list[dict[str, Any]]:
        with self.cond:
            return list(self.log)

    def pending(self) -> int:
        with self.cond:
            return len(self.queue)

    def _take(self, everything: bool) -> list[Delivery]:
        t = time.time()
        batch = [d for d in self.queue if everything or d.due <= t]
        self.queue = [d for d in self.queue if not (everything or d.due <= t)]
        order = self.st.config["webhook_order"]
        if order == "reverse":
            batch.reverse()
        elif order == "shuffle":
            random.Random(self.st.config["webhook_seed"]).shuffle(batch)
        return batch

    def _run(self) -> None:
        while True:
            with self.cond:
                batch: list[Delivery] = []
                while not batch:
                    if self.stopping:
                        return
                    if self.queue and not self.st.config["webhook_paused"]:
                        batch = self._take(everything=False)
                        wait = min((d.due for d in self.queue), default=time.time() + 1)
                        if not batch:
                            self.cond.wait(timeout=max(wait - time.time(), 0.01))
                    else:
                        self.cond.wait(timeout=0.5)
            for item in batch:
                self._send(item)

    def _send(self, item: Delivery) -> None:
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            "Stripe-Signature": sign(item.payload, item.secret, int(time.time())),
            "User-Agent": "Stripe/1.0 (+https://stripe.com/docs/webhooks)",
        }
        request = urllib.request.Request(
            item.url, data=item.payload.encode(), headers=headers, method="POST"
        )
        status: int | None = None
        error = None
        try:
            with _OPENER.open(request, timeout=10) as response:
                status = response.status
        except urllib.error.HTTPError as e:
            status = e.code
        except OSError as e:  # refused, reset, timed out
            error = str(e)
        ok = status is not None and 200 <= status < 300
        with self.cond:
            self.log.append(
                {
                    "event": item.event_id,
                    "type": item.event_type,
                    "endpoint": item.endpoint_id,
                    "url": item.url,
                    "attempt": item.attempt,
                    "status": status,
                    "error": error,
                    "time": time.time(),
                }
            )
            del self.log[:-10_000]  # bounded, for long-running demos
        if ok:
            with self.st.lock:
                event = self.st.objects.get(item.event_id)
                if event:
                    event["pending_webhooks"] = max(0, event["pending_webhooks"] - 1)
        elif item.attempt < int(self.st.config["webhook_max_attempts"]):
            backoff = float(self.st.config["webhook_retry_seconds"]) * 2 ** (item.attempt - 1)
            retry = dataclasses.replace(item, attempt=item.attempt + 1, due=time.time() + backoff)
            with self.cond:
                self.queue.append(retry)
                self.cond.notify_all()
