"""The outbox relay: committed results out to Redis, in commit order, at least once.

A batch's results are in its transaction's outbox rows. After the commit the relay
publishes them (and acknowledges the batch's intake entries) while the commit loop plans
and commits the next batch: one batch in flight at a time, so results leave in the order
they were committed. What was published is marked sent by the next commit (no extra round
trip), or on its own when no batch comes. Results that could not be published (Redis
away) stay unsent in the outbox and are swept out, oldest first, once Redis is back; a
crash between publishing and marking publishes them once more, never zero times.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from datetime import datetime

from execution_service.bus.connection import REDIS_DOWN
from execution_service.bus.envelope import EntryRef
from execution_service.bus.health import Health
from execution_service.bus.publisher import Publisher
from execution_service.clock import Clock
from execution_service.errors import DatabaseUnavailable
from execution_service.metrics import Metrics
from execution_service.store.writer import PipelineStore
from execution_service.work import OutboxMessage

log = logging.getLogger(__name__)

_SWEEP_CHUNK = 1000


class OutboxRelay:
    def __init__(self, publisher: Publisher, store: PipelineStore, health: Health,
                 metrics: Metrics, clock: Clock) -> None:
        self._publisher = publisher
        self._store = store
        self._health = health
        self._metrics = metrics
        self._clock = clock
        self._in_flight: asyncio.Task[None] | None = None
        self._published: list[str] = []  # event ids published, not yet marked sent
        self._unsent = True  # a previous run may have left results unsent

    # The commit loop marks what was published with its next commit:

    def published(self) -> list[str]:
        return self._published[:]

    def marked(self, count: int) -> None:
        """The first `count` of `published()` are marked sent (committed)."""
        del self._published[:count]

    # Sending

    async def send(self, outbox: Sequence[OutboxMessage], acks: Sequence[EntryRef],
                   answered: Sequence[datetime] = ()) -> None:
        """Publish a committed batch's results in the background, after the previous one;
        `answered` are the intake times of its orders, for the latency histogram."""
        await self.settle()
        self._in_flight = asyncio.create_task(self._publish(outbox, acks, answered),
                                              name="publish")

    async def settle(self) -> None:
        """Wait for the batch in flight."""
        if self._in_flight is not None:
            task, self._in_flight = self._in_flight, None
            await task

    async def idle(self) -> None:
        """No batch is coming: finish the one in flight and mark what was published."""
        await self.settle()
        if not self._published:
            return
        marking = self._published[:]
        try:
            await self._store.mark_sent(marking, self._clock.now())
        except DatabaseUnavailable:
            return  # they stay listed; at worst a crash meanwhile publishes them once more
        self.marked(len(marking))

    async def sweep(self) -> None:
        """Publish the results committed while Redis was away, if there may be any."""
        if not self._unsent or not self._health.redis_connected:
            return
        await self.idle()  # so that what was published is not swept again
        swept = 0
        try:
            while unsent := await self._store.unsent(_SWEEP_CHUNK):
                await self._publisher.publish(unsent, [])
                await self._store.mark_sent([message.event_id for message in unsent],
                                            self._clock.now())
                swept += len(unsent)
        except REDIS_DOWN as exc:
            self._health.redis_down(exc)
            return
        except DatabaseUnavailable:
            return
        self._unsent = False
        if swept:
            log.info("published %d results from the outbox", swept)

    async def _publish(self, outbox: Sequence[OutboxMessage], acks: Sequence[EntryRef],
                       answered: Sequence[datetime]) -> None:
        if not self._health.redis_connected and not acks:
            self._unsent = self._unsent or bool(outbox)
            return
        try:
            await self._publisher.publish(outbox, acks)
        except REDIS_DOWN as exc:
            self._health.redis_down(exc)
            self._unsent = True
            return
        published = self._clock.now()
        for received_at in answered:
            self._metrics.order_latency.observe((published - received_at).total_seconds())
        self._published.extend(message.event_id for message in outbox)
