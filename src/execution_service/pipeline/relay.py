"""The outbox relay: committed results out to Redis, in commit order, at least once.

A batch's results are in its transaction's outbox rows. After the commit the relay
publishes them (and acknowledges the batch's intake entries) while the commit loop plans
and commits the next batch: one batch in flight at a time, so results leave in the order
they were committed. How far this instance's outbox is published is one number, its
mark (the outbox is append-only: `store/tables.py`), raised by the next commit (no
extra round trip) or on its own when no batch comes.

Results that could not be published (Redis away) stay above the mark. From then on,
newer results wait behind them: the sweep, once Redis is back, publishes everything
above the marks (every instance's, so that the results of an instance that died are
not stranded), oldest first, and raises the marks; only then does the relay publish
directly again. A crash between publishing and marking publishes results once more,
never zero times.

Redis may answer and still refuse (out of memory, read-only after a failover, a key of
the wrong type): the results wait in the outbox as in an outage, the acknowledgements go
on alone (Redis takes XACK even out of memory), and the sweep tries again with backoff.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from datetime import datetime

from execution_service.bus.connection import (
    REDIS_DOWN,
    REDIS_REFUSED,
    REDIS_UNAVAILABLE,
    Refusals,
)
from execution_service.bus.envelope import EntryRef
from execution_service.bus.health import Health
from execution_service.bus.publisher import Publisher
from execution_service.clock import Clock
from execution_service.errors import DatabaseUnavailable
from execution_service.metrics import Metrics
from execution_service.pipeline.timing import BatchTimer, BatchTiming
from execution_service.pipeline.work import OutboxMessage
from execution_service.store.base import PipelineStore

log = logging.getLogger(__name__)

_SWEEP_CHUNK = 1000
PART = "result publisher"  # as /ready names it when Redis refuses its commands


class OutboxRelay:
    def __init__(self, publisher: Publisher, store: PipelineStore, health: Health,
                 metrics: Metrics, clock: Clock, timer: BatchTimer | None = None) -> None:
        self._publisher = publisher
        self._store = store
        self._health = health
        self._clock = clock
        self._timer = timer or BatchTimer(metrics, clock)
        self._in_flight: asyncio.Task[None] | None = None
        self._published_through = 0  # this instance's outbox, published up to this id
        self._marked_through = 0  # ... and marked so in the database
        self._unsent = True  # a previous run may have left results unsent
        self._unacked: list[EntryRef] = []  # acknowledgements a refusal held back
        self._refusals = Refusals(PART, health, "the results wait in the outbox")

    # The commit loop raises the mark with its next commit:

    def published(self) -> int | None:
        """How far to mark this instance's outbox published, if further than marked."""
        return self._published_through if self._published_through > self._marked_through else None

    def marked(self, through: int | None) -> None:
        """The mark was raised to `through` (committed)."""
        if through is not None:
            self._marked_through = max(self._marked_through, through)

    # Sending

    async def send(self, outbox: Sequence[OutboxMessage], acks: Sequence[EntryRef],
                   answered: Sequence[datetime] = (), through: int | None = None,
                   timing: BatchTiming | None = None) -> None:
        """Publish a committed batch's results in the background, after the previous one.
        `through` is the id of its last outbox row; `answered` are the intake times of its
        orders, for the latency histogram; `timing` gets the publish phase."""
        await self.settle()
        self._in_flight = asyncio.create_task(
            self._timed_publish(outbox, acks, answered, through, timing), name="publish")

    async def _timed_publish(self, outbox: Sequence[OutboxMessage], acks: Sequence[EntryRef],
                             answered: Sequence[datetime], through: int | None,
                             timing: BatchTiming | None) -> None:
        started = self._clock.monotonic()
        await self._publish(outbox, acks, answered, through)
        if timing is not None:
            timing.publish = self._clock.monotonic() - started
            self._timer.done(timing)

    async def settle(self) -> None:
        """Wait for the batch in flight."""
        if self._in_flight is not None:
            task, self._in_flight = self._in_flight, None
            await task

    async def idle(self) -> None:
        """No batch is coming: finish the one in flight and mark what was published."""
        await self.settle()
        through = self.published()
        if through is None:
            return
        try:
            await self._store.mark_sent({self._store.instance: through}, self._clock.now())
        except DatabaseUnavailable:
            return  # raised by a later commit; at worst a crash meanwhile publishes them again
        self.marked(through)

    async def sweep(self) -> None:
        """Publish the results above the marks, if there may be any and Redis is there."""
        if (not self._unsent or not self._health.redis_connected
                or self._refusals.waiting()):
            return
        await self.idle()  # so that what was published is not swept again
        swept = 0
        try:
            while unsent := await self._store.unsent(_SWEEP_CHUNK):
                await self._publisher.publish([row.message for row in unsent], [])
                marks: dict[str, int] = {}
                for row in unsent:
                    marks[row.instance] = max(marks.get(row.instance, 0), row.outbox_id)
                await self._store.mark_sent(marks, self._clock.now())
                own = marks.get(self._store.instance)
                if own is not None:
                    self._published_through = max(self._published_through, own)
                    self.marked(own)
                swept += len(unsent)
        except REDIS_DOWN as exc:
            self._health.redis_down(exc)
            return
        except REDIS_REFUSED as exc:
            self._refusals.refused(exc)
            return
        except DatabaseUnavailable:
            return
        self._unsent = False
        self._refusals.accepted()
        if swept:
            log.info("published %d results from the outbox", swept)

    async def _publish(self, outbox: Sequence[OutboxMessage], acks: Sequence[EntryRef],
                       answered: Sequence[datetime], through: int | None) -> None:
        if self._unacked:
            acks, self._unacked = [*self._unacked, *acks], []
        if self._unsent:  # older results wait for the sweep: these go out after them
            outbox = ()
        if not self._health.redis_connected and not acks:
            self._unsent = self._unsent or bool(outbox)
            return
        if not outbox and not acks:
            return
        try:
            await self._publisher.publish(outbox, acks)
        except REDIS_DOWN as exc:
            self._health.redis_down(exc)
            self._unsent = True
            return
        except REDIS_REFUSED as exc:
            self._refusals.refused(exc)
            self._unsent = self._unsent or bool(outbox)
            await self._acknowledge(acks)
            return
        if not outbox:
            return
        self._refusals.accepted()
        published = self._clock.now()
        for received_at in answered:
            self._timer.latency((published - received_at).total_seconds())
        if through is not None:
            self._published_through = through

    async def _acknowledge(self, acks: Sequence[EntryRef]) -> None:
        """Acknowledge alone what a refused publish left unacknowledged (its results wait in
        the outbox); if Redis refuses that too, with the next batch."""
        if not acks:
            return
        try:
            await self._publisher.publish((), acks)
        except REDIS_UNAVAILABLE:
            self._unacked = list(acks)
