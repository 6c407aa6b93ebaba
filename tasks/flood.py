"""Per-sender flood limit: a fixed one-minute window counted in Redis.

Redis holds no truth here: when it cannot be reached the limit is simply not applied (the webhook
must never fail or slow down for it), and after a failure Redis is not asked again for a few
seconds so that every request does not wait for a connect timeout.
"""

from __future__ import annotations

import logging
import time

from tasks.queue import get_redis

log = logging.getLogger(__name__)
_down_until = 0.0
BACKOFF_S = 5.0
TIMEOUT_S = 0.2  # Redis is only a hint here: a slow one must not slow the webhook


def _redis():
    return get_redis(TIMEOUT_S)


def retry_after(now: float | None = None) -> int:
    """Seconds until the current one-minute window ends (for a Retry-After header)."""
    now = now or time.time()
    return max(1, 60 - int(now % 60))


def over_limit(sender: str, limit: int, now: float | None = None) -> bool:
    """Count one message from ``sender``; True when it is over ``limit`` in the current minute.

    Never raises: with Redis down it answers False.
    """
    global _down_until
    now = now or time.time()
    if now < _down_until:
        return False
    key = f"flood:{sender}:{int(now // 60)}"
    try:
        pipe = _redis().pipeline(transaction=False)  # one round trip, no MULTI/EXEC
        pipe.incr(key)
        pipe.expire(key, 120)
        count = pipe.execute()[0]
    except Exception as exc:  # Redis down or slow: never fail the webhook for it
        _down_until = now + BACKOFF_S
        log.warning("flood limit skipped: Redis unavailable (%s)", type(exc).__name__)
        return False
    return int(count) > limit
