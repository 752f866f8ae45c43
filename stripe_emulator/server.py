"""HTTP front end: routing, auth, idempotency, fault injection, request log.

``EmulatorServer`` runs a ``ThreadingHTTPServer``; every request's effect happens under the
state lock, while waits (delay and timeout faults) and webhook sends happen outside it, so a
webhook receiver may call back into the API.
"""

import base64
import json
import socket
import sys
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

from stripe_emulator import admin, openapi, pages
from stripe_emulator.errors import StripeError
from stripe_emulator.forms import parse_form
from stripe_emulator.params import expand_paths
from stripe_emulator.resources import ROUTES, compile_routes
from stripe_emulator.resources.balance import settle_due
from stripe_emulator.resources.checkout import expire_due
from stripe_emulator.resources.payouts import sweep_automatic_payouts
from stripe_emulator.state import IDEMPOTENCY_TTL, Ctx, Response, State, expand, new_id, now
from stripe_emulator.webhooks import Deliverer, take_outbox

CONTROL_ROUTES = compile_routes(admin.ROUTES + pages.ROUTES)
LOG_LIMIT = 10_000


@dataclass
class Reply:
    status: int
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)
    late: float = 0.0  # seconds to wait before answering (timeout fault)
    drop: bool = False  # close the connection without answering (drop fault)


def _json(status: int, data: dict[str, Any], headers: dict[str, str] | None = None) -> Reply:
    body = json.dumps(data, indent=2).encode()
    return Reply(status, body, {"Content-Type": "application/json", **(headers or {})})


def _route(
    table: list[Any], method: str, path: str
) -> tuple[Callable[..., Any], dict[str, str], str]:
    for verb, pattern, handler, template in table:
        match = pattern.match(path)
        if verb == method and match:
            return handler, match.groupdict(), template
    raise StripeError(
        404,
        f"Unrecognized request URL ({method}: {path}). Please see "
        "https://stripe.com/docs or we can help at https://support.stripe.com/.",
    )


def _api_key(headers: Any) -> str:
    auth = headers.get("Authorization") or ""
    scheme, _, credential = auth.partition(" ")
    if scheme.lower() == "basic":  # curl -u sk_test_...:
        credential = base64.b64decode(credential).decode(errors="replace").partition(":")[0]
    elif scheme.lower() != "bearer":
        credential = ""
    if not credential:
        raise StripeError(
            401,
            "You did not provide an API key. You need to provide your API "
            "key in the Authorization header, using Bearer auth (e.g. "
            "'Authorization: Bearer YOUR_SECRET_KEY').",
        )
    if not credential.startswith(("sk_test_", "rk_test_")):
        # Live keys are refused: nothing real must ever be pointed at the emulator.
        raise StripeError(
            401,
            f"Invalid API Key provided: {credential[:8]}****",
            code="api_key_invalid" if credential else None,
        )
    return credential


def _fault_error(mode: str) -> StripeError:
    if mode == "api_error":
        return StripeError(
            500, "An unknown error occurred (injected by the emulator).", type="api_error"
        )
    if mode == "rate_limit":
        return StripeError(
            429,
            "Request rate limit exceeded. You can learn more about rate "
            "limits here https://stripe.com/docs/rate-limits.",
            code="rate_limit",
        )
    return StripeError(
        429,
        "This object cannot be accessed right now because another API "
        "request or Stripe process is currently accessing it.",
        code="lock_timeout",
        headers={"Stripe-Should-Retry": "true"},
    )


