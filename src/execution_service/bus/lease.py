"""The matcher lease: one instance at a time matches the tape against resting orders.

Every instance reads every market-data trade (pub/sub delivers to each). If each matched
its own resting orders, two instances would fill twice what traded. So one instance, the
holder of a Redis key (`<group>:matcher`, holding its name and expiring after the lease's
time), matches: it triggers stops and fills resting orders from the tape, and takes over,
within a second, the resting orders the others accepted (pipeline/loop.py). The others
accept orders, fill takers and cancel as before, and leave the tape to it. The holder
renews the key every second; when it dies, the key expires and the next instance to ask
takes it.

An instance counts itself the holder until the time of its last successful renewal plus
the lease's time, less a margin, measured on its own clock from before the command was
sent: the key cannot expire in Redis before then, so two instances never match at once
(short of clocks running at different rates).
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Callable
from typing import Protocol

from redis.asyncio import Redis

log = logging.getLogger(__name__)

RENEW_S = 1.0
_MARGIN_S = 0.5

# KEYS: the lease. ARGV: this instance, the lease's time in ms. Takes the lease if nobody
# holds it, renews it if this instance does; returns the holder.
_TAKE_OR_RENEW = """
local holder = redis.call('GET', KEYS[1])
if holder == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
elseif not holder then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  holder = ARGV[1]
end
return holder
"""
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


class Lease(Protocol):
    """Whether this instance matches the tape now (`MatcherLease`; None in the pipeline:
    always)."""

    holder: str | None  # the instance holding it, as last heard

    def held(self) -> bool: ...


class MatcherLease:
    def __init__(self, redis: Redis, key: str, instance: str, ttl_s: float,
                 clock: Callable[[], float] = time.monotonic) -> None:
        assert ttl_s > RENEW_S + _MARGIN_S, "the lease must outlive a renewal"
        self.key = key
        self.instance = instance
        self._ttl_ms = int(ttl_s * 1000)
        self._clock = clock
        self._take_or_renew = redis.register_script(_TAKE_OR_RENEW)
        self._release = redis.register_script(_RELEASE)
        self._valid_until = -math.inf
        self._was_held = False
        self.holder: str | None = None  # as Redis last said

    def held(self) -> bool:
        held = self._clock() < self._valid_until
        if self._was_held and not held:
            log.warning("matcher lease lapsed (Redis did not renew it in time); leaving the "
                        "tape to whichever instance takes it")
        self._was_held = held
        return held

    async def run(self) -> None:
        """Take or renew the lease every second, for ever (a `keep_running` loop)."""
        while True:
            await self.renew()
            await asyncio.sleep(RENEW_S)

    async def renew(self) -> None:
        sent = self._clock()
        holder = await self._take_or_renew(keys=[self.key], args=[self.instance, self._ttl_ms])
        self.holder = holder.decode() if isinstance(holder, bytes) else str(holder)
        if self.holder == self.instance:
            if not self.held():
                log.info("this instance matches the tape now (lease %s)", self.key)
            self._valid_until = sent + self._ttl_ms / 1000 - _MARGIN_S
            self._was_held = True
        else:
            self._valid_until = -math.inf
            self._was_held = False

    async def release(self) -> None:
        """Give the lease up (at shutdown), so that another instance takes it at once."""
        self._valid_until = -math.inf
        self._was_held = False
        await self._release(keys=[self.key], args=[self.instance])
