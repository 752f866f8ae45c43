"""One rate limit for all Stripe calls, shared by every web and Celery process through Redis.

Stripe limits requests per second per account (about 25/s in test mode, 100/s live); going over
answers 429 and, worse, slows every worker with retries. The limit is a token bucket kept as
GCRA (the "generic cell rate algorithm"): Redis holds one timestamp, the theoretical arrival
time of the next call, and each caller *books* its slot by moving it on by 1/rate, then sleeps
until its slot. Booking makes waiting first-come, first-served: a busy worker never starves
another (with a take-and-retry bucket, unlucky threads lost every race and gave up after
`STRIPE_RATE_LIMIT_MAX_WAIT`). `settings.STRIPE_RATE_LIMIT_BURST` slots may start at once
after a quiet spell; with the default of 1 calls are spaced evenly, so no second sees more
than `settings.STRIPE_RATE_LIMIT_PER_SECOND` of them. The script reads Redis's own clock, so
workers' clocks need not agree, and books nothing for a caller that would wait too long.
"""

from __future__ import annotations

import time
from functools import lru_cache
from typing import Any

import redis
import structlog
from django.conf import settings

log = structlog.get_logger(__name__)

# Returns the seconds the caller must wait for the slot it booked ("0": go now), or, when that
# wait would pass ARGV[3], minus the wait, booking nothing. (A Lua number returned to Redis is
# truncated to an integer, hence the string.)
_BOOK_SLOT = """
local interval = 1 / tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local max_wait = tonumber(ARGV[3])
local clock = redis.call('TIME')
local now = tonumber(clock[1]) + tonumber(clock[2]) / 1000000
local tat = tonumber(redis.call('GET', KEYS[1])) or now
if tat < now then tat = now end
local next_tat = tat + interval
local wait = next_tat - now - burst * interval
if wait < 0 then wait = 0 end
if wait > max_wait then return tostring(-wait) end
redis.call('SET', KEYS[1], tostring(next_tat), 'PX', math.ceil((next_tat - now) * 1000) + 1000)
return tostring(wait)
"""


class RateLimitWaitExceeded(Exception):
    """No token became available within `settings.STRIPE_RATE_LIMIT_MAX_WAIT` seconds."""


@lru_cache(maxsize=4)
def _book_slot_script(url: str) -> Any:
    """The script, sent once and then run by its hash (EVALSHA)."""
    client = redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)
    return client.register_script(_BOOK_SLOT)


def _bucket_key() -> str:
    cache = settings.CACHES["default"]
    return f"{cache.get('KEY_PREFIX', '')}:stripe-rate-limit"


def stripe_rate_limit_take(
    *, rate: int | None = None, max_wait: float | None = None, burst: int | None = None
) -> float:
    """Book the next free slot and sleep until it. Returns the seconds spent waiting.

    Raises RateLimitWaitExceeded when the wait would pass `max_wait` (nothing is booked). If
    Redis cannot be reached the call proceeds (and says so in the log): Stripe's own 429s,
    which the gateway retries, still protect the account, and a Redis outage should not stop
    payments."""
    rate = rate or settings.STRIPE_RATE_LIMIT_PER_SECOND
    max_wait = settings.STRIPE_RATE_LIMIT_MAX_WAIT if max_wait is None else max_wait
    burst = max(1, burst or settings.STRIPE_RATE_LIMIT_BURST)
    book_slot = _book_slot_script(settings.CACHES["default"]["LOCATION"])
    try:
        wait = float(book_slot(keys=[_bucket_key()], args=[rate, burst, max_wait]))
    except redis.RedisError as exc:
        log.warning("stripe_rate_limit_unavailable", error=str(exc))
        return 0.0
    if wait < 0:
        raise RateLimitWaitExceeded(
            f"No Stripe rate-limit slot within {max_wait:g} s ({rate}/s shared by all workers)"
        )
    if wait:
        time.sleep(wait)
    return wait