class EmulatorServer:
    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        state_file: str | None = None,
        verbose: bool = False,
    ) -> None:
        self.state = State(state_file)
        self.deliverer = Deliverer(self.state)
        self.verbose = verbose
        self.httpd = ThreadingHTTPServer((host, port), _Handler)
        self.httpd.daemon_threads = True
        self.httpd.block_on_close = False  # don't wait for requests sleeping in a fault
        self.httpd.emulator = self  # type: ignore[attr-defined]
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self.httpd.server_address[:2]
        assert isinstance(host, str)
        return f"http://{host}:{port}"

    def start(self) -> "EmulatorServer":
        """Serve from a background thread (for tests)."""
        self.deliverer.start()
        self._thread = threading.Thread(
            target=self.httpd.serve_forever,
            args=(0.1,),  # poll often so stop() returns quickly in tests
            daemon=True,
            name="stripe-emulator",
        )
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        self.deliverer.start()
        try:
            self.httpd.serve_forever()
        finally:
            self.deliverer.stop()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.deliverer.stop()

    # -- /v1: the Stripe API -----------------------------------------------------------
    def handle_api(self, method: str, path: str, query: str, raw: str, headers: Any) -> Reply:
        st = self.state
        request_id = new_id("req")
        account = headers.get("Stripe-Account") or None
        key = headers.get("Idempotency-Key") if method == "POST" else None
        out = {
            "Request-Id": request_id,
            "Stripe-Version": headers.get("Stripe-Version") or st.config["api_version"],
        }
        if account:
            out["Stripe-Account"] = account
        if key:
            out["Idempotency-Key"] = key
        entry = {
            "method": method,
            "path": path,
            "status": 0,
            "idempotency_key": key,
            "account": account,
            "request_id": request_id,
            "time": time.time(),
            "replayed": False,
            "fault": None,
        }
        try:
            reply = self._api(method, path, query, raw, headers, entry)
        except StripeError as e:  # refused before execution: never stored for idempotency
            reply = _json(e.status, e.body(request_id), e.headers)
        reply.headers.update(out)
        entry["status"] = reply.status
        with st.lock:
            st.request_log.append(entry)
            del st.request_log[:-LOG_LIMIT]  # bounded, for long-running demos
        time.sleep(reply.late)  # logged first: the log shows what was decided and when
        return reply

    def _api(
        self, method: str, path: str, query: str, raw: str, headers: Any, entry: dict[str, Any]
    ) -> Reply:
        st = self.state
        account, key, request_id = entry["account"], entry["idempotency_key"], entry["request_id"]
        api_key = _api_key(headers)
        params = parse_form(raw if method == "POST" else query)
        fault = self._take_fault(method, path)
        entry["fault"] = fault and fault["mode"]
        if fault and fault["mode"] in ("api_error", "rate_limit", "lock_timeout"):
            raise _fault_error(fault["mode"])
        handler, ids, template = _route(ROUTES, method, path)
        openapi.check(method, template, params)  # refused before execution, like Stripe
        with st.lock:
            target = st.objects.get(account) if account else None
            if account and (target is None or target["object"] != "account"):
                raise StripeError(
                    403,
                    f"The provided key '{api_key[:8]}****' does not have access to "
                    f"account '{account}' (or that account does not exist). Application "
                    "access may have been revoked.",
                    code="account_invalid",
                )
            scope = f"{api_key}|{account}|{key}"
            fingerprint = json.dumps([method, path, params], sort_keys=True)
            if key:
                replay = self._claim_key(scope, fingerprint, request_id)
                if replay:
                    entry["replayed"] = True
                    return replay
        if fault and fault["mode"] == "delay":  # slow before executing, key held in flight
            time.sleep(fault["seconds"])
        ctx = Ctx(
            method,
            path,
            params,
            account,
            request_id,
            key,
            self._base_url(headers),
            deliverer=self.deliverer,
        )
        with st.lock:
            seq = st.seq
            status, body, extra, stored = self._execute(handler, ctx, ids)
            record = st.idempotency.pop(scope, None) if key else None  # None after a reset
            if record and stored:
                st.idempotency[scope] = record | {"status": status, "body": body, "headers": extra}
            deliveries = take_outbox(st)
            self._save(method, seq)
        self._finish(ctx, deliveries)
        reply = Reply(status, body.encode(), {"Content-Type": "application/json", **extra})
        if fault and fault["mode"] == "timeout":  # committed and stored, but answered late
            reply.late = fault["seconds"]
        if fault and fault["mode"] == "drop":  # committed and stored, never answered
            reply.drop = True
        return reply

    def _claim_key(self, scope: str, fingerprint: str, request_id: str) -> Reply | None:
        """Replay a stored result, refuse a conflicting use, or mark the key in flight."""
        st = self.state
        record = st.idempotency.get(scope)
        if record and record["created"] < now() - IDEMPOTENCY_TTL:
            record = None  # pruned after 24 hours: the key can be used afresh
        if record is None:
            st.idempotency[scope] = {
                "fingerprint": fingerprint,
                "status": None,
                "created": now(),
                "request_id": request_id,
            }
            return None
        if record["status"] is None:
            raise StripeError(
                409,
                "There is currently another in-progress request using this "
                "Stripe token (probably meaning that you're sending multiple "
                "requests with the same Idempotency-Key). Please try again "
                "later.",
                type="idempotency_error",
                code="idempotency_key_in_use",
            )
        if record["fingerprint"] != fingerprint:
            raise StripeError(
                400,
                "Keys for idempotent requests can only be used with the same "
                "parameters they were first used with. Try using a key other "
                "than the one used for the original request.",
                type="idempotency_error",
            )
        return Reply(
            record["status"],
            record["body"].encode(),
            {
                "Content-Type": "application/json",
                **record["headers"],
                "Idempotent-Replayed": "true",
                "Original-Request": record["request_id"],
            },
        )

    def _execute(
        self, handler: Callable[..., Any], ctx: Ctx, ids: dict[str, str]
    ) -> tuple[int, str, dict[str, str], bool]:
        """Run a handler (state lock held): status, JSON body, headers, whether to store."""
        st = self.state
        try:
            settle_due(st)
            sweep_automatic_payouts(st)
            expire_due(st)
            data = handler(st, ctx, **ids)
            expand(st, data, expand_paths(ctx.params), ctx.account)
            return 200, json.dumps(data, indent=2), {}, True
        except StripeError as e:
            return e.status, json.dumps(e.body(ctx.request_id), indent=2), e.headers, e.stored
        except Exception:  # an emulator bug: answer like Stripe's 500, which it also stores
            traceback.print_exc(file=sys.stderr)
            error = StripeError(500, "An unknown error occurred", type="api_error")
            return 500, json.dumps(error.body(ctx.request_id), indent=2), {}, True

    def _save(self, method: str, seq_before: int) -> None:
        """Persist after mutations: any write, or a read that created objects (e.g. events
        of sessions that expired on their own)."""
        if method != "GET" or self.state.seq != seq_before:
            self.state.save()

    def _take_fault(self, method: str, path: str) -> dict[str, Any] | None:
        with self.state.lock:
            for fault in self.state.faults:
                if fault["method"] in (None, method) and path.startswith(fault["path"] or "/v1/"):
                    fault["count"] -= 1
                    if fault["count"] <= 0:
                        self.state.faults.remove(fault)
                    return dict(fault)
        return None

    def _finish(self, ctx: Ctx, deliveries: list[Any]) -> None:
        """After the lock is released: hand events to the deliverer, run deferred work."""
        self.deliverer.enqueue(deliveries)
        for job in ctx.after:
            job()

    @staticmethod
    def _base_url(headers: Any) -> str:
        return f"http://{headers.get('Host')}" if headers.get("Host") else ""

    # -- /_emulator: control API and hosted pages ---------------------------------------
    def handle_control(self, method: str, path: str, query: str, raw: str, headers: Any) -> Reply:
        st = self.state
        try:
            handler, ids, _ = _route(CONTROL_ROUTES, method, path)
            if raw.strip().startswith("{"):
                params = json.loads(raw)
            else:
                params = parse_form(raw if method == "POST" else query)
            ctx = Ctx(
                method,
                path,
                params,
                base_url=self._base_url(headers),
                api=False,
                deliverer=self.deliverer,
            )
            with st.lock:
                seq = st.seq
                settle_due(st)
                sweep_automatic_payouts(st)
                expire_due(st)
                result = handler(st, ctx, **ids)
                deliveries = take_outbox(st)
                self._save(method, seq)
            self._finish(ctx, deliveries)
        except StripeError as e:
            return _json(e.status, e.body())
        except (TypeError, ValueError) as e:  # malformed JSON or values in a control call
            return _json(400, StripeError(400, f"Invalid control request: {e}").body())
        if isinstance(result, Response):
            return Reply(result.status, result.body, result.headers)
        return _json(200, result)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as SDK HTTP clients expect
    server_version = "stripe-emulator"
    # Headers and body are separate writes; without this, Nagle's algorithm plus delayed
    # ACKs add ~40 ms to every keep-alive request.
    disable_nagle_algorithm = True

    def do_GET(self) -> None:
        self._handle()

    def do_POST(self) -> None:
        self._handle()

    def do_DELETE(self) -> None:
        self._handle()

    def log_message(self, format: str, *args: Any) -> None:
        if self.server.emulator.verbose:  # type: ignore[attr-defined]
            super().log_message(format, *args)

    def _handle(self) -> None:
        emulator: EmulatorServer = self.server.emulator  # type: ignore[attr-defined]
        url = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length).decode("utf-8", errors="replace") if length else ""
        if url.path.startswith("/v1/"):
            reply = emulator.handle_api(self.command, url.path, url.query, raw, self.headers)
        elif url.path.startswith("/_emulator/"):
            reply = emulator.handle_control(self.command, url.path, url.query, raw, self.headers)
        else:
            reply = _json(
                404,
                StripeError(404, f"Unrecognized request URL ({self.command}: {url.path}).").body(),
            )
        if reply.drop:
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        try:
            self.send_response(reply.status)
            for name, value in reply.headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(reply.body)))
            self.end_headers()
            self.wfile.write(reply.body)
        except (BrokenPipeError, ConnectionResetError):  # the client gave up (timeout fault)
            self.close_connection = True
