"""Redis and the rq queues. Redis holds no truth: it only carries work the outbox already holds."""

from __future__ import annotations

import os

from redis import Redis
from rq import Queue

QUEUE_NAMES = ("default", "media")
_REDIS: dict[str, Redis] = {}


def redis_url() -> str:
    return os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")


def get_redis() -> Redis:
    """A Redis client for ``REDIS_URL`` with short timeouts (a dead Redis must not hang a request)."""
    url = redis_url()
    if url not in _REDIS:
        _REDIS[url] = Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2, health_check_interval=10)
    return _REDIS[url]


def queues(connection: Redis | None = None) -> dict[str, Queue]:
    conn = connection or get_redis()
    return {name: Queue(name, connection=conn) for name in QUEUE_NAMES}
