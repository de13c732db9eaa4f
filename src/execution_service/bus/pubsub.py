"""The pub/sub intake: orders and market data, read continuously and never the slow one.

Redis drops a subscriber that falls behind (`client-output-buffer-limit pubsub`), and a
pub/sub message exists nowhere once read. So the reader runs in a thread of its own, on
its own connection, where no work of the event loop can delay it, and only hands
messages off: orders go into the service's journal stream (XADD, one pipelined round
trip per 1,000 messages or per pause in the traffic) and are executed from there like any
stream entry, acknowledged after commit; a crash after reading loses nothing that
reached the journal. Market data is parsed in the thread and handed to the event loop
as the list of trades read since the last hand-off, each stamped when it was read, with
the same clock as the orders read beside it, and handed off before those orders are
journaled, so an order that came after a trade is never planned before it.

Orders from the stream or REST are read by the event loop, not by this thread: `sync()`
publishes a token on a channel of this reader's own and waits until the thread reads it.
Redis delivers a subscriber's messages in the order it processed them, so every trade
published before the token, and so before any order the loop had already read, has
been handed off by then.

When Redis answers but refuses to journal (out of memory, read-only after a failover),
the reader stays subscribed, keeps what it reads in memory, and tries the journal again
with backoff: unsubscribing would lose whatever is published meanwhile.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import threading
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import redis
import redis.asyncio as aioredis
from redis.backoff import ExponentialWithJitterBackoff
from redis.client import PubSub

from execution_service.bus.connection import (
    REDIS_DOWN,
    REDIS_REFUSED,
    REDIS_UNAVAILABLE,
    Refusals,
)
from execution_service.bus.health import Health
from execution_service.bus.market_data import parse_depth, parse_trade
from execution_service.clock import Clock, SystemClock
from execution_service.domain.commands import TapeEvent

log = logging.getLogger(__name__)

JOURNAL_CHUNK = 1000
_POLL_S = 0.05

OnTrades = Callable[[list[TapeEvent], list[datetime]], None]  # trades and books, when each was read
SYNC_TIMEOUT_S = 0.25
_EPOCH, _MICROSECOND = datetime(1970, 1, 1, tzinfo=UTC), timedelta(microseconds=1)
PART = "pub/sub journal"  # as /ready names it when Redis refuses to journal


class PubSubIntake:
    """Subscribes to the orders and market-data channels in a reader thread; journals orders."""

    def __init__(
        self,
        client: redis.Redis,
        health: Health,
        *,
        orders_channel: str,
        market_data_channel: str,
        journal_stream: str,
        market_depth_channel: str = "",
        clock: Clock | None = None,
    ) -> None:
        self._clock = clock or SystemClock()
        self._client = client
        self._health = health
        self._orders = orders_channel.encode()
        self._market_data = market_data_channel.encode()
        self._market_depth = market_depth_channel.encode()
        self._journal = journal_stream
        self._on_trades: OnTrades = _nowhere
        self._sync_channel = f"{journal_stream}:sync:{uuid.uuid4().hex}".encode()
        self._syncs: dict[bytes, asyncio.Future[datetime]] = {}
        self._tokens = itertools.count()
        self._pending: list[tuple[bytes, int]] = []  # raw order, microseconds when read
        self._trades: list[TapeEvent] = []
        self._read_at: list[datetime] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._refusals = Refusals(PART, health, "the reader keeps the orders it reads")
        self.journaled = 0

    @property
    def channels(self) -> list[bytes]:
        return [channel for channel in (self._orders, self._market_data, self._market_depth)
                if channel]

    async def sync(self, publisher: aioredis.Redis) -> datetime | None:
        """Wait until every trade published before now has been handed off; return when the
        reader saw this moment (on its clock), or None without a live subscription."""
        if not self._market_data or not self._health.subscribed or self._loop is None:
            return None
        token = str(next(self._tokens)).encode()
        synced = self._loop.create_future()
        self._syncs[token] = synced
        try:
            async with asyncio.timeout(SYNC_TIMEOUT_S):
                await publisher.publish(self._sync_channel, token)
                read_at: datetime = await synced
                return read_at
        except (TimeoutError, *REDIS_UNAVAILABLE):
            return None
        finally:
            self._syncs.pop(token, None)

    def _synced(self, token: bytes, read_at: datetime) -> None:
        waiting = self._syncs.get(token)
        if waiting is not None and not waiting.done():
            waiting.set_result(read_at)

    def start(self, loop: asyncio.AbstractEventLoop, on_trades: OnTrades) -> None:
        """Start the reader thread; market data is handed to `on_trades` on `loop`."""
        self._loop, self._on_trades = loop, on_trades
        self._thread = threading.Thread(target=self._run, name="pubsub-reader", daemon=True)
        self._thread.start()

    async def stop(self, timeout_s: float) -> int:
        """Stop reading, journal what was read, and return how many could not be journaled."""
        self._stop.set()
        if self._thread is not None:
            await asyncio.to_thread(self._thread.join, timeout_s)
        return len(self._pending)

    def _run(self) -> None:
        backoff = ExponentialWithJitterBackoff(base=0.1, cap=5.0)
        failures = 0
        while not self._stop.is_set():
            try:
                self._read()
                failures = 0
            except REDIS_DOWN as exc:
                failures += 1
                if self._health.redis_connected or failures == 1:
                    log.warning("pub/sub reader lost Redis (%s); reconnecting", exc)
                self._health.subscribed = False
                self._stop.wait(backoff.compute(failures))
        try:
            self._flush_all()
        except REDIS_UNAVAILABLE as exc:
            log.warning("%d pub/sub orders could not be journaled at shutdown: %s",
                        len(self._pending), exc)

    def _read(self) -> None:
        pubsub: PubSub = self._client.pubsub(ignore_subscribe_messages=True)  # type: ignore[no-untyped-call, unused-ignore]
        try:
            pubsub.subscribe(*self.channels, *([self._sync_channel] if self._market_data else []))
            self._journal_read()  # what was read before a reconnect
            self._health.subscribed = True
            log.info("subscribed to %s", ", ".join(c.decode() for c in self.channels))
            while not self._stop.is_set():
                message = pubsub.get_message(timeout=_POLL_S)
                while message is not None:
                    self._handle(message["channel"], message["data"])
                    if len(self._pending) >= JOURNAL_CHUNK:
                        self._journal_read()
                    message = pubsub.get_message(timeout=0)
                self._journal_read()
        finally:
            self._health.subscribed = False
            pubsub.close()

    def _handle(self, channel: bytes, data: bytes) -> None:
        if channel == self._orders:
            self._pending.append((data, (self._clock.now() - _EPOCH) // _MICROSECOND))
        elif channel == self._market_data or channel == self._market_depth:
            event = parse_trade(data) if channel == self._market_data else parse_depth(data)
            if event is not None:  # (book updates travel the tape with the trades, in order)
                self._trades.append(event)
                self._read_at.append(self._clock.now())
        elif channel == self._sync_channel and self._loop is not None:
            self._hand_over_trades()
            self._loop.call_soon_threadsafe(self._synced, data, self._clock.now())

    def _journal_read(self) -> None:
        """Journal what was read, unless Redis refused lately (then keep it and go on reading)."""
        if self._refusals.waiting():
            self._hand_over_trades()
            return
        try:
            self._flush_all()
        except REDIS_REFUSED as exc:
            self._refusals.refused(exc)
            return
        self._refusals.accepted()

    def _flush_all(self) -> None:
        """XADD what was read to the journal, in order; an entry Redis refused stays, with
        those after it, for the next try (the ones it took are never added twice)."""
        self._hand_over_trades()  # before the orders read after them reach the journal
        while self._pending:
            batch = self._pending[:JOURNAL_CHUNK]
            pipe = self._client.pipeline(transaction=False)
            for data, received_us in batch:
                pipe.xadd(self._journal, {"data": data, "received_us": received_us})
            replies = pipe.execute(raise_on_error=False)
            refused = [(entry, reply) for entry, reply in zip(batch, replies, strict=True)
                       if isinstance(reply, Exception)]
            del self._pending[:len(batch)]
            self.journaled += len(batch) - len(refused)
            if refused:
                self._pending[:0] = [entry for entry, _ in refused]
                raise refused[0][1]

    def _hand_over_trades(self) -> None:
        if self._trades and self._loop is not None:
            trades, read_at, self._trades, self._read_at = self._trades, self._read_at, [], []
            self._loop.call_soon_threadsafe(self._on_trades, trades, read_at)


def _nowhere(trades: list[TapeEvent], read_at: list[datetime]) -> None:
    """Where market data would go before `start` (the thread hands none over before it)."""
