"""Fixtures for the Stripe emulator tests: one in-process emulator, wiped before each test.

Nothing Django-related on purpose: these tests run with or without pytest-django.
"""

import json
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import stripe

from stripe_emulator.control import EmulatorControl
from stripe_emulator.server import EmulatorServer


@pytest.fixture(scope="session")
def server() -> Iterator[EmulatorServer]:
    srv = EmulatorServer("127.0.0.1", port=0).start()
    yield srv
    srv.stop()


@pytest.fixture
def ctl(server: EmulatorServer) -> EmulatorControl:
    control = EmulatorControl(server.url)
    control.reset()
    return control


def make_client(url: str, **options: Any) -> stripe.StripeClient:
    addresses = {"api": url, "connect": url, "files": url}
    options = {"max_network_retries": 0, "base_addresses": addresses, **options}
    return stripe.StripeClient("sk_test_emulator", **options)


@pytest.fixture
def client(server: EmulatorServer, ctl: EmulatorControl) -> stripe.StripeClient:
    return make_client(server.url)


class Receiver:
    """A tiny webhook endpoint recording what it receives; can fail the first N calls."""

    def __init__(self) -> None:
        self.received: list[tuple[str, bytes]] = []  # (Stripe-Signature, raw body)
        self.fail_next = 0
        self.on_event: Callable[[dict[str, Any]], None] | None = None  # runs before answering
        self.arrived = threading.Condition()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                if receiver.on_event:
                    receiver.on_event(json.loads(body))
                with receiver.arrived:
                    failing = receiver.fail_next > 0
                    receiver.fail_next -= failing
                    if not failing:
                        receiver.received.append((self.headers["Stripe-Signature"], body))
                    receiver.arrived.notify_all()
                self.send_response(500 if failing else 200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/webhooks"
        threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True).start()

    def types(self) -> list[str]:
        return [json.loads(body)["type"] for _, body in self.received]

    def wait_for(self, count: int, timeout: float = 5) -> list[tuple[str, bytes]]:
        with self.arrived:
            self.arrived.wait_for(lambda: len(self.received) >= count, timeout)
        assert len(self.received) >= count, f"got {len(self.received)} of {count} webhooks"
        return list(self.received)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    rec = Receiver()
    yield rec
    rec.httpd.shutdown()
    rec.httpd.server_close()
