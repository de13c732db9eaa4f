r"""The pipeline: intake batches in, committed and published results out.

    intakes --deliver()--> inbox --\
    market data --on_tape()--> tape --> plan (timers, decode, dedupe, match) --> commit --> answer
                                                                                 \--> publish + ack

One task runs it, so batches are strictly ordered and the account has one writer. A
batch's results are published (and its entries acknowledged) while the next batch is
planned and committed, one batch in flight at a time.
A batch is whatever has arrived, up to `batch_max` commands, with the trades the tape
brought meanwhile, in the order they arrived. A batch also runs when an exchange timer
(a latency delay, a good-till-date) is due, and every `equity_interval_s` stores the
account's value. Nothing is acknowledged
before its batch commits; when the database is down the batch in hand is retried with
backoff and the intakes stop reading (the inbox is bounded). Results that could not be
published stay in the outbox and are swept out once Redis is back.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import orjson
from redis.backoff import ExponentialWithJitterBackoff

from execution_service.batch import (
    BatchPlanner,
    Decoded,
    KillSwitch,
    Plan,
    RecentKeys,
    decode,
    invalid_client_ids,
    lookup_keys,
)
from execution_service.bus.connection import REDIS_DOWN
from execution_service.bus.envelope import EntryRef, Envelope, Reply
from execution_service.bus.health import Health
from execution_service.bus.publisher import ResultPublisher
from execution_service.domain.commands import MarketTrade
from execution_service.domain.orders import Source
from execution_service.errors import DatabaseUnavailable, WriteConflict
from execution_service.metrics import Metrics
from execution_service.store.repository import Store
from execution_service.store.writer import (
    BatchWriter,
    EquitySnapshot,
    OutboxMessage,
    RejectedMessage,
    UnitOfWork,
)

log = logging.getLogger(__name__)

_SWEEP_CHUNK = 1000
_LOOP_READ = frozenset({Source.STREAM, Source.REST})  # intakes the event loop reads itself
_IDLE_WAIT_S = 0.5


@dataclass(slots=True)
class Stats:
    """The seed's counters since start, shown on /status."""

    start_time: datetime = field(default_factory=lambda: datetime.now(UTC))
    orders_received: int = 0
    orders_filled: int = 0
    orders_rejected: int = 0
    duplicates: int = 0
    batches: int = 0


