"""The pipeline with an in-memory store, a recording publisher and a clock the test moves:
its ordering rule, outages of either side, timers, the tape and backpressure."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import orjson
from prometheus_client import CollectorRegistry

from execution_service.bus.envelope import EntryRef, Envelope
from execution_service.bus.health import Health
from execution_service.bus.recording import RecordingPublisher
from execution_service.clock import ManualClock
from execution_service.domain.commands import MarketTrade, SubmitOrder
from execution_service.domain.orders import OrderStatus, Source
from execution_service.engine.exchange import PaperExchange
from execution_service.errors import InvalidMessage
from execution_service.metrics import Metrics
from execution_service.pipeline import rest_envelope
from execution_service.pipeline.batch import BatchPlanner, Decoded, Plan, decode
from execution_service.pipeline.loop import Pipeline
from execution_service.pipeline.work import OutboxMessage
from execution_service.store.memory import MemoryStore
from tests.helpers import wait_for
from tests.paper import T0, make_exchange, tape


class Rig:
    """A pipeline and everything around it, all in memory."""

    def __init__(self, planner: type[BatchPlanner] = BatchPlanner,
                 store: LoggedStore | None = None, **options: Any) -> None:
        """With `store`, a second instance on the first one's database."""
        self.clock = ManualClock(T0)
        self.log: list[tuple[str, list[str]]] = []  # ("publish" | "mark", event ids), in order
        self.store = store or LoggedStore(self.log)
        if store is None:
            self.store.open_account({"USDT": Decimal(100_000)})
        self.exchange: PaperExchange = make_exchange({"USDT": "100000"})
        tape(self.exchange, "90000", quantity=None, when=T0)
        self.publisher = CommittedFirst(self.store, self.log)
        self.health = Health(clock=self.clock)
        self.health.redis_up()
        self.pipeline = Pipeline(
            planner(self.exchange), self.store, self.publisher, self.health,
            Metrics(CollectorRegistry()),
            max_message_bytes=65_536, clock=self.clock,
            **{"batch_max": 100, "equity_interval_s": 3600.0, **options})

    @asynccontextmanager
    async def running(self) -> AsyncIterator[Rig]:
        task = asyncio.create_task(self.pipeline.run())
        try:
            yield self
        finally:
            self.pipeline.close(timeout_s=0)
            await asyncio.wait_for(task, 5)

    def published(self) -> list[dict[str, Any]]:
        return [message.result for message in self.publisher.published]


class CommittedFirst(RecordingPublisher):
    """Fails the test if a result is published before its outbox row is committed."""

    def __init__(self, store: MemoryStore, log: list[tuple[str, list[str]]]) -> None:
        super().__init__()
        self._store = store
        self._log = log

    async def publish(self, messages: Sequence[OutboxMessage], acks: Sequence[EntryRef]) -> None:
        committed = {row.message.event_id for row in self._store.outbox}
        assert all(message.event_id in committed for message in messages)
        await super().publish(messages, acks)
        self._log.append(("publish", [message.event_id for message in messages]))


class LoggedStore(MemoryStore):
    def __init__(self, log: list[tuple[str, list[str]]]) -> None:
        super().__init__()
        self._log = log

    async def mark_sent(self, marks: Mapping[str, int], at: datetime) -> None:
        before = {row.message.event_id for row in self.outbox if self.is_published(row)}
        await super().mark_sent(marks, at)
        now_marked = [row.message.event_id for row in self.outbox
                      if self.is_published(row) and row.message.event_id not in before]
        if now_marked:
            self._log.append(("mark", now_marked))


def order(client_id: str, **fields: str) -> dict[str, str]:
    return {"symbol": "BTCUSDT", "side": "BUY", "quantity": "0.001", "client_id": client_id,
            **fields}


def stream(entry_id: str, document: dict[str, str], after_ms: float = 0) -> Envelope:
    return Envelope(Source.STREAM, T0 + timedelta(milliseconds=after_ms),
                    entry=EntryRef("stream.orders", entry_id),
                    payload={k.encode(): v.encode() for k, v in document.items()})


async def until(condition: Callable[[], bool]) -> None:
    async def probe() -> bool:
        return condition()
    await wait_for(probe, timeout_s=3.0, interval_s=0.005)


