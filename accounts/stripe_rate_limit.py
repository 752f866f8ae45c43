"""One token bucket for all Stripe calls, shared by every web and Celery process through Redis.

Stripe limits requests per second per account (about 25/s in test mode, 100/s live); going over
answers 429 and, worse, slows every worker with retries. The bucket refills at
`settings.STRIPE_RATE_LIMIT_PER_SECOND` and holds at most `settings.STRIPE_RATE_LIMIT_BURST`
tokens: with the default of 1, calls are spaced evenly and no second (however its window is
placed) sees more than the rate; a larger burst lets a quiet bucket answer that many at once,
and a second may then see up to burst + rate calls. Refill and take happen in one Lua
script, so concurrent workers never both spend the last token; the script reads Redis's own
clock, so workers' clocks need not agree.
"""

from __future__ import annotations

import random
import time
from functools import lru_cache
from typing import Any

import redis
import structlog
from django.conf import settings

log = structlog.get_logger(__name__)

# Returns "0" when a token was taken, else the seconds until one will be available.
# (A Lua number returned to Redis is truncated to an integer, hence the string.)
_TAKE_TOKEN = """
local rate = tonumber(ARGV[1])
local capacity = tonumber(ARGV[2])
local clock = redis.call('TIME')
local now = tonumber(clock[1]) + tonumber(clock[2]) / 1000000
local state = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = tonumber(state[1]) or capacity
local at = tonumber(state[2]) or now
tokens = math.min(capacity, tokens + math.max(0, now - at) * rate)
local wait = 0
if tokens >= 1 then
  tokens = tokens - 1
else
  wait = (1 - tokens) / rate
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', tostring(now))
redis.call('EXPIRE', KEYS[1], 60)
return tostring(wait)
"""


class RateLimitWaitExceeded(Exception):
    """No token became available within `settings.STRIPE_RATE_LIMIT_MAX_WAIT` seconds."""


@lru_cache(maxsize=4)
def _take_token_script(url: str) -> Any:
    """The script, sent once and then run by its hash (EVALSHA)."""
    client = redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)
    return client.register_script(_TAKE_TOKEN)


def _bucket_key() -> str:
    cache = settings.CACHES["default"]
    return f"{cache.get('KEY_PREFIX', '')}:stripe-rate-limit"


def stripe_rate_limit_take(
    *, rate: int | None = None, max_wait: float | None = None, burst: int | None = None
) -> float:
    """Take one token, sleeping until one is available. Returns the seconds spent waiting.

    Raises RateLimitWaitExceeded when the wait would pass `max_wait`. If Redis cannot be
    reached the call proceeds (and says so in the log): Stripe's own 429s, which the gateway
    retries, still protect the account, and a Redis outage should not stop payments."""
    rate = rate or settings.STRIPE_RATE_LIMIT_PER_SECOND
    max_wait = settings.STRIPE_RATE_LIMIT_MAX_WAIT if max_wait is None else max_wait
    burst = max(1, burst or getattr(settings, "STRIPE_RATE_LIMIT_BURST", 1))
    take_token = _take_token_script(settings.CACHES["default"]["LOCATION"])
    started = time.monotonic()
    while True:
        try:
            wait = float(take_token(keys=[_bucket_key()], args=[rate, burst]))
        except redis.RedisError as exc:
            log.warning("stripe_rate_limit_unavailable", error=str(exc))
            return time.monotonic() - started
        if wait == 0:
            return time.monotonic() - started
        if time.monotonic() - started + wait > max_wait:
            raise RateLimitWaitExceeded(
                f"No Stripe rate-limit token within {max_wait:g} s ({rate}/s shared by all workers)"
            )
        # A little jitter so waiting workers do not all wake at the same instant.
        time.sleep(wait + random.uniform(0, wait / 4))
