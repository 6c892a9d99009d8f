"""One place that decides how Parley talks to Redis, so every adapter fails the same, bounded way.

Timeouts are short because every caller sits on a request path: a Redis that does not answer within about
two seconds is treated as down (the HTTP layer answers 503) rather than holding the request open. A
blocking pool makes a burst wait briefly for a free connection instead of failing at the pool limit. Idle
connections are PINGed before reuse, and a connection error is retried once on a fresh connection, so a
Redis restart costs no request (a rate-limit hit whose reply was lost may then count twice: the safe way
to be wrong); timeouts are not retried, which keeps the worst case near two seconds."""

from __future__ import annotations

from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialWithJitterBackoff
from redis.exceptions import ConnectionError as RedisConnectionError

CONNECT_TIMEOUT_SECONDS = 2.0
SOCKET_TIMEOUT_SECONDS = 2.0
POOL_WAIT_SECONDS = 2.0
MAX_CONNECTIONS = 100
HEALTH_CHECK_INTERVAL_SECONDS = 30


def create_redis(url: str) -> Redis:
    """A client for `url` (redis://, rediss:// or unix://); values come back as bytes."""
    pool = BlockingConnectionPool.from_url(
        url,
        max_connections=MAX_CONNECTIONS,
        timeout=POOL_WAIT_SECONDS,
        socket_connect_timeout=CONNECT_TIMEOUT_SECONDS,
        socket_timeout=SOCKET_TIMEOUT_SECONDS,
        socket_keepalive=True,
        health_check_interval=HEALTH_CHECK_INTERVAL_SECONDS,
        retry=Retry(
            ExponentialWithJitterBackoff(base=0.05, cap=0.25), retries=1, supported_errors=(RedisConnectionError,)
        ),
    )
    return Redis.from_pool(pool)