async def test_committed_then_answered_then_published_and_acknowledged_then_marked_sent() -> None:
    rig = Rig(batch_max=5)
    async with rig.running():
        await rig.pipeline.deliver([stream("1-0", order("a"))])
        reply = await rig.pipeline.submit(rest_envelope(orjson.dumps(order("b")), rig.clock.now()))
        assert reply.outcome == "created"
        assert reply.body["order_id"] in rig.store.orders  # committed before answered
        await until(lambda: len(rig.publisher.published) == 2)
        assert rig.publisher.acked == [EntryRef("stream.orders", "1-0")]
        for first in range(0, 50, 5):
            await rig.pipeline.deliver([stream(f"{i}-1", order(f"n{i}"))
                                        for i in range(first, first + 5)])
        await until(lambda: len(rig.publisher.acked) == 51)
    assert sorted(r["client_id"] for r in rig.published())[:2] == ["a", "b"]
    assert {r["status"] for r in rig.published()} == {"FILLED"}
    # Each result marked sent once, after it was published; while batches flow the marks
    # travel with the next commit (no round trip of their own).
    published: set[str] = set()
    marked: list[str] = []
    for step, event_ids in rig.log:
        if step == "publish":
            published.update(event_ids)
        else:
            assert published.issuperset(event_ids)
            marked += event_ids
    assert sorted(marked) == sorted(row.message.event_id for row in rig.store.outbox)
    assert any(carried is not None for _, carried in rig.store.writes)


async def test_a_batch_is_held_while_the_database_is_away_and_committed_once_when_back() -> None:
    rig = Rig()
    rig.store.down = True
    async with rig.running():
        await rig.pipeline.deliver([stream("1-0", order("a")), stream("2-0", order("b"))])
        await until(lambda: rig.health.db_error is not None)
        await asyncio.sleep(0.3)  # a few retries
        assert not rig.store.orders
        assert not rig.publisher.published
        assert not rig.publisher.acked
        rig.store.down = False
        await until(lambda: len(rig.publisher.acked) == 2)
        assert rig.health.db_connected
    assert len(rig.store.orders) == 2
    assert sorted(r["client_id"] for r in rig.published()) == ["a", "b"]  # each once


async def test_results_stay_in_the_outbox_while_redis_is_away_and_are_swept_once_back() -> None:
    rig = Rig()
    rig.publisher.down = True
    async with rig.running():
        reply = await rig.pipeline.submit(rest_envelope(orjson.dumps(order("a")), rig.clock.now()))
        assert reply.outcome == "created"  # the commit does not need Redis
        await until(lambda: not rig.health.redis_connected)
        assert not rig.store.is_published(rig.store.outbox[0])
        rig.publisher.down = False
        rig.health.redis_up()
        rig.pipeline.inbox.wake()
        await until(lambda: rig.store.is_published(rig.store.outbox[0]))
    assert [r["client_id"] for r in rig.published()] == ["a"]


async def test_results_committed_after_an_outage_wait_behind_the_ones_it_left_unsent() -> None:
    rig = Rig()
    rig.publisher.down = True
    async with rig.running():
        await rig.pipeline.submit(rest_envelope(orjson.dumps(order("during")), rig.clock.now()))
        await until(lambda: not rig.health.redis_connected)
        rig.publisher.down = False
        rig.health.redis_up()
        await rig.pipeline.submit(rest_envelope(orjson.dumps(order("after")), rig.clock.now()))
        await until(lambda: len(rig.publisher.published) == 2)
    assert [r["client_id"] for r in rig.published()] == ["during", "after"]  # commit order
    assert all(rig.store.is_published(row) for row in rig.store.outbox)


async def test_the_equity_timer_enters_as_a_command_when_the_clock_reaches_it() -> None:
    rig = Rig(equity_interval_s=60.0)
    async with rig.running():
        rig.clock.advance(59)
        rig.pipeline.inbox.wake()
        await asyncio.sleep(0.05)
        assert rig.store.equity == []
        rig.clock.advance(2)
        rig.pipeline.inbox.wake()
        await until(lambda: len(rig.store.equity) == 1)
        snapshot = rig.store.equity[0]
        assert (snapshot.at, snapshot.quote_asset, snapshot.equity) == (
            rig.clock.now(), "USDT", Decimal(100_000))
        rig.pipeline.inbox.wake()
        await asyncio.sleep(0.05)
        assert len(rig.store.equity) == 1  # and next in another 60 s


async def test_a_trade_counts_for_the_orders_that_arrived_after_it() -> None:
    rig = Rig()
    await rig.pipeline.deliver([stream("1-0", order("before"), after_ms=1),
                                stream("3-0", order("after"), after_ms=3)])
    rig.pipeline.on_tape([MarketTrade("BTCUSDT", Decimal(95_000), None, 0)],
                         [T0 + timedelta(milliseconds=2)])
    async with rig.running():
        await until(lambda: len(rig.publisher.published) == 2)
    prices = {r["client_id"]: Decimal(r["price"]) for r in rig.published()}
    assert 90_000 < prices["before"] < 90_100  # the synthetic book around the last price
    assert 95_000 < prices["after"] < 95_100