class Pipeline:
    """Plans, commits, answers and publishes batches; see the module docstring."""

    def __init__(
        self,
        planner: BatchPlanner,
        store: Store,
        writer: BatchWriter,
        publisher: ResultPublisher,
        health: Health,
        metrics: Metrics,
        *,
        kill_switch: KillSwitch,
        batch_max: int,
        max_message_bytes: int,
        inbox_batches: int = 4,
        tape_max: int = 100_000,
        equity_interval_s: float = 60.0,
        equity_quote: str = "USDT",
        synthetic_tape_s: float = 0.0,
        synthetic_notional: Decimal = Decimal(10_000),
    ) -> None:
        self._planner = planner
        self._exchange = planner.exchange
        self._store = store
        self._writer = writer
        self._publisher = publisher
        self._health = health
        self._metrics = metrics
        self.kill_switch = kill_switch
        self._batch_max = batch_max
        self._max_message_bytes = max_message_bytes
        # Deliveries waiting, bounded by the commands they hold (however they were read).
        self._inbox: deque[list[Envelope]] = deque()
        self._queued = 0
        self._capacity = inbox_batches * batch_max
        self._room = asyncio.Event()
        self.stats = Stats()
        self._outbox_dirty = True  # a previous run may have left results unsent
        self._published: list[str] = []  # outbox rows published, marked with the next commit
        self._publishing: asyncio.Task[None] | None = None  # one batch's results on their way
        self._closing = False
        self._give_up_at = float("inf")
        self._tape: deque[Envelope] = deque(maxlen=tape_max)  # oldest dropped when full
        self._wake = asyncio.Event()
        self._equity_interval_s = equity_interval_s
        self.equity_quote = equity_quote
        self._equity_due = time.monotonic() + equity_interval_s
        self._reload = False  # the exchange's state may be ahead of the database
        self._recent = RecentKeys()  # keys of orders stored lately: only these are looked up
        self._synthetic_s = synthetic_tape_s
        self._synthetic_notional = synthetic_notional
        self._synthetic_due = time.monotonic() + synthetic_tape_s
        # Waits until the market-data reader has handed off every trade published so far
        # (bus/pubsub.py); returns the moment on the reader's clock, or None.
        self.tape_sync: Callable[[], Awaitable[datetime | None]] | None = None

    # Feeding it

    async def deliver(self, envelopes: list[Envelope]) -> None:
        """Queue a batch from an intake; waits while the pipeline is behind (backpressure)."""
        while self._queued >= self._capacity:
            self._room.clear()
            await self._room.wait()
        self._inbox.append(envelopes)
        self._queued += len(envelopes)
        self._wake.set()

    def on_tape(self, trades: Sequence[MarketTrade], read_at: Sequence[datetime] = ()) -> None:
        """Trades from the market-data channel, with when each was read (now, if not given);
        never blocks (the oldest are dropped when the pipeline is far behind: a trade not
        seen fills nothing, it is never invented)."""
        times = read_at or [datetime.now(UTC)] * len(trades)
        dropped = max(0, len(self._tape) + len(trades) - (self._tape.maxlen or 0))
        self._tape.extend(Envelope(source=Source.MARKET, received_at=at, command=trade)
                          for trade, at in zip(trades, times, strict=True))
        if dropped:
            self._metrics.tape_dropped.inc(dropped)
        self._wake.set()

    async def submit(self, envelope: Envelope, timeout_s: float = 10.0) -> Reply:
        """Run one envelope through the pipeline and wait for its committed answer."""
        if self._closing:
            return Reply("unavailable", {"error_message": "the service is shutting down"})
        reply: asyncio.Future[Reply] = asyncio.get_running_loop().create_future()
        envelope.reply = reply
        try:
            async with asyncio.timeout(timeout_s):
                await self.deliver([envelope])
                return await reply
        except TimeoutError:
            return Reply("unavailable", {
                "error_message": f"not committed within {timeout_s:g} s (database unavailable?);"
                                 " it may still execute: retry with the same client_id"})

    # Reading its state (what the last committed batch left)

    def last_price(self, symbol: str) -> Decimal | None:
        return self._exchange.prices.last(symbol)

    def valuation(self) -> tuple[Decimal, list[str], dict[str, Any]]:
        return self._exchange.valuation(self.equity_quote)

    # Running it

    async def run(self) -> None:
        """Process batches until `close()` and the inbox is empty."""
        while True:
            batch = await self._next_batch()
            if batch or (not self._closing and (self._timer_due() or self._equity_now())):
                await self._process(batch)
            else:  # idle, or finishing
                await self._publishing_done()
                await self._mark_published()
                if self._closing:
                    return
            if self._outbox_dirty and self._health.redis_connected:
                await self._sweep_outbox()

    def close(self, timeout_s: float) -> None:
        """Stop taking REST orders; finish what is queued, giving up on the database after `timeout_s`."""
        self._closing = True
        self._give_up_at = time.monotonic() + timeout_s
        self._wake.set()

    async def _next_batch(self) -> list[Envelope]:
        self._walk_the_tape()
        if not self._inbox and not self._tape:
            if self._closing:
                return []
            await self._wait_for_work()
        batch = self._inbox.popleft() if self._inbox else []
        while len(batch) < self._batch_max and self._inbox:
            batch.extend(self._inbox.popleft())
        self._queued -= len(batch)
        self._room.set()
        await self._sync_tape(batch)
        if self._tape:  # merged by arrival time: a trade counts for the orders that came after it
            tape = list(self._tape)
            self._tape.clear()
            # On a tie (one microsecond) the trade goes first: it was read first.
            batch = list(heapq.merge(tape, batch, key=lambda envelope: envelope.tape_key))
        return batch

    async def _sync_tape(self, batch: list[Envelope]) -> None:
        """Have every trade published before the batch's orders on the tape, and place the
        orders the event loop read (stream, REST) after them: the reader thread stamps the
        trades on its own clock, and may read a trade after the loop read a later order.
        Pub/sub orders are stamped by that same thread, in the order Redis sent them."""
        if self.tape_sync is None or not any(e.source in _LOOP_READ for e in batch):
            return
        synced = await self.tape_sync()
        if synced is not None:
            for envelope in batch:
                if envelope.source in _LOOP_READ:
                    envelope.tape_at = max(envelope.received_at, synced)

    def _walk_the_tape(self) -> None:
        """Every `synthetic_tape_s`, trades from the random walk for orders waiting on a tape
        that has no live price (none when nothing waits, or a feed is live)."""
        if not self._synthetic_s or self._closing or time.monotonic() < self._synthetic_due:
            return
        self._synthetic_due = time.monotonic() + self._synthetic_s
        self.on_tape(self._exchange.synthetic_trades(self._synthetic_notional, datetime.now(UTC)))

    async def _wait_for_work(self) -> None:
        """Until commands or trades arrive, a timer is due, or half a second has passed."""
        timeout = _IDLE_WAIT_S
        due = self._exchange.next_due()
        if due is not None:
            timeout = min(timeout, max(0.0, (due - datetime.now(UTC)).total_seconds()))
        timeout = min(timeout, max(0.0, self._equity_due - time.monotonic()))
        if self._synthetic_s:
            timeout = min(timeout, max(0.0, self._synthetic_due - time.monotonic()))
        self._wake.clear()
        if self._inbox or self._tape:
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), timeout)

    def _timer_due(self) -> bool:
        due = self._exchange.next_due()
        return due is not None and due <= datetime.now(UTC)

    def _equity_now(self) -> bool:
        return time.monotonic() >= self._equity_due

    async def _process(self, envelopes: list[Envelope]) -> None:
        decoded = [(envelope, decode(envelope, self._max_message_bytes)) for envelope in envelopes]
        try:
            plan = await self._commit(decoded)
        except Exception:
            log.exception("batch of %d failed unexpectedly; retrying one by one", len(decoded))
            await self._process_singly(decoded)
            return
        if plan is None:
            for envelope in envelopes:
                envelope.answer(Reply("unavailable", {"error_message": "database unavailable"}))
            return
        self.kill_switch = plan.kill_switch
        for envelope, reply in plan.replies:
            envelope.answer(reply)
        self._count(plan)
        # Published while the next batch is planned and committed; one batch at a time, in order.
        await self._publishing_done()
        self._publishing = asyncio.create_task(
            self._publish(plan.work.outbox, plan.acks, plan.answered), name="publish")

    async def _commit(self, decoded: list[Decoded]) -> Plan | None:
        """Plan and commit, retrying while the database is away; None if shutdown cut it short."""
        backoff = ExponentialWithJitterBackoff(base=0.1, cap=2.0)
        conflict_backoff = ExponentialWithJitterBackoff(base=0.005, cap=0.2)
        outages = conflicts = 0
        while True:
            try:
                if self._reload:
                    self._exchange.load(*await self._store.exchange_state())
                    self._reload = False
                started = time.perf_counter()
                published = self._published[:]
                async with self._writer.session() as session:
                    # After a conflict (perhaps a duplicate this process had not seen): every key.
                    keys = lookup_keys(decoded, None if conflicts else self._recent)
                    stored = await session.find_orders(*keys)
                    invalid_ids = invalid_client_ids(decoded)
                    rejected = await session.find_rejected(invalid_ids) if invalid_ids else set()
                    now = datetime.now(UTC)
                    self._reload = True  # until the commit succeeds
                    plan = self._planner.plan(decoded, stored, self.kill_switch, now, rejected)
                    if self._equity_now():
                        plan.work.equity.append(self._valuation(now))
                    await session.write(plan.work, published)
                self._reload = False
                self._recent.add(plan.work.effects.created.values())
                if plan.work.equity:
                    self._equity_due = time.monotonic() + self._equity_interval_s
                del self._published[:len(published)]
                self._metrics.db_commit.observe(time.perf_counter() - started)
                if not self._health.db_connected:
                    log.info("database back; committed the batch held for %d retries", outages)
                self._health.db_up()
                return plan
            except DatabaseUnavailable as exc:
                outages += 1
                if self._health.db_connected:
                    log.warning("database unavailable (%s); holding %d commands", exc, len(decoded))
                self._health.db_down(exc)
                if self._giving_up(decoded):
                    return None
                await asyncio.sleep(backoff.compute(outages))
            except WriteConflict as exc:
                # Another instance wrote first (a balance, a client_id, a deadlock between
                # the two): never the commands' fault, so the batch is run again, with a
                # growing random pause so that two instances stop colliding.
                conflicts += 1
                if conflicts == 1 or conflicts % 20 == 0:
                    log.info("write conflict (%s); re-reading and running the batch again "
                             "(attempt %d)", exc, conflicts + 1)
                if self._giving_up(decoded):
                    return None
                await asyncio.sleep(conflict_backoff.compute(conflicts))

    def _valuation(self, now: datetime) -> EquitySnapshot:
        equity, unpriced, detail = self._exchange.valuation(self.equity_quote)
        return EquitySnapshot(now, self.equity_quote, equity, unpriced, detail)

    def _giving_up(self, decoded: list[Decoded]) -> bool:
        """Whether shutdown has run out of time for this batch."""
        if time.monotonic() < self._give_up_at:
            return False
        log.warning("shutting down with %d uncommitted commands; they stay unacknowledged "
                    "and will be redelivered", len(decoded))
        return True

    async def _process_singly(self, decoded: list[Decoded]) -> None:
        if len(decoded) > 1:
            for item in decoded:
                await self._process([item[0]])
            return
        envelope, _command = decoded[0]
        await self._quarantine(envelope)

    async def _quarantine(self, envelope: Envelope) -> None:
        """Keep a message that fails on its own in rejected_messages, so it cannot block the intake."""
        raw = envelope.raw_bytes()
        now = datetime.now(UTC)
        work = UnitOfWork(at=now, rejected=[RejectedMessage(
            source=envelope.source, intake_ref=envelope.intake_ref, client_id=None,
            payload=raw[:65_536], payload_bytes=len(raw),
            reason="internal error while executing; see the service log", received_at=now)])
        try:
            await self._writer.commit(work)
        except Exception:
            log.exception("could not quarantine a failing message; it stays pending")
            envelope.answer(Reply("unavailable", {"error_message": "internal error"}))
            return
        envelope.answer(Reply("invalid", {"error_code": "INTERNAL_ERROR",
                                          "error_message": "internal error while executing"}))
        await self._publishing_done()
        await self._publish([], [envelope.entry] if envelope.entry else [], [])

    # After the commit

    def _count(self, plan: Plan) -> None:
        received = sum(plan.received.values())
        rejected = sum(plan.rejected.values())
        self.stats.orders_received += received
        self.stats.orders_filled += plan.filled
        self.stats.orders_rejected += rejected
        self.stats.duplicates += plan.duplicates
        self.stats.batches += 1
        for source, count in plan.received.items():
            self._metrics.orders_received.labels(source).inc(count)
        for source, count in plan.messages.items():
            self._metrics.order_messages.labels(source).inc(count)
        for reason, count in plan.rejected.items():
            self._metrics.orders_rejected.labels(reason).inc(count)
        self._metrics.orders_filled.inc(plan.filled)
        self._metrics.duplicates.inc(plan.duplicates)
        self._metrics.illegal_transitions.inc(plan.illegal)
        self._metrics.batch_size.observe(len(plan.replies))

    async def _publish(
        self, outbox: Sequence[OutboxMessage], acks: Sequence[EntryRef],
        answered: Sequence[datetime],
    ) -> None:
        if not self._health.redis_connected and not acks:
            self._outbox_dirty = self._outbox_dirty or bool(outbox)
            return
        try:
            await self._publisher.publish(outbox, acks)
        except REDIS_DOWN as exc:
            self._health.redis_down(exc)
            self._outbox_dirty = True
            return
        published = datetime.now(UTC)
        for received_at in answered:
            self._metrics.order_latency.observe((published - received_at).total_seconds())
        self._published.extend(message.event_id for message in outbox)

    async def _publishing_done(self) -> None:
        if self._publishing is not None:
            task, self._publishing = self._publishing, None
            await task

    async def _mark_published(self) -> None:
        """Mark published results sent when no batch is coming to carry them."""
        if not self._published:
            return
        marking = self._published[:]
        try:
            await self._writer.mark_sent(marking, datetime.now(UTC))
        except DatabaseUnavailable:
            return  # they stay listed; at worst a crash meanwhile publishes them once more
        del self._published[:len(marking)]

    async def _sweep_outbox(self) -> None:
        """Publish results committed while Redis was away, oldest first."""
        await self._publishing_done()
        await self._mark_published()  # so that what was published is not swept again
        swept = 0
        try:
            while unsent := await self._store.unsent_results(_SWEEP_CHUNK):
                now = datetime.now(UTC)
                messages = [OutboxMessage(row.event_id, None, orjson.loads(row.payload),
                                          row.payload, now) for row in unsent]
                await self._publisher.publish(messages, [])
                await self._writer.mark_sent([message.event_id for message in messages], now)
                swept += len(messages)
        except REDIS_DOWN as exc:
            self._health.redis_down(exc)
            return
        except DatabaseUnavailable:
            return
        self._outbox_dirty = False
        if swept:
            log.info("published %d results from the outbox", swept)


def rest_envelope(payload: bytes) -> Envelope:
    return Envelope(source=Source.REST, received_at=datetime.now(UTC), payload=payload)
