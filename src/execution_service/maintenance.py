"""What runs beside the pipeline to keep the service watched and its tables bounded.

- `IntakeStatus`: per intake stream, what the consumer group has not delivered yet (lag)
  and what it delivered but nobody acknowledged (pending); on /status and in a gauge.
- `Maintenance.run`: every `MONITOR_INTERVAL_S` the gauges that need a query, a database
  noticed when it comes back, a summary line every `SUMMARY_INTERVAL_S` when anything
  happened, and every `PRUNE_INTERVAL_S` the published results older than the retention
  leave the outbox. It ends by itself at the stop (cancelled in the middle of a database
  ping, SQLAlchemy and psycopg took up to minutes to let go: found by the benchmark).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import replace
from datetime import timedelta
from typing import Any

from redis.asyncio import Redis

from execution_service.bus import connection
from execution_service.bus.health import Health
from execution_service.clock import Clock
from execution_service.errors import DatabaseUnavailable
from execution_service.metrics import Metrics
from execution_service.pipeline.loop import Stats
from execution_service.store.database import Database
from execution_service.store.repository import Store
from execution_service.store.writer import BatchWriter

log = logging.getLogger(__name__)

MONITOR_INTERVAL_S = 2.0
SUMMARY_INTERVAL_S = 60
PRUNE_INTERVAL_S = 3600
_PRUNE_CHUNK = 10_000  # rows a pruning transaction deletes at most (store/writer.py)


class IntakeStatus:
    """Lag and pending entries of this service's consumer group, per intake stream."""

    def __init__(self, redis: Redis, streams: list[str], group: str) -> None:
        self._redis = redis
        self._streams = streams
        self._group = group

    async def __call__(self) -> dict[str, Any]:
        status: dict[str, Any] = {}
        for stream in self._streams:
            groups = (await self._redis.xinfo_groups(stream)
                      if await self._redis.exists(stream) else [])
            mine = next((g for g in groups if g["name"].decode() == self._group), None)
            status[stream] = ({"pending": mine["pending"], "lag": mine.get("lag")} if mine
                              else {"pending": None, "lag": None})
        return status


class Maintenance:
    """The monitor loop and the outbox's retention (see the module's docstring)."""

    def __init__(self, *, database: Database, store: Store, writer: BatchWriter,
                 health: Health, metrics: Metrics, stats: Stats, intake_status: IntakeStatus,
                 retention_hours: float, stop: asyncio.Event, clock: Clock) -> None:
        self._database = database
        self._store = store
        self._writer = writer
        self._health = health
        self._metrics = metrics
        self._stats = stats
        self._intake_status = intake_status
        self._retention_hours = retention_hours  # 0: results are kept for ever
        self._stop = stop
        self._clock = clock

    async def run(self) -> None:
        """Until the stop; see the module's docstring."""
        summarized = replace(self._stats)
        next_summary = self._clock.monotonic() + SUMMARY_INTERVAL_S
        next_prune = self._clock.monotonic()
        while not await self._stopping_within(MONITOR_INTERVAL_S):
            if self._clock.monotonic() >= next_summary:
                summarized = self._log_summary(summarized)
                next_summary = self._clock.monotonic() + SUMMARY_INTERVAL_S
            if self._retention_hours and self._clock.monotonic() >= next_prune:
                with contextlib.suppress(DatabaseUnavailable):
                    await self.prune_outbox()
                    next_prune = self._clock.monotonic() + PRUNE_INTERVAL_S
            await self._refresh_gauges()

    async def prune_outbox(self) -> None:
        """Published results older than the retention leave the outbox, a chunk at a time
        so that no transaction runs long; then the marks of instances gone as long."""
        older_than = self._clock.now() - timedelta(hours=self._retention_hours)
        pruned = 0
        while (chunk := await self._writer.prune(older_than)) and not self._stop.is_set():
            pruned += chunk
            if chunk < _PRUNE_CHUNK:
                break
            await asyncio.sleep(0)
        if pruned:
            log.info("deleted %d published results older than %g hours from the outbox",
                     pruned, self._retention_hours)
        await self._writer.register(self._clock.now())  # (in case another instance pruned it)
        if forgotten := await self._writer.prune_marks(older_than):
            log.info("deleted the outbox marks of %d instances gone for more than %g hours",
                     forgotten, self._retention_hours)

    async def _refresh_gauges(self) -> None:
        if await self._database.ping():
            self._health.db_up()
            with contextlib.suppress(DatabaseUnavailable):
                self._metrics.outbox_unsent.set(await self._store.count_unsent())
        else:
            self._health.db_down(self._health.db_error or "ping failed")
        if self._health.redis_connected:
            with contextlib.suppress(*connection.REDIS_UNAVAILABLE):
                pending = [s["pending"] or 0 for s in (await self._intake_status()).values()]
                self._metrics.intake_pending.set(sum(pending))

    async def _stopping_within(self, seconds: float) -> bool:
        """Wait up to `seconds`; True as soon as a stop has been requested."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stop.wait(), seconds)
        return self._stop.is_set()

    def _log_summary(self, previous: Stats) -> Stats:
        current = replace(self._stats)
        received = current.orders_received - previous.orders_received
        if received or current.duplicates != previous.duplicates:
            log.info("last %d s: %d orders received, %d filled, %d rejected, %d duplicates, "
                     "%d batches", SUMMARY_INTERVAL_S, received,
                     current.orders_filled - previous.orders_filled,
                     current.orders_rejected - previous.orders_rejected,
                     current.duplicates - previous.duplicates, current.batches - previous.batches)
        return current
