"""The inbox: what waits for the commit loop, handed out one batch at a time.

Three kinds of arrivals, each with its own rule:

- Intake deliveries (`deliver`): bounded by the commands they hold; a full inbox makes
  `deliver` wait, so the intakes stop reading (backpressure).
- Market-data trades (`on_tape`): never block the reader; when the loop is far behind the
  oldest are dropped (a trade not seen fills nothing, it is never invented).
- The service's own timer commands (`on_timer`): few, never dropped, first in a batch.

A batch is whatever has arrived, up to `batch_max` commands, with the trades that came
meanwhile merged in by arrival time, so that a trade counts for the orders after it.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime

from execution_service.bus.envelope import Envelope
from execution_service.clock import Clock
from execution_service.domain.commands import TapeEvent
from execution_service.domain.orders import Source

_LOOP_READ = frozenset({Source.STREAM, Source.REST})  # intakes the event loop reads itself

# Waits until the market-data reader has handed off every trade published so far
# (bus/pubsub.py); returns the moment on the reader's clock, or None.
TapeSync = Callable[[], Awaitable[datetime | None]]


class Inbox:
    def __init__(self, *, batch_max: int, capacity: int, tape_max: int, clock: Clock,
                 on_dropped: Callable[[int], None] = lambda count: None,
                 tape_sync: TapeSync | None = None) -> None:
        self._batch_max = batch_max
        self._capacity = capacity
        self._clock = clock
        self._on_dropped = on_dropped
        self._deliveries: deque[list[Envelope]] = deque()
        self._queued = 0  # commands in `_deliveries`
        self._room = asyncio.Event()
        self._tape: deque[Envelope] = deque(maxlen=tape_max)  # oldest dropped when full
        self._timers: list[Envelope] = []
        self._arrived = asyncio.Event()
        self._tape_sync = tape_sync  # waits until the tape read before now is handed over

    def __bool__(self) -> bool:
        return bool(self._deliveries or self._tape or self._timers)

    async def deliver(self, envelopes: list[Envelope]) -> None:
        """Queue a delivery from an intake; waits while the inbox is full."""
        while self._queued >= self._capacity:
            self._room.clear()
            await self._room.wait()
        self._deliveries.append(envelopes)
        self._queued += len(envelopes)
        self._arrived.set()

    def on_tape(self, trades: Sequence[TapeEvent], read_at: Sequence[datetime] = ()) -> None:
        """Trades and book updates from the market-data channels, with when each was read
        (now, if not given)."""
        times = read_at or [self._clock.now()] * len(trades)
        dropped = max(0, len(self._tape) + len(trades) - (self._tape.maxlen or 0))
        self._tape.extend(Envelope(source=Source.MARKET, received_at=at, command=trade)
                          for trade, at in zip(trades, times, strict=True))
        if dropped:
            self._on_dropped(dropped)
        self._arrived.set()

    def on_timer(self, envelopes: Sequence[Envelope]) -> None:
        self._timers.extend(envelopes)
        if envelopes:
            self._arrived.set()

    def wake(self) -> None:
        """End a `wait` early (shutdown, or a test that moved the clock)."""
        self._arrived.set()

    async def wait(self, timeout_s: float) -> None:
        """Until something arrives, `wake()` is called or `timeout_s` has passed."""
        self._arrived.clear()
        if self:
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._arrived.wait(), timeout_s)

    async def take(self) -> list[Envelope]:
        """The next batch (empty if nothing is waiting): the timer commands, then the
        deliveries and the tape by arrival time."""
        timers, self._timers = self._timers, []
        batch: list[Envelope] = []
        while self._deliveries and (not batch or len(batch) < self._batch_max):
            delivery = self._deliveries.popleft()
            self._queued -= len(delivery)
            batch.extend(delivery)
        self._room.set()
        await self._sync_tape(batch)
        if self._tape:
            tape = list(self._tape)
            self._tape.clear()
            # On a tie (one microsecond) the trade goes first: it was read first.
            batch = list(heapq.merge(tape, batch, key=lambda envelope: envelope.tape_key))
        return timers + batch

    async def _sync_tape(self, batch: list[Envelope]) -> None:
        """Have every trade published before the batch's orders on the tape, and place the
        orders the event loop read (stream, REST) after them: the reader thread stamps the
        trades on its own clock, and may read a trade after the loop read a later order.
        Pub/sub orders are stamped by that same thread, in the order Redis sent them."""
        if self._tape_sync is None or not any(e.source in _LOOP_READ for e in batch):
            return
        synced = await self._tape_sync()
        if synced is not None:
            for envelope in batch:
                if envelope.source in _LOOP_READ:
                    envelope.tape_at = max(envelope.received_at, synced)
