"""The token bucket in the real Redis: shared by every thread and process, refilled at the
configured rate, and taken by every gateway call."""

from __future__ import annotations

import threading
import time
from collections import Counter

import pytest

from payments import gateway
from payments.rate_limit import RateLimitWaitExceeded, stripe_rate_limit_take

pytestmark = pytest.mark.django_db


def test_calls_are_spaced_at_the_configured_rate(settings):
    settings.STRIPE_RATE_LIMIT_PER_SECOND = 20
    started = time.monotonic()
    for _ in range(11):  # one at once, then 10 more at 20 per second
        stripe_rate_limit_take()
    assert 0.45 <= time.monotonic() - started < 1.5


def test_a_configured_burst_is_answered_at_once_then_the_rate(settings):
    settings.STRIPE_RATE_LIMIT_PER_SECOND = 20
    settings.STRIPE_RATE_LIMIT_BURST = 20
    started = time.monotonic()
    for _ in range(30):  # 20 at once, then 10 more at 20 per second
        stripe_rate_limit_take()
    assert 0.45 <= time.monotonic() - started < 2


def test_the_bucket_is_shared_by_concurrent_workers_and_no_second_exceeds_the_rate(settings):
    settings.STRIPE_RATE_LIMIT_PER_SECOND = 20
    taken: list[float] = []

    def worker():
        for _ in range(15):
            stripe_rate_limit_take()
            taken.append(time.time())

    threads = [threading.Thread(target=worker) for _ in range(4)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert 2.9 <= time.monotonic() - started < 5  # 60 tokens: one at once, 59 more at 20/s
    # Whichever way the one-second windows are placed, none holds more than the 20 slots it
    # can; a thread waking a few ms late can carry one call across a window's edge.
    for offset in (0.0, 0.25, 0.5, 0.75):
        per_second = Counter(int(moment + offset) for moment in taken)
        assert max(per_second.values()) <= 21, per_second


def test_waiting_is_first_come_first_served_so_no_worker_starves(settings):
    # 8 workers share 40 calls/s: each call waits behind at most the 7 others' (0.2 s), so
    # none comes near the allowed wait, however unlucky its timing.
    settings.STRIPE_RATE_LIMIT_PER_SECOND = 40
    settings.STRIPE_RATE_LIMIT_MAX_WAIT = 0.5
    waits: list[float] = []
    errors: list[Exception] = []

    def worker():
        for _ in range(10):
            try:
                waits.append(stripe_rate_limit_take())
            except RateLimitWaitExceeded as exc:
                errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len(waits) == 80 and max(waits) < 0.35


def test_waiting_longer_than_allowed_fails_and_the_gateway_says_try_later(
    settings, emulated_stripe
):
    settings.STRIPE_RATE_LIMIT_PER_SECOND = 1
    settings.STRIPE_RATE_LIMIT_MAX_WAIT = 0.2
    stripe_rate_limit_take()
    with pytest.raises(RateLimitWaitExceeded):
        stripe_rate_limit_take()
    with pytest.raises(gateway.GatewayUnavailable) as unavailable:
        gateway.balance_retrieve()
    assert unavailable.value.code == "rate_limit_wait_exceeded"
    assert emulated_stripe.control.requests() == []  # nothing reached Stripe


def test_every_gateway_call_takes_a_token(settings, emulated_stripe):
    settings.STRIPE_RATE_LIMIT_PER_SECOND = 5
    for _ in range(8):
        gateway.balance_retrieve()
    times = [r["time"] for r in emulated_stripe.control.requests()]
    assert len(times) == 8
    assert times[-1] - times[0] >= 1.3  # one at once, then 7 more at 5 per second
