"""The Redis client, and the reconnect rhythm every Redis loop follows."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import redis
from redis.asyncio import Connection, Redis
from redis.asyncio.retry import Retry as AsyncRetry
from redis.backoff import ExponentialWithJitterBackoff
from redis.connection import HiredisRespSerializer
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from redis.retry import Retry

from execution_service.bus.health import Health

log = logging.getLogger(__name__)

# Errors that mean "Redis is not there right now" rather than "this command is wrong".
REDIS_DOWN = (RedisConnectionError, RedisTimeoutError, ConnectionError, OSError)

BlockingLoop = Callable[[], Awaitable[None]]


class _HiredisPackingConnection(Connection):
    """redis-py's blocking connection packs commands with hiredis, its asyncio one in
    Python, which was a third of the service's time when publishing results. Same bytes."""

    _packer = HiredisRespSerializer()

    def pack_command(self, *args: Any) -> list[bytes]:
        packed: list[bytes] = self._packer.pack(*args)
        return packed


def _options(password: str | None, socket_timeout_s: float) -> dict[str, Any]:
    return {
        "password": password,
        "socket_connect_timeout": 2.0,
        "socket_timeout": socket_timeout_s,
        "health_check_interval": 15,
        "max_connections": 32,
    }


def connect(url: str, password: str | None, *, socket_timeout_s: float = 5.0) -> Redis:
    """A pooled asyncio client; commands retry briefly, longer outages surface to the loops."""
    options = _options(password, socket_timeout_s)
    if url.startswith("redis://"):  # rediss:// and unix:// keep their own connection classes
        options["connection_class"] = _HiredisPackingConnection
    return Redis.from_url(url, retry=AsyncRetry(ExponentialWithJitterBackoff(cap=0.5, base=0.05), 2),
                          **options)


def connect_sync(url: str, password: str | None, *, socket_timeout_s: float = 5.0) -> redis.Redis:
    """A blocking client, for the pub/sub reader thread."""
    return redis.Redis.from_url(url, retry=Retry(ExponentialWithJitterBackoff(cap=0.5, base=0.05), 2),
                                **_options(password, socket_timeout_s))


async def keep_running(name: str, loop: BlockingLoop, health: Health) -> None:
    """Run `loop` for ever, waiting with exponential backoff (0.1 s to 5 s) after Redis fails."""
    backoff = ExponentialWithJitterBackoff(base=0.1, cap=5.0)
    failures = 0
    while True:
        try:
            await loop()
            failures = 0
        except REDIS_DOWN as exc:
            failures += 1
            if health.redis_connected or failures == 1:
                log.warning("%s lost Redis (%s); reconnecting", name, exc)
            health.redis_down(exc)
            await asyncio.sleep(backoff.compute(failures))


async def watch(redis: Redis, health: Health, interval_s: float = 1.0) -> None:
    """Ping Redis every `interval_s`, keeping `health` true to what Redis answers."""
    while True:
        try:
            await redis.ping()
            if not health.redis_connected:
                log.info("Redis connected")
            health.redis_up()
        except REDIS_DOWN as exc:
            if health.redis_connected:
                log.warning("Redis unreachable: %s", exc)
            health.redis_down(exc)
        await asyncio.sleep(interval_s)
