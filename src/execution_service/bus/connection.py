"""The Redis client, and the reconnect rhythm every Redis loop follows."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

import redis
from redis.asyncio import Connection, Redis
from redis.asyncio.retry import Retry as AsyncRetry
from redis.backoff import ExponentialWithJitterBackoff
from redis.connection import HiredisRespSerializer
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError
from redis.retry import Retry

from execution_service.bus.health import Health

log = logging.getLogger(__name__)

# Errors that mean "Redis is not there right now" rather than "this command is wrong".
REDIS_DOWN = (RedisConnectionError, RedisTimeoutError, ConnectionError, OSError)

# An error reply to a command this service sends right: Redis refuses it for a state of
# its own. Out of memory under `maxmemory` with `noeviction` (OOM), a replica after a
# failover (READONLY), a key of ours that something else wrote with another type
# (WRONGTYPE), snapshots failing (MISCONF), an ACL change (NOPERM). The loops treat it
# like Redis being away: wait, try again, say why on /ready. The replies a loop expects
# (NOGROUP, BUSYGROUP, NOSCRIPT) it handles itself before.
REDIS_REFUSED = ResponseError
REDIS_UNAVAILABLE = (*REDIS_DOWN, REDIS_REFUSED)

# A loop that ran this long before failing starts its backoff afresh.
_RAN_WELL_S = 30.0
EVICTION_CHECK_S = 30.0

BlockingLoop = Callable[[], Awaitable[None]]


class _HiredisPackingConnection(Connection):
    """redis-py's blocking connection packs commands with hiredis, its asyncio one in
    Python, which was a third of the service's time when publishing results. Same bytes."""

    # Typed in some hiredis releases, untyped in others: the ignore covers both.
    _packer = HiredisRespSerializer()  # type: ignore[no-untyped-call, unused-ignore]

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
    """Run `loop` for ever, waiting with exponential backoff (0.1 s to 5 s) after Redis
    fails or refuses its commands."""
    backoff = ExponentialWithJitterBackoff(base=0.1, cap=5.0)
    failures = 0
    while True:
        started = time.monotonic()
        try:
            await loop()
            failures = 0
        except REDIS_UNAVAILABLE as exc:
            failures = 1 if time.monotonic() - started > _RAN_WELL_S else failures + 1
            if isinstance(exc, REDIS_REFUSED):
                if failures == 1:
                    log.warning("Redis refuses the %s's commands (%s); trying again", name, exc)
                health.redis_refused(name, exc)
            else:
                if health.redis_connected or failures == 1:
                    log.warning("%s lost Redis (%s); reconnecting", name, exc)
                health.redis_down(exc)
            await asyncio.sleep(backoff.compute(failures))


class Refusals:
    """The commands of one part that Redis refused in a row, for a part that must go on
    without them (the result publisher, the pub/sub journal): when to try again (backoff
    from 0.1 s to 2 s), the first logged, each shown on /ready until one goes through."""

    def __init__(self, part: str, health: Health, meanwhile: str) -> None:
        self.part = part
        self._health = health
        self._meanwhile = meanwhile  # what happens to the work until Redis takes it
        self._clock = health.clock  # (the service's one clock)
        self._backoff = ExponentialWithJitterBackoff(base=0.1, cap=2.0)
        self._count = 0
        self._retry_at = 0.0

    def waiting(self) -> bool:
        """Whether the pause after the last refusal is still running."""
        return self._clock.monotonic() < self._retry_at

    def refused(self, error: Exception) -> None:
        self._count += 1
        if self._count == 1:
            log.warning("Redis refuses the %s's commands (%s); %s", self.part, error,
                        self._meanwhile)
        self._health.redis_refused(self.part, error)
        self._retry_at = self._clock.monotonic() + self._backoff.compute(self._count)

    def accepted(self) -> None:
        if self._count:
            log.info("Redis takes the %s's commands again after %d refusals", self.part,
                     self._count)
            self._count = 0
            self._health.redis_accepted(self.part)


async def watch(redis: Redis, health: Health, interval_s: float = 1.0) -> None:
    """Ping Redis every `interval_s`, keeping `health` true to what Redis answers; check
    its eviction policy on connecting and every `EVICTION_CHECK_S`."""
    next_check = 0.0
    while True:
        try:
            await redis.ping()
            if not health.redis_connected:
                log.info("Redis connected")
                next_check = 0.0  # perhaps another server (a failover)
            health.redis_up()
            if time.monotonic() >= next_check:
                next_check = time.monotonic() + EVICTION_CHECK_S
                await _check_eviction(redis, health)
        except REDIS_DOWN as exc:
            if health.redis_connected:
                log.warning("Redis unreachable: %s", exc)
            health.redis_down(exc)
        await asyncio.sleep(interval_s)


async def _check_eviction(redis: Redis, health: Health) -> None:
    try:
        memory: dict[str, Any] = await redis.info("memory")
    except REDIS_REFUSED:
        return  # INFO renamed or not permitted: nothing to say
    warning = eviction_warning(str(memory.get("maxmemory_policy", "noeviction")),
                               int(memory.get("maxmemory", 0)))
    if warning and warning != health.eviction_warning:
        log.warning("%s", warning)
    health.eviction_warning = warning


def eviction_warning(policy: str, maxmemory: int) -> str | None:
    """What Redis may drop under `maxmemory-policy` `policy`, when that can hurt; None
    when it cannot (noeviction, or no memory limit at all)."""
    if maxmemory == 0 or policy == "noeviction":
        return None
    limit = f"maxmemory-policy {policy} with maxmemory {maxmemory} bytes"
    if policy.startswith("allkeys-"):
        return (f"{limit}: Redis may evict stream.orders, the journal or stream.fills with "
                "orders and results in them; set maxmemory-policy noeviction")
    return (f"{limit}: Redis may evict the instances' liveness keys, so that a live "
            "instance's orders are claimed by another (executed once, delivered twice); "
            "set maxmemory-policy noeviction")
