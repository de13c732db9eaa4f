"""The matcher lease on the real Redis: one holder at a time, taken over when it lapses."""

from __future__ import annotations

import asyncio

import pytest
import redis.asyncio as aioredis

from execution_service.bus.lease import MatcherLease
from tests.helpers import Names


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def key(names: Names) -> str:
    return f"{names.prefix}.group:matcher"


async def test_one_holder_at_a_time_and_the_next_takes_over_a_released_lease(
        redis_client: aioredis.Redis, key: str) -> None:
    first = MatcherLease(redis_client, key, "first", ttl_s=3)
    second = MatcherLease(redis_client, key, "second", ttl_s=3)
    await first.renew()
    await second.renew()
    assert (first.held(), second.held()) == (True, False)
    assert first.holder == second.holder == "first"
    assert 2000 < await redis_client.pttl(key) <= 3000

    await first.release()
    assert not first.held()
    await second.renew()
    await first.renew()
    assert (first.held(), second.held()) == (False, True)
    assert first.holder == "second"
    await first.release()  # not its own: nothing happens
    assert await redis_client.get(key) == b"second"
    await second.release()


async def test_a_holder_that_stops_renewing_stops_matching_before_its_key_expires(
        redis_client: aioredis.Redis, key: str) -> None:
    clock = Clock()
    holder = MatcherLease(redis_client, key, "stalled", ttl_s=2, clock=clock)
    other = MatcherLease(redis_client, key, "other", ttl_s=2)
    await holder.renew()
    assert holder.held()
    clock.now += 1.49  # its own clock: valid until 2 s after the renewal was sent, less 0.5 s
    assert holder.held()
    clock.now += 0.02
    assert not holder.held()
    await other.renew()
    assert not other.held()  # the key itself still lives in Redis
    await asyncio.sleep(2.05)
    await other.renew()  # expired now: the next to ask takes it
    assert other.held()
    await holder.renew()
    assert not holder.held()
    await other.release()
