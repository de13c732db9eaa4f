"""The stream intake: `stream.orders` and the pub/sub journal, read through one consumer group.

Entries are delivered to the pipeline in batches of whatever has arrived (up to
`batch_max`) and acknowledged only after their batch commits.

Entries left pending by a consumer that died are claimed (XPENDING + XCLAIM) once idle
for `claim_idle_ms`. An entry's idle time alone cannot tell a dead consumer from a live one
that is behind (its entries wait in its inbox), so each consumer also keeps a liveness key
(`<group>:alive:<consumer>`, expiring after `claim_idle_ms`) fresh, and only consumers
whose key has expired are claimed from.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import ResponseError

from execution_service.bus.envelope import EntryRef, Envelope
from execution_service.bus.health import Health
from execution_service.clock import Clock, SystemClock
from execution_service.domain.orders import Source

log = logging.getLogger(__name__)

Deliver = Callable[[list[Envelope]], Awaitable[None]]

# The loops' names, in the log and on /ready (`connection.keep_running` runs them).
INTAKE = "stream intake"
HEARTBEAT = "consumer heartbeat"


@dataclass(frozen=True, slots=True)
class IntakeStream:
    """A stream this service consumes; `start_id` is where a newly created group begins."""

    name: str
    source: Source
    start_id: str  # "$": only entries added from now on; "0": everything in the stream


class StreamIntake:
    """Reads the intake streams through the consumer group and hands batches to `deliver`."""

    def __init__(
        self,
        redis: Redis,
        streams: list[IntakeStream],
        group: str,
        consumer: str,
        deliver: Deliver,
        health: Health,
        *,
        batch_max: int,
        claim_idle_ms: int,
        block_ms: int = 1000,
        clock: Clock | None = None,
    ) -> None:
        self._clock = clock or SystemClock()
        self._redis = redis
        self._streams = {stream.name: stream for stream in streams}
        self._group = group
        self._consumer = consumer
        self._deliver = deliver
        self._health = health
        self._batch_max = batch_max
        self._claim_idle_ms = claim_idle_ms
        self._block_ms = block_ms
        self._next_claim = 0.0
        self._restarted = False

    def _alive_key(self, consumer: str) -> str:
        return f"{self._group}:alive:{consumer}"

    async def heartbeat(self) -> None:
        """Keep this consumer's liveness key fresh, whatever the read loop is waiting for."""
        while True:
            await self._redis.set(self._alive_key(self._consumer), b"1", px=self._claim_idle_ms)
            self._health.redis_accepted(HEARTBEAT)
            await asyncio.sleep(self._claim_idle_ms / 4000)

    async def run(self) -> None:
        """Create the groups, take back this consumer's pending entries, then read for ever."""
        await self._ensure_groups()
        if self._restarted:
            await self._resend_own_pending()
        else:
            await self._read_own_pending()
            self._restarted = True  # (keep_running runs this again after a Redis failure)
        self._health.streams_ready = True
        while True:
            if self._clock.monotonic() >= self._next_claim:
                await self._claim_stale()
            try:
                reply = await self._redis.xreadgroup(
                    self._group, self._consumer, dict.fromkeys(self._streams, ">"),
                    count=self._batch_max, block=self._block_ms)
            except ResponseError as exc:
                if "NOGROUP" not in str(exc):
                    raise
                log.warning("consumer group vanished (Redis restarted?); creating it again")
                await self._ensure_groups()
                continue
            self._health.redis_accepted(INTAKE)
            if reply:
                await self._deliver(self._envelopes(reply))

    async def _ensure_groups(self) -> None:
        for stream in self._streams.values():
            try:
                await self._redis.xgroup_create(stream.name, self._group, id=stream.start_id,
                                                 mkstream=True)
                log.info("created consumer group %s on %s at %s", self._group, stream.name,
                         stream.start_id)
            except ResponseError as exc:
                if "BUSYGROUP" not in str(exc):
                    raise

    async def _read_own_pending(self) -> None:
        """Entries delivered to this consumer name before the process restarted and never
        acknowledged. Read again through the group, so each counts one more delivery: an
        entry that keeps the process from committing it is quarantined after
        `MAX_DELIVERIES` starts (pipeline/batch.py)."""
        for name in self._streams:
            start = "0"
            while True:
                reply = await self._redis.xreadgroup(self._group, self._consumer, {name: start},
                                                     count=self._batch_max)
                envelopes = self._envelopes(reply)
                if not envelopes:
                    break
                await self._count_deliveries(name, envelopes)
                log.info("redelivering %d pending entries of %s", len(envelopes), name)
                await self._deliver(envelopes)
                start = envelopes[-1].entry_id

    async def _claim_stale(self) -> None:
        """Take over the entries of other consumers (dead ones) idle for `claim_idle_ms`.

        Entries of live consumers, this one included, are never claimed: they are queued
        in that process, and claiming them would only deliver them twice while it is
        behind. Dead consumers with nothing pending are removed from the group.
        """
        self._next_claim = self._clock.monotonic() + self._claim_idle_ms / 2000
        alive: dict[str, bool] = {self._consumer: True}
        for name in self._streams:
            start = "-"
            while True:
                pending: Any = await self._redis.xpending_range(
                    name, self._group, start, "+", self._batch_max, idle=self._claim_idle_ms)
                stale = [entry["message_id"] for entry in pending
                         if not await self._is_alive(_text(entry["consumer"]), alive)]
                if stale:
                    claimed = await self._redis.xclaim(name, self._group, self._consumer,
                                                       self._claim_idle_ms, stale)
                    envelopes = self._entries(name, claimed)
                    delivered = {_text(entry["message_id"]): entry["times_delivered"]
                                 for entry in pending}
                    for envelope in envelopes:  # (XCLAIM counted one more delivery)
                        envelope.deliveries = delivered.get(envelope.entry_id, 0) + 1
                    if envelopes:
                        log.info("reclaimed %d entries of %s from dead consumers", len(envelopes),
                                 name)
                        await self._deliver(envelopes)
                if len(pending) < self._batch_max:
                    break
                start = "(" + _text(pending[-1]["message_id"])
            await self._forget_dead_consumers(name, alive)

    async def _resend_own_pending(self) -> None:
        """After a Redis failure within this process: this consumer's pending entries again
        (a reply lost with the connection would have left some unseen), read without
        counting a delivery (XRANGE): they may be waiting in this process's inbox, and a
        Redis outage is no reason to quarantine them."""
        for name in self._streams:
            start = "-"
            while True:
                pending: Any = await self._redis.xpending_range(
                    name, self._group, start, "+", self._batch_max, consumername=self._consumer)
                if not pending:
                    break
                async with self._redis.pipeline(transaction=False) as pipe:
                    for entry in pending:
                        pipe.xrange(name, entry["message_id"], entry["message_id"])
                    found = [entry for entries in await pipe.execute() for entry in entries]
                envelopes = self._entries(name, found)
                delivered = {_text(e["message_id"]): e["times_delivered"] for e in pending}
                for envelope in envelopes:
                    envelope.deliveries = delivered.get(envelope.entry_id, 1)
                if envelopes:
                    log.info("resending %d pending entries of %s after a reconnection",
                             len(envelopes), name)
                    await self._deliver(envelopes)
                if len(pending) < self._batch_max:
                    break
                start = "(" + _text(pending[-1]["message_id"])

    async def _count_deliveries(self, name: str, envelopes: list[Envelope]) -> None:
        """Set each redelivered entry's delivery count, as Redis keeps it: an entry that
        keeps coming back uncommitted is quarantined unread (batch.decode)."""
        pending: Any = await self._redis.xpending_range(
            name, self._group, envelopes[0].entry_id, envelopes[-1].entry_id, len(envelopes),
            consumername=self._consumer)
        delivered = {_text(entry["message_id"]): entry["times_delivered"] for entry in pending}
        for envelope in envelopes:
            envelope.deliveries = delivered.get(envelope.entry_id, 1)

    async def _is_alive(self, consumer: str, known: dict[str, bool]) -> bool:
        if consumer not in known:
            known[consumer] = bool(await self._redis.exists(self._alive_key(consumer)))
        return known[consumer]

    async def _forget_dead_consumers(self, name: str, alive: dict[str, bool]) -> None:
        consumers: Any = await self._redis.xinfo_consumers(name, self._group)
        for consumer in consumers:
            consumer_name = _text(consumer["name"])
            if consumer["pending"] == 0 and not await self._is_alive(consumer_name, alive):
                await self._redis.xgroup_delconsumer(name, self._group, consumer_name)
                log.info("removed dead consumer %s (nothing pending) from %s", consumer_name,
                         name)

    def _envelopes(self, reply: Any) -> list[Envelope]:
        envelopes: list[Envelope] = []
        for name, entries in reply or []:
            envelopes.extend(self._entries(_text(name), entries))
        return envelopes

    def _entries(self, name: str, entries: Any) -> list[Envelope]:
        source = self._streams[name].source
        now = self._clock.now()
        envelopes = []
        for entry_id, fields in entries:
            if fields is None:  # an entry deleted meanwhile (claims on Redis before 7)
                continue
            envelope = Envelope(source=source, received_at=now, payload=fields,
                                entry=EntryRef(name, _text(entry_id)))
            if source is Source.PUBSUB:
                _unwrap_journal_entry(envelope, fields)
            envelopes.append(envelope)
        return envelopes


def _unwrap_journal_entry(envelope: Envelope, fields: dict[bytes, bytes]) -> None:
    """A journal entry holds the raw pub/sub message and the moment it was read (in
    microseconds; entries journaled by earlier versions, in milliseconds)."""
    envelope.payload = fields.get(b"data", b"")
    for name, per_second in ((b"received_us", 1_000_000), (b"received_ms", 1000)):
        stamp = fields.get(name, b"")
        if stamp.isdigit() and len(stamp) <= 17:  # (bytes: ASCII digits only) up to 5138
            envelope.received_at = datetime.fromtimestamp(int(stamp) / per_second, UTC)
            return


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
