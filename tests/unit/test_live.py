"""The live feed behind the dashboard's event stream: every subscriber gets each committed
batch's events, in order; one that falls behind is dropped instead of holding memory."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator

import pytest

from execution_service.pipeline import live
from execution_service.pipeline.live import LiveFeed


async def test_every_subscriber_gets_the_events_in_order() -> None:
    feed = LiveFeed()
    first, second = feed.subscribe(), feed.subscribe()
    waiting = [asyncio.ensure_future(anext(first)), asyncio.ensure_future(anext(second))]
    await asyncio.sleep(0)
    assert feed.subscribers == 2
    feed.publish([("order", {"n": 1}), ("trade", {"n": 2})])
    assert [await w for w in waiting] == [("order", {"n": 1}), ("order", {"n": 1})]
    assert await anext(first) == ("trade", {"n": 2})
    await first.aclose()
    assert feed.subscribers == 1
    feed.close()  # the service stops: every stream ends, what it had not read is dropped
    assert [event async for event in second] == []
    assert feed.subscribers == 0


async def test_a_subscriber_that_falls_behind_is_dropped() -> None:
    feed = LiveFeed()
    slow, keeping_up = feed.subscribe(), feed.subscribe()
    waiting = asyncio.ensure_future(anext(slow))
    following = asyncio.ensure_future(anext(keeping_up))
    await asyncio.sleep(0)
    feed.publish([("order", {"n": 0})])
    assert await waiting == ("order", {"n": 0})
    assert await following == ("order", {"n": 0})
    # `slow` reads nothing more while a whole queue's worth arrives; `keeping_up` reads on.
    reader = asyncio.ensure_future(_read(keeping_up, live._QUEUE + 5))
    for n in range(1, live._QUEUE + 6):
        feed.publish([("order", {"n": n})])
        await asyncio.sleep(0)
    assert [data["n"] for _, data in await reader] == list(range(1, live._QUEUE + 6))
    assert feed.subscribers == 1  # only `slow` was dropped: its queue emptied, its stream ended
    with pytest.raises(StopAsyncIteration):
        await anext(slow)


async def _read(events: AsyncGenerator[live.Event, None], count: int) -> list[live.Event]:
    return [await anext(events) for _ in range(count)]
