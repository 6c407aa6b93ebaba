"""Redis and the rq queues. Redis holds no truth: it only carries work the outbox already holds."""

from __future__ import annotations

from redis import Redis
from rq import Queue

from zone import settings

QUEUE_NAMES = ("default", "media")
_REDIS: dict[tuple[str, float], Redis] = {}


def redis_url() -> str:
    return settings.get().redis_url


def get_redis(timeout: float = 2.0) -> Redis:
    """The Redis client for ``REDIS_URL`` (the only place one is built): short timeouts, so a dead Redis never
    hangs a request; ``timeout`` shorter still where Redis is only a hint (the flood limit: 0.2 s)."""
    key = (redis_url(), timeout)
    if key not in _REDIS:
        _REDIS[key] = Redis.from_url(key[0], socket_timeout=timeout, socket_connect_timeout=timeout,
                                     health_check_interval=10)
    return _REDIS[key]


def forget(url: str) -> None:
    """Drop the clients built for ``url`` (after that Redis was replaced: tests, a failover by hand)."""
    for key in [k for k in _REDIS if k[0] == url]:
        _REDIS.pop(key).close()


def queues(connection: Redis | None = None) -> dict[str, Queue]:
    conn = connection or get_redis()
    return {name: Queue(name, connection=conn) for name in QUEUE_NAMES}
