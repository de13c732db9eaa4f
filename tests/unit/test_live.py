"""The live feed behind the dashboard's event stream: every viewer gets each committed
batch's events, in order, serialized once and sent a few times a second at most; a viewer
that falls behind is dropped instead of holding memory; viewers are capped."""

from __future__ import annotations

import asyncio

import pytest

from execution_service.domain import codec
from execution_service.pipeline import live
from execution_service.pipeline.live import LiveFeed


def frames(*events: live.Event) -> bytes:
    return b"".join(b"event: " + kind.encode() + b"\ndata: " + codec.dumps(data) + b"\n\n"
                    for kind, data in events)


async def test_every_viewer_gets_the_events_in_order_as_one_chunk() -> None:
    feed = LiveFeed(interval_s=0.01)
    first, second = feed.subscribe(), feed.subscribe()
    assert first is not None
    assert second is not None
    feed.publish([("order", {"n": 1})])
    feed.publish([("trade", {"n": 2})])
    expected = frames(("order", {"n": 1}), ("trade", {"n": 2}))
    assert await asyncio.wait_for(first.next(), 1) == expected
    assert await asyncio.wait_for(second.next(), 1) == expected
    feed.unsubscribe(first)
    assert feed.subscribers == 1
    feed.close()  # the service stops: every stream ends, what it had not read is dropped
    assert await asyncio.wait_for(second.next(), 1) is None
    assert feed.subscribers == 0


async def test_a_viewer_sent_nothing_for_the_heartbeat_interval_gets_a_heartbeat() -> None:
    feed = LiveFeed(heartbeat_s=0.5)
    quiet, busy = feed.subscribe(), feed.subscribe()
    assert quiet is not None
    assert busy is not None
    busy.offer(b"data: something\n\n")  # just now: not due
    assert await asyncio.wait_for(busy.next(), 1) == b"data: something\n\n"
    assert await asyncio.wait_for(quiet.next(), 3) == b": heartbeat\n\n"
    feed.close()


async def test_each_event_is_serialized_once_however_many_viewers() -> None:
    serialized: list[str] = []
    original = live._frame

    def counting(kind: str, data: dict[str, object]) -> bytes:
        serialized.append(kind)
        return original(kind, data)

    live._frame = counting  # type: ignore[assignment]
    try:
        feed = LiveFeed(interval_s=0.01)
        viewers = [feed.subscribe() for _ in range(500)]
        feed.publish([("order", {"n": 1}), ("trade", {"n": 2})])
        feed.flush()
    finally:
        live._frame = original
    assert serialized == ["order", "trade"]
    chunks = [await asyncio.wait_for(viewer.next(), 1) for viewer in viewers if viewer is not None]
    assert len({id(chunk) for chunk in chunks}) == 1  # one chunk, built once, shared by all
    assert chunks[0] == frames(("order", {"n": 1}), ("trade", {"n": 2}))


async def test_a_viewer_of_one_account_gets_its_events_and_the_shared_ones() -> None:
    feed = LiveFeed(interval_s=0.01)
    bot_a = feed.subscribe("bot-a")
    assert bot_a is not None
    feed.publish([("order", {"account": "bot-a", "n": 1}), ("order", {"account": "bot-b"}),
                  ("kill_switch", {"active": True})])
    assert await asyncio.wait_for(bot_a.next(), 1) == frames(("order", {"account": "bot-a", "n": 1}),
                                                   ("kill_switch", {"active": True}))


async def test_a_viewer_that_falls_behind_is_dropped_and_its_memory_freed() -> None:
    feed = LiveFeed(interval_s=0.01, backlog_bytes=10_000)
    slow, keeping_up = feed.subscribe(), feed.subscribe()
    assert slow is not None
    assert keeping_up is not None
    received = b""
    for n in range(100):  # ~3 KB a flush: `slow` reads nothing, `keeping_up` reads on
        feed.publish([("order", {"n": n, "pad": "x" * 3000})])
        feed.flush()
        received += await asyncio.wait_for(keeping_up.next(), 1) or b""
    assert received.count(b"event: order") == 100
    assert feed.subscribers == 1
    assert feed.dropped == 1
    assert await asyncio.wait_for(slow.next(), 1) is None  # its stream ends; nothing was kept


async def test_viewers_beyond_the_cap_are_refused_until_one_goes() -> None:
    feed = LiveFeed(max_viewers=2)
    first, second = feed.subscribe(), feed.subscribe()
    assert first is not None
    assert second is not None
    assert feed.subscribe() is None
    feed.unsubscribe(first)
    assert feed.subscribe() is not None


async def test_a_viewer_that_stopped_asking_long_ago_gives_its_place() -> None:
    feed = LiveFeed(max_viewers=1)
    gone = feed.subscribe()
    assert gone is not None
    gone.asked_at -= 3600  # its stream was abandoned an hour ago
    assert feed.subscribe() is not None
    assert await asyncio.wait_for(gone.next(), 1) is None


async def test_nothing_is_serialized_without_viewers() -> None:
    feed = LiveFeed(interval_s=0.01)
    feed.publish([("order", {"n": 1})])
    await asyncio.sleep(0.02)
    viewer = feed.subscribe()
    assert viewer is not None
    feed.flush()
    with pytest.raises(TimeoutError):  # nothing was kept for it
        await asyncio.wait_for(viewer.next(), 0.05)