async def test_a_full_inbox_makes_the_intake_wait() -> None:
    rig = Rig(batch_max=2, inbox_batches=1)
    await rig.pipeline.deliver([stream("1-0", order("a")), stream("2-0", order("b"))])
    third = asyncio.create_task(rig.pipeline.deliver([stream("3-0", order("c"))]))
    await asyncio.sleep(0.05)
    assert not third.done()
    async with rig.running():
        await asyncio.wait_for(third, 2)
        await until(lambda: len(rig.publisher.acked) == 3)


class BuggyPlanner(BatchPlanner):
    """A planner with a bug: any batch holding the order "boom" raises (and, with
    `invalid_too`, the rejection of that order as well)."""

    invalid_too = False

    def plan(self, decoded: list[Decoded], *args: Any, **kwargs: Any) -> Plan:
        failing = (SubmitOrder, InvalidMessage) if self.invalid_too else SubmitOrder
        if any(isinstance(command, failing) and command.client_id == "boom"
               for _, command in decoded):
            raise RuntimeError("a bug")
        return super().plan(decoded, *args, **kwargs)


class BuggierPlanner(BuggyPlanner):
    invalid_too = True


async def test_an_invalid_entry_delivered_again_is_kept_and_answered_once() -> None:
    rig = Rig()
    garbage = Envelope(Source.STREAM, T0, entry=EntryRef("stream.orders", "7-0"),
                       payload={b"data": b"{not json"})
    again = Envelope(Source.STREAM, T0, entry=EntryRef("stream.orders", "7-0"),
                     payload={b"data": b"{not json"})
    async with rig.running():
        await rig.pipeline.deliver([garbage])
        await until(lambda: len(rig.publisher.acked) == 1)
        await rig.pipeline.deliver([again])  # a redelivery (claimed after a crash, say)
        await until(lambda: len(rig.publisher.acked) == 2)
    assert [m.intake_ref for m in rig.store.rejected] == ["stream.orders:7-0"]
    assert rig.pipeline.stats.duplicates == 1
    assert rig.pipeline.stats.orders_rejected == 1


async def test_a_command_that_fails_on_its_own_is_quarantined_and_the_rest_execute() -> None:
    rig = Rig(planner=BuggyPlanner)
    await rig.pipeline.deliver([stream(f"{i}-0", order(client_id))
                                for i, client_id in enumerate(["a", "boom", "b"], 1)])
    async with rig.running():
        await until(lambda: len(rig.publisher.acked) == 3)
    assert sorted(o.client_id or "" for o in rig.store.orders.values()) == ["a", "b"]
    assert all(o.status is OrderStatus.FILLED for o in rig.store.orders.values())
    assert [(m.intake_ref, m.client_id, m.reason) for m in rig.store.rejected] == [
        ("stream.orders:2-0", "boom",
         "could not be executed (RuntimeError); kept in rejected_messages")]
    answers = [m.result for m in rig.publisher.published if m.result["client_id"] == "boom"]
    assert [(a["status"], a["error_code"], a["symbol"]) for a in answers] == [
        ("REJECTED", "INVALID_ORDER", "BTCUSDT")]


async def test_a_command_whose_rejection_fails_too_is_kept_raw_and_acknowledged() -> None:
    rig = Rig(planner=BuggierPlanner)
    await rig.pipeline.deliver([stream(f"{i}-0", order(client_id))
                                for i, client_id in enumerate(["a", "boom"], 1)])
    async with rig.running():
        await until(lambda: len(rig.publisher.acked) == 2)
    assert [(m.intake_ref, m.reason) for m in rig.store.rejected] == [
        ("stream.orders:2-0", "internal error while executing; see the service log")]
    assert [o.client_id for o in rig.store.orders.values()] == ["a"]


async def test_an_entry_delivered_too_often_is_quarantined_unread() -> None:
    rig = Rig(planner=BuggyPlanner, max_deliveries=3)
    fourth = stream("2-0", order("boom"))
    fourth.deliveries = 4
    third = stream("3-0", order("c"))
    third.deliveries = 3
    async with rig.running():
        await rig.pipeline.deliver([fourth, third])
        await until(lambda: len(rig.publisher.acked) == 2)
    assert [(m.intake_ref, m.client_id, m.reason) for m in rig.store.rejected] == [
        ("stream.orders:2-0", None,
         "delivered 4 times without being committed; quarantined unread")]
    assert [o.client_id for o in rig.store.orders.values()] == ["c"]


def test_decode_that_raises_unexpectedly_yields_an_invalid_message() -> None:
    # Not a value Redis can send (a field without bytes): the codec raises TypeError, and
    # the message is rejected like any invalid one instead of stopping the batch.
    broken = Envelope(Source.STREAM, T0, entry=EntryRef("stream.orders", "1-0"),
                      payload={b"data": None})  # type: ignore[dict-item]
    invalid = decode(broken, 65_536)
    assert isinstance(invalid, InvalidMessage)
    assert invalid.reason == "could not be read (TypeError)"
