"""The pub/sub intake: orders and market data, read continuously and never the slow one.

Redis drops a subscriber that falls behind (client-output-buffer-limit), and a pub/sub
message exists nowhere once read. So the reader only hands messages off: orders go into
the service's own journal stream (XADD, one pipelined round trip per batch) and are
executed from there like any stream entry, acknowledged after commit; a SIGKILL after
reading loses nothing that reached the journal. Market data updates the prices in place.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

from redis.asyncio import Redis
from redis.asyncio.client import PubSub

from execution_service.bus.health import Health

log = logging.getLogger(__name__)

OnMarketData = Callable[[bytes], None]


class PubSubIntake:
    """Subscribes to the orders and market-data channels; journals orders."""

    def __init__(
        self,
        redis: Redis,
        health: Health,
        *,
        orders_channel: str,
        market_data_channel: str,
        journal_stream: str,
        on_market_data: OnMarketData,
    ) -> None:
        self._redis = redis
        self._health = health
        self._orders = orders_channel.encode()
        self._market_data = market_data_channel.encode()
        self._journal = journal_stream
        self._on_market_data = on_market_data
        self._pending: list[tuple[bytes, int]] = []
        self._arrived = asyncio.Event()

    @property
    def channels(self) -> list[bytes]:
        return [channel for channel in (self._orders, self._market_data) if channel]

    async def read(self) -> None:
        """Subscribe, then read messages for ever (one pass of a `keep_running` loop)."""
        pubsub: PubSub = self._redis.pubsub(ignore_subscribe_messages=True)
        try:
            await pubsub.subscribe(*self.channels)
            self._health.subscribed = True
            log.info("subscribed to %s", ", ".join(c.decode() for c in self.channels))
            while True:
                message = await pubsub.get_message(timeout=None)
                if message is not None:
                    self._handle(message["channel"], message["data"])
        finally:
            self._health.subscribed = False
            await pubsub.aclose()  # type: ignore[no-untyped-call]

    def _handle(self, channel: bytes, data: bytes) -> None:
        if channel == self._orders:
            self._pending.append((data, time.time_ns() // 1_000_000))
            self._arrived.set()
        elif channel == self._market_data:
            self._on_market_data(data)

    async def journal(self) -> None:
        """Move read orders into the journal stream; messages stay in hand until Redis takes them."""
        while True:
            await self._arrived.wait()
            self._arrived.clear()
            while self._pending:
                await self._flush()

    async def _flush(self) -> None:
        batch = self._pending[:1000]
        pipe = self._redis.pipeline(transaction=False)
        for data, received_ms in batch:
            pipe.xadd(self._journal, {"data": data, "received_ms": received_ms})
        await pipe.execute()
        del self._pending[:len(batch)]

    async def flush_pending(self) -> int:
        """Journal what is still in hand (at shutdown); returns how many were left behind."""
        while self._pending:
            await self._flush()
        return len(self._pending)
