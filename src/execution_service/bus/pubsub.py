"""The pub/sub intake: orders and market data, read continuously and never the slow one.

Redis drops a subscriber that falls behind (`client-output-buffer-limit pubsub`), and a
pub/sub message exists nowhere once read. So the reader runs in a thread of its own, on
its own connection, where no work of the event loop can delay it, and only hands
messages off: orders go into the service's journal stream (XADD, one pipelined round
trip per 1,000 messages or per pause in the traffic) and are executed from there like any
stream entry, acknowledged after commit; a crash after reading loses nothing that
reached the journal. Market data is parsed in the thread and handed to the event loop
as the list of trades read since the last hand-off.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable

import redis
from redis.backoff import ExponentialWithJitterBackoff
from redis.client import PubSub

from execution_service.bus.connection import REDIS_DOWN
from execution_service.bus.health import Health
from execution_service.bus.market_data import parse_trade
from execution_service.domain.commands import MarketTrade

log = logging.getLogger(__name__)

JOURNAL_CHUNK = 1000
_POLL_S = 0.05

OnTrades = Callable[[list[MarketTrade]], None]


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
        on_trades: OnTrades,
    ) -> None:
        self._client = client
        self._health = health
        self._orders = orders_channel.encode()
        self._market_data = market_data_channel.encode()
        self._journal = journal_stream
        self._on_trades = on_trades
        self._pending: list[tuple[bytes, int]] = []
        self._trades: list[MarketTrade] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.journaled = 0

    @property
    def channels(self) -> list[bytes]:
        return [channel for channel in (self._orders, self._market_data) if channel]

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        """Start the reader thread; market data is delivered on `loop`."""
        self._loop = loop
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
        except REDIS_DOWN as exc:
            log.warning("%d pub/sub orders could not be journaled at shutdown: %s",
                        len(self._pending), exc)

    def _read(self) -> None:
        pubsub: PubSub = self._client.pubsub(ignore_subscribe_messages=True)  # type: ignore[no-untyped-call]
        try:
            pubsub.subscribe(*self.channels)
            self._flush_all()  # what was read before a reconnect
            self._health.subscribed = True
            log.info("subscribed to %s", ", ".join(c.decode() for c in self.channels))
            while not self._stop.is_set():
                message = pubsub.get_message(timeout=_POLL_S)
                while message is not None:
                    self._handle(message["channel"], message["data"])
                    if len(self._pending) >= JOURNAL_CHUNK:
                        self._flush_all()
                    message = pubsub.get_message(timeout=0)
                self._flush_all()
                self._hand_over_trades()
        finally:
            self._health.subscribed = False
            pubsub.close()

    def _handle(self, channel: bytes, data: bytes) -> None:
        if channel == self._orders:
            self._pending.append((data, time.time_ns() // 1_000_000))
        elif channel == self._market_data:
            trade = parse_trade(data)
            if trade is not None:
                self._trades.append(trade)

    def _flush_all(self) -> None:
        while self._pending:
            batch = self._pending[:JOURNAL_CHUNK]
            pipe = self._client.pipeline(transaction=False)
            for data, received_ms in batch:
                pipe.xadd(self._journal, {"data": data, "received_ms": received_ms})
            pipe.execute()
            del self._pending[:len(batch)]
            self.journaled += len(batch)

    def _hand_over_trades(self) -> None:
        if self._trades and self._loop is not None:
            trades, self._trades = self._trades, []
            self._loop.call_soon_threadsafe(self._on_trades, trades)
