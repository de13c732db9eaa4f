"""The result publisher against the real Redis: one script call per batch."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import redis.asyncio as aioredis

from execution_service.bus.envelope import EntryRef
from execution_service.bus.publisher import ResultPublisher
from execution_service.pipeline.work import OutboxMessage
from tests.helpers import Names

GROUP = "execution-service"


def publisher(redis_client: aioredis.Redis, names: Names, fills: bool = True) -> ResultPublisher:
    return ResultPublisher(redis_client, results_channel=names.results_channel,
                           fills_stream=names.fills_stream if fills else "", fills_maxlen=1000,
                           group=GROUP, journal_stream=names.journal_stream)


def result(number: int) -> OutboxMessage:
    return OutboxMessage.of(f"e{number}", f"MOCK_{number}", {
        "order_id": f"MOCK_{number}", "status": "FILLED", "filled_quantity": "0.5",
        "price": "100.25", "duplicate": False, "error_code": None}, datetime.now(UTC))


async def pending_entries(redis_client: aioredis.Redis, stream: str) -> int:
    return int((await redis_client.xpending(stream, GROUP))["pending"])


async def test_results_are_published_recorded_as_fills_and_their_entries_acknowledged(
    names: Names, redis_client: aioredis.Redis
) -> None:
    for stream in (names.orders_stream, names.journal_stream):
        await redis_client.xgroup_create(stream, GROUP, id="0", mkstream=True)
    ids = {stream: [await redis_client.xadd(stream, {"n": str(n)}) for n in range(3)]
           for stream in (names.orders_stream, names.journal_stream)}
    for stream in ids:
        await redis_client.xreadgroup(GROUP, "me", {stream: ">"})
    subscriber = redis_client.pubsub()
    await subscriber.subscribe(names.results_channel)
    await subscriber.get_message(timeout=1.0)  # the subscription's confirmation

    acks = [EntryRef(stream, entry.decode()) for stream, entries in ids.items()
            for entry in entries]
    await publisher(redis_client, names).publish([result(1), result(2)], acks)

    received = [await subscriber.get_message(timeout=1.0) for _ in range(2)]
    assert [message["data"] for message in received if message] == [
        result(1).payload, result(2).payload]
    fills = await redis_client.xrange(names.fills_stream)
    assert [fields[b"order_id"] for _, fields in fills] == [b"MOCK_1", b"MOCK_2"]
    assert fills[0][1][b"filled_size"] == b"0.5"  # the alias the seed's readers use
    assert fills[0][1][b"duplicate"] == b"false"
    assert b"error_code" not in fills[0][1]  # null: left out
    assert await pending_entries(redis_client, names.orders_stream) == 0
    assert await pending_entries(redis_client, names.journal_stream) == 0
    assert await redis_client.xlen(names.orders_stream) == 3  # the bots' stream is kept
    assert await redis_client.xlen(names.journal_stream) == 0  # the service's own is not
    await subscriber.aclose()


async def test_a_redis_without_the_script_is_given_it(
    names: Names, redis_client: aioredis.Redis
) -> None:
    """A restarted Redis has no scripts: the publisher loads its own and carries on."""
    out = publisher(redis_client, names)
    await out.publish([result(1)], [])
    await redis_client.script_flush()
    await out.publish([result(2)], [])
    fills = await redis_client.xrange(names.fills_stream)
    assert [fields[b"order_id"] for _, fields in fills] == [b"MOCK_1", b"MOCK_2"]


async def test_without_a_fills_stream_results_are_only_published(
    names: Names, redis_client: aioredis.Redis
) -> None:
    subscriber = redis_client.pubsub()
    await subscriber.subscribe(names.results_channel)
    await subscriber.get_message(timeout=1.0)
    await publisher(redis_client, names, fills=False).publish([result(7)], [])
    message = await subscriber.get_message(timeout=1.0)
    assert message is not None
    assert message["data"] == result(7).payload
    await asyncio.sleep(0.05)
    assert await redis_client.exists(names.fills_stream) == 0
    await subscriber.aclose()


async def test_a_thousand_and_more_acknowledgements_in_one_call(
    names: Names, redis_client: aioredis.Redis
) -> None:
    """Beyond the script's 1,000-id chunks (Lua's unpack has a stack limit)."""
    await redis_client.xgroup_create(names.journal_stream, GROUP, id="0", mkstream=True)
    async with redis_client.pipeline(transaction=False) as pipe:
        for n in range(2500):
            pipe.xadd(names.journal_stream, {"n": str(n)})
        ids = await pipe.execute()
    await redis_client.xreadgroup(GROUP, "me", {names.journal_stream: ">"}, count=3000)
    assert await pending_entries(redis_client, names.journal_stream) == 2500
    await publisher(redis_client, names).publish(
        [], [EntryRef(names.journal_stream, entry.decode()) for entry in ids])
    assert await pending_entries(redis_client, names.journal_stream) == 0
    assert await redis_client.xlen(names.journal_stream) == 0
