"""The stream intake on real Redis: how often an entry counts as delivered. A new process
taking back its pending entries counts one more delivery (a crash loop shows in the
count); the intake loop restarted within a live process (after a Redis failure) sends
them again without counting, so that no Redis outage can push an entry into quarantine."""

from __future__ import annotations

import asyncio
import contextlib

import redis.asyncio as aioredis

from execution_service.bus.envelope import Envelope
from execution_service.bus.health import Health
from execution_service.bus.streams import IntakeStream, StreamIntake
from execution_service.domain.orders import Source
from tests.helpers import Names, wait_for

GROUP, ME = "contract-group", "me"


def intake(redis: aioredis.Redis, stream: str, delivered: list[Envelope]) -> StreamIntake:
    async def deliver(envelopes: list[Envelope]) -> None:
        delivered.extend(envelopes)

    return StreamIntake(redis, [IntakeStream(stream, Source.STREAM, "0")], GROUP, ME, deliver,
                        Health(), batch_max=10, claim_idle_ms=60_000, block_ms=50)


async def run_until(part: StreamIntake, delivered: list[Envelope], count: int) -> None:
    """Run the intake loop until `count` entries have been delivered in all, then stop it,
    as a Redis failure does."""
    task = asyncio.create_task(part.run())

    async def enough() -> bool:
        return len(delivered) >= count

    await wait_for(enough, what=f"{count} deliveries")
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


async def times_delivered(redis: aioredis.Redis, stream: str) -> int:
    [entry] = await redis.xpending_range(stream, GROUP, "-", "+", 10)
    return int(entry["times_delivered"])


async def test_restarts_within_a_process_do_not_count_a_new_process_does(
        names: Names, redis_client: aioredis.Redis) -> None:
    stream = names.orders_stream
    await redis_client.xadd(stream, {"symbol": "BTCUSDT", "side": "BUY", "quantity": "1"})
    delivered: list[Envelope] = []
    live = intake(redis_client, stream, delivered)
    await run_until(live, delivered, 1)  # read once, never acknowledged
    await run_until(live, delivered, 2)  # the loop restarted after a Redis failure ...
    await run_until(live, delivered, 3)  # ... and again
    assert [envelope.deliveries for envelope in delivered] == [1, 1, 1]
    assert await times_delivered(redis_client, stream) == 1
    after_a_crash: list[Envelope] = []
    await run_until(intake(redis_client, stream, after_a_crash), after_a_crash, 1)
    assert [envelope.deliveries for envelope in after_a_crash] == [2]
    assert await times_delivered(redis_client, stream) == 2
