"""``EmulatorControl``: a small urllib client for the control API, for tests and scripts.

ctl = EmulatorControl("http://127.0.0.1:12111")
ctl.reset()
ctl.config(available_delay_seconds=3600)
ctl.add_fault("api_error", path="/v1/transfers")
"""

import json
import urllib.error
import urllib.request
from typing import Any


class ControlError(Exception):
    def __init__(self, status: int, body: Any) -> None:
        super().__init__(f"{status}: {body}")
        self.status = status
        self.body = body


_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class EmulatorControl:
    def __init__(self, base_url: str) -> None:
        self.base_url = base_url.rstrip("/")

    def call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(
            f"{self.base_url}/_emulator/{path}",
            data=data,
            method=method,
            headers={"Content-Type": "application/json"},
        )
        try:
            with _OPENER.open(request, timeout=30) as response:
                return json.loads(response.read())
        except urllib.error.HTTPError as e:
            raise ControlError(e.code, json.loads(e.read() or b"null")) from None

    # -- state and switches ------------------------------------------------------------
    def reset(self) -> None:
        self.call("POST", "reset", {})

    def config(self, **changes: Any) -> dict[str, Any]:
        """Change config keys (see state.DEFAULT_CONFIG); returns the whole config."""
        return self.call("POST", "config", changes) if changes else self.call("GET", "config")

    def add_fault(
        self,
        mode: str,
        *,
        count: int = 1,
        method: str | None = None,
        path: str | None = None,
        seconds: float = 5,
    ) -> list[dict[str, Any]]:
        """mode: api_error | rate_limit | lock_timeout | delay | timeout | drop."""
        return self.call(
            "POST",
            "faults",
            {"mode": mode, "count": count, "method": method, "path": path, "seconds": seconds},
        )["data"]

    def clear_faults(self) -> None:
        self.call("DELETE", "faults")

    # -- money ---------------------------------------------------------------------------
    def make_available(self, **account: str | None) -> int:
        """Pending funds become available now; ``account=`` limits it to one account
        (None = the platform)."""
        return self.call("POST", "balances/available", dict(account))["updated"]

    def complete_checkout(self, session: str, card: str | None = None) -> dict[str, Any]:
        return self.call("POST", f"checkout/sessions/{session}/complete", {"card": card})

    def decline_checkout(self, session: str) -> dict[str, Any]:
        return self.call("POST", f"checkout/sessions/{session}/decline", {})

    def expire_checkout(self, session: str) -> dict[str, Any]:
        return self.call("POST", f"checkout/sessions/{session}/expire", {})

    def create_dispute(
        self, charge: str, amount: int | None = None, reason: str = "fraudulent"
    ) -> dict[str, Any]:
        return self.call("POST", "disputes", {"charge": charge, "amount": amount, "reason": reason})

    def close_dispute(self, dispute: str, outcome: str) -> dict[str, Any]:
        return self.call("POST", f"disputes/{dispute}/close", {"outcome": outcome})

    def settle_refund(self, refund: str, outcome: str = "succeeded") -> dict[str, Any]:
        """A pending refund (config ``refunds_pending``) succeeds or fails."""
        return self.call("POST", f"refunds/{refund}/settle", {"outcome": outcome})

    def settle_payouts(self, **account: str | None) -> list[dict[str, Any]]:
        return self.call("POST", "payouts/settle", dict(account))["data"]

    def complete_onboarding(self, account: str) -> dict[str, Any]:
        return self.call("POST", f"accounts/{account}/onboard", {})

    # -- observation -----------------------------------------------------------------------
    def clock(self) -> dict[str, Any]:
        """``{"now": unix, "offset_seconds": n}``: the emulator's clock."""
        return self.call("GET", "clock")

    def advance_clock(self, to: int) -> dict[str, Any]:
        """Move the emulator's clock forward to Unix time ``to`` (never back)."""
        return self.call("POST", "clock/advance", {"advance_to": int(to)})

    def requests(self) -> list[dict[str, Any]]:
        return self.call("GET", "requests")["data"]

    def clear_requests(self) -> None:
        self.call("DELETE", "requests")

    def counts(self) -> dict[str, int]:
        return self.call("GET", "counts")

    # -- webhooks --------------------------------------------------------------------------
    def add_webhook_endpoint(
        self,
        url: str,
        secret: str | None = None,
        enabled_events: tuple[str, ...] = ("*",),
        connect: bool | None = None,
    ) -> dict[str, Any]:
        """connect: True = Connect events only, False = platform only, None = both."""
        return self.call(
            "POST",
            "webhook_endpoints",
            {
                "url": url,
                "secret": secret,
                "enabled_events": list(enabled_events),
                "connect": connect,
            },
        )

    def pause_webhooks(self) -> None:
        self.config(webhook_paused=True)

    def resume_webhooks(self) -> None:
        self.config(webhook_paused=False)

    def flush_webhooks(self) -> None:
        self.call("POST", "webhooks/flush", {})

    def deliveries(self) -> list[dict[str, Any]]:
        return self.call("GET", "webhooks/deliveries")["data"]
