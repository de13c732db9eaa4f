"""The commit loop: one batch at a time, planned, committed, answered, handed to the relay.

One task runs it, so batches are strictly ordered and the account has one writer. Its
ordering rule, in `_process`: a batch is committed, then its REST callers are answered,
then its results are published and its intake entries acknowledged (by the relay, while
the next batch is planned and committed), then they are marked sent (with that next
commit). Nothing is acknowledged before its batch commits. While the database is away
the batch in hand is retried with backoff and the inbox fills, which stops the intakes
reading; a batch that fails for another reason is run again one command at a time, and a
command that fails on its own is quarantined in `rejected_messages`.

With several instances, the holder of the matcher lease (bus/lease.py) alone matches the
tape. It takes every open order from the database when it becomes the holder, and every
`ADOPT_INTERVAL_S` after, when the orders open there are not the ones it holds (another
instance accepted or closed one), it takes them again between two batches.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, Protocol

from redis.backoff import ExponentialWithJitterBackoff

from execution_service.bus.envelope import Envelope, Outcome, Reply
from execution_service.bus.health import Health
from execution_service.bus.lease import Lease
from execution_service.bus.publisher import Publisher
from execution_service.clock import Clock, SystemClock
from execution_service.domain.commands import (
    Command,
    MarketTrade,
    SetKillSwitch,
    SnapshotEquity,
    SubmitOrder,
    TapeEvent,
    Tick,
)
from execution_service.domain.orders import DEFAULT_ACCOUNT
from execution_service.engine.book import Level
from execution_service.engine.exchange import Effects
from execution_service.engine.filters import SymbolFilters
from execution_service.engine.tape import TapeHistory, TapeTrade
from execution_service.errors import DatabaseUnavailable, InvalidMessage, WriteConflict
from execution_service.logs import OncePerCause
from execution_service.metrics import Metrics
from execution_service.pipeline.batch import (
    BatchPlanner,
    Decoded,
    KillSwitch,
    Plan,
    RecentKeys,
    decode,
    invalid_keys,
    lookup_keys,
)
from execution_service.pipeline.inbox import Inbox, TapeSync
from execution_service.pipeline.live import LiveFeed, events_of
from execution_service.pipeline.relay import OutboxRelay
from execution_service.pipeline.timers import Timers
from execution_service.pipeline.timing import BatchTimer, BatchTiming
from execution_service.pipeline.work import KeptInvalid, RejectedMessage, UnitOfWork
from execution_service.store.base import PipelineStore

log = logging.getLogger(__name__)
_unexpected = OncePerCause(log)

ADOPT_INTERVAL_S = 0.5
# A batch that lost this many write conflicts in a row runs with the balances and
# positions locked against the other instances (store/writer.py): two instances writing
# one account at 70 batches a second each kept one batch losing for minutes (the soak).
EXCLUSIVE_AFTER_CONFLICTS = 3


class CommitWatcher(Protocol):
    """Told of each committed batch, in the pipeline's turn, before the next one runs:
    its effects and the tape's trades it recorded (with their ids), at `at_ms`."""

    def committed(self, effects: Effects, tape: Sequence[tuple[str, TapeTrade]],
                  at_ms: int) -> None: ...


@dataclass(slots=True)
class Stats:
    """The seed's counters since start, shown on /status."""

    start_time: datetime
    orders_received: int = 0
    orders_filled: int = 0
    orders_rejected: int = 0
    duplicates: int = 0
    batches: int = 0


class Pipeline:
    """Commands in (`deliver`, `on_tape`, `submit`), committed results out; see the
    package docstring."""

    def __init__(
        self,
        planner: BatchPlanner,
        store: PipelineStore,
        publisher: Publisher,
        health: Health,
        metrics: Metrics,
        *,
        batch_max: int,
        max_message_bytes: int,
        max_deliveries: int = 5,
        inbox_batches: int = 4,
        tape_max: int = 100_000,
        equity_interval_s: float = 60.0,
        synthetic_tape_s: float = 0.0,
        synthetic_notional: Decimal = Decimal(10_000),
        clock: Clock | None = None,
        slow_batch_s: float = 0.0,
        lease: Lease | None = None,
        max_viewers: int = 1000,
        tape_sync: TapeSync | None = None,
        tape_history: TapeHistory | None = None,
        watchers: Sequence[CommitWatcher] = (),
    ) -> None:
        self._clock = clock or SystemClock()
        self._planner = planner
        self._exchange = planner.exchange
        self._store = store
        self._health = health
        self._metrics = metrics
        self.kill_switch = KillSwitch()  # as the database holds it: `restore`, then each batch's
        self._max_message_bytes = max_message_bytes
        self._max_deliveries = max_deliveries
        self.inbox = Inbox(batch_max=batch_max, capacity=inbox_batches * batch_max,
                           tape_max=tape_max, clock=self._clock,
                           on_dropped=metrics.tape_dropped.inc, tape_sync=tape_sync)
        self.timer = BatchTimer(metrics, self._clock, slow_batch_s)
        self.relay = OutboxRelay(publisher, store, health, metrics, self._clock, self.timer)
        self._timers = Timers(self._exchange, self._clock, equity_interval_s=equity_interval_s,
                              synthetic_tape_s=synthetic_tape_s,
                              synthetic_notional=synthetic_notional)
        self.stats = Stats(start_time=self._clock.now())
        self._closing = False
        self._give_up_at = float("inf")
        self._reload = False  # the exchange's state may be ahead of the database
        self._recent = RecentKeys()  # keys of orders stored lately: only these are looked up
        # The committed batches' market trades (after any recorded history: recorded.py).
        self.tape_history = tape_history or TapeHistory()
        self._watchers = tuple(watchers)  # told of each commit (Binance's streams)
        self.live = LiveFeed(max_viewers=max_viewers, clock=self._clock)  # for the dashboard
        self.lease = lease  # None: this instance always matches the tape
        self._adopt_at = 0.0

    # Feeding it

    async def deliver(self, envelopes: list[Envelope]) -> None:
        """Queue a batch from an intake; waits while the pipeline is behind (backpressure)."""
        await self.inbox.deliver(envelopes)

    def on_tape(self, trades: Sequence[TapeEvent], read_at: Sequence[datetime] = ()) -> None:
        """Trades and book updates from the market-data channels; never blocks (see
        pipeline/inbox.py)."""
        self.inbox.on_tape(trades, read_at)

    def restore(self, kill_switch: KillSwitch) -> None:
        """Take the state the database holds at start."""
        self.kill_switch = kill_switch

    async def submit(self, envelope: Envelope, timeout_s: float = 10.0) -> Reply:
        """Run one envelope through the pipeline and wait for its committed answer."""
        if self._closing:
            return Reply(Outcome.UNAVAILABLE, {"error_message": "the service is shutting down"})
        reply: asyncio.Future[Reply] = asyncio.get_running_loop().create_future()
        envelope.reply = reply
        try:
            async with asyncio.timeout(timeout_s):
                await self.deliver([envelope])
                return await reply
        except TimeoutError:
            return Reply(Outcome.UNAVAILABLE, {
                "error_message": f"not committed within {timeout_s:g} s (database unavailable?);"
                                 " it may still execute: retry with the same client_id"})

    # Reading its state (what the last committed batch left)

    @property
    def equity_quote(self) -> str:
        return self._planner.equity_quote

    def last_price(self, symbol: str) -> Decimal | None:
        return self._exchange.prices.last(symbol)

    def valuation(self, account: str = DEFAULT_ACCOUNT
                  ) -> tuple[Decimal, list[str], dict[str, Any]] | None:
        """An account's worth now (None: no such account)."""
        if self._exchange.accounts.get(account) is None:
            return None
        return self._exchange.valuation(self.equity_quote, account)

    def accounts(self) -> list[str]:
        return self._exchange.accounts.names()

    def markets(self) -> Mapping[str, SymbolFilters]:
        """Every symbol the exchange has filters for."""
        return self._exchange.filters.known()

    def watch(self, symbol: str) -> None:
        """A client asked about `symbol`: it gets the random walk's tape without a feed."""
        self._exchange.watch(symbol)

    def book(self, symbol: str, count: int) -> tuple[list[Level], list[Level]] | None:
        """Bids and asks market orders on `symbol` fill against now (None: never priced)."""
        return self._exchange.book(symbol, count, self._clock.now())

    # Running it

    async def run(self) -> None:
        """Process batches until `close()` and the inbox is empty."""
        while True:
            if self.lease is not None and self._clock.monotonic() >= self._adopt_at:
                await self._adopt()
            if not self._closing:
                commands, trades = self._timers.due()
                self.inbox.on_timer(commands)
                if trades:
                    self.inbox.on_tape(trades)
                await self.inbox.wait(self._timers.next_in())
            started = self._clock.monotonic()
            if batch := await self.inbox.take():
                timing = BatchTiming(len(batch), read=self._clock.monotonic() - started)
                await self._process(batch, timing)
            else:  # idle, or finishing
                await self.relay.idle()
                if self._closing:
                    return
            await self.relay.sweep()

    def close(self, timeout_s: float) -> None:
        """Stop taking REST orders; finish what is queued, giving up on the database after `timeout_s`."""
        self._closing = True
        self._give_up_at = self._clock.monotonic() + timeout_s
        self.live.close()  # (an open event stream would hold the HTTP server's shutdown)
        self.inbox.wake()

    async def _process(self, envelopes: list[Envelope], timing: BatchTiming | None = None) -> None:
        timing = timing or BatchTiming(len(envelopes))
        started = self._clock.monotonic()
        decoded = [(envelope, decode(envelope, self._max_message_bytes, self._max_deliveries))
                   for envelope in envelopes]
        timing.read += self._clock.monotonic() - started
        await self._execute(decoded, timing)

    async def _execute(self, decoded: list[Decoded], timing: BatchTiming, *,
                       last_try: bool = False) -> None:
        try:
            committed = await self._commit(decoded, timing)
        except Exception as exc:  # one command may fail; the pipeline may not
            await self._isolate(decoded, exc, last_try=last_try)
            return
        if committed is None:
            for envelope, _ in decoded:
                envelope.answer(Reply(Outcome.UNAVAILABLE, {"error_message": "database unavailable"}))
            return
        plan, through = committed
        tape = self.tape_history.record([command for _, command in decoded
                                         if isinstance(command, MarketTrade)])
        self.kill_switch = plan.kill_switch
        for envelope, reply in plan.replies:
            envelope.answer(reply)
        self._count(plan)
        if self.live.subscribers:
            self.live.publish(events_of(plan, self._exchange.prices))
        at_ms = int(self._clock.now().timestamp() * 1000)
        for watcher in self._watchers:
            watcher.committed(plan.work.effects, tape, at_ms)
        await self.relay.send(plan.work.outbox, plan.acks, plan.answered, through, timing)

    async def _isolate(self, decoded: list[Decoded], exc: Exception, *, last_try: bool) -> None:
        """Find the command that failed: a batch runs again one command at a time; a command
        that fails on its own is rejected as invalid (kept in rejected_messages, answered
        REJECTED once under its client_id, acknowledged); if even that fails, its raw
        payload is kept."""
        if len(decoded) > 1:
            _unexpected.exception("a batch of %d failed unexpectedly; running it again one "
                                  "command at a time", exc, len(decoded))
            for item in decoded:
                await self._execute([item], BatchTiming(1))
            return
        envelope, command = decoded[0]
        _unexpected.exception("a %s command failed on its own; quarantining it", exc,
                              envelope.source.value)
        if isinstance(command, TapeEvent | Tick | SnapshotEquity):
            return  # the service's own or the market's: nothing to answer, nothing to keep
        if last_try or isinstance(command, SetKillSwitch):
            await self._quarantine(envelope)
            return
        await self._execute([(envelope, _failed(command, exc))], BatchTiming(1), last_try=True)

    async def _commit(self, decoded: list[Decoded], timing: BatchTiming
                      ) -> tuple[Plan, int | None] | None:
        """Plan and commit, retrying while the database is away; the plan and the id of the
        batch's last outbox row, or None if shutdown cut it short. `timing` gets the
        successful attempt's phases."""
        backoff = ExponentialWithJitterBackoff(base=0.1, cap=2.0)
        conflict_backoff = ExponentialWithJitterBackoff(base=0.005, cap=0.2)
        outages = conflicts = 0
        while True:
            try:
                self._match_if_holder()
                started = self._clock.monotonic()
                published = self.relay.published()
                exclusive = conflicts >= EXCLUSIVE_AFTER_CONFLICTS
                async with self._store.session(exclusive) as session:
                    if self._reload:  # (in the session: an exclusive one reads what it writes)
                        self._exchange.load(*await self._store.exchange_state())
                        self._reload = False
                    # After a conflict (perhaps a duplicate this process had not seen): every key.
                    keys = lookup_keys(decoded, None if conflicts else self._recent)
                    stored = await session.find_orders(*keys)
                    invalid_ids, invalid_refs = invalid_keys(decoded)
                    rejected = (await session.find_rejected(invalid_ids, invalid_refs)
                                if invalid_ids or invalid_refs else KeptInvalid())
                    looked_up = self._clock.monotonic()
                    self._reload = True  # until the commit succeeds
                    plan = self._planner.plan(decoded, stored, self.kill_switch,
                                              self._clock.now(), rejected)
                    planned = self._clock.monotonic()
                    through = await session.write(plan.work, published)
                committed = self._clock.monotonic()
                timing.read += looked_up - started
                timing.plan, timing.commit = planned - looked_up, committed - planned
                self._reload = False
                self._recent.add(plan.work.effects.created.values())
                self.relay.marked(published)
                self._metrics.db_commit.observe(committed - started)
                if not self._health.db_connected:
                    log.info("database back; committed the batch held for %d retries", outages)
                self._health.db_up()
                return plan, through
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
                # Routine with several instances on one account (a soak: 15 a second):
                # counted, and logged only when one batch keeps losing.
                conflicts += 1
                self._metrics.write_conflicts.inc()
                if conflicts % 20 == 0:
                    log.info("write conflict (%s); re-reading and running the batch again "
                             "(attempt %d)", exc, conflicts + 1)
                if self._giving_up(decoded):
                    return None
                await asyncio.sleep(conflict_backoff.compute(conflicts))

    def _match_if_holder(self) -> None:
        """Match the tape in this batch if this instance holds the lease; one that has just
        become the holder first takes every open order from the database."""
        matching = self.lease is None or self.lease.held()
        if matching and not self._exchange.matching:
            self._reload = True
        self._exchange.matching = matching

    async def _adopt(self) -> None:
        """The holder takes the orders another instance accepted (or closed) when the
        database's open orders are not the ones it holds, with the balances and positions
        as they are now. Between batches the exchange's state is what was committed, so
        nothing of its own is lost."""
        self._adopt_at = self._clock.monotonic() + ADOPT_INTERVAL_S
        self._match_if_holder()
        if not self._exchange.matching:
            return
        try:
            if self._reload:
                self._exchange.load(*await self._store.exchange_state())
                self._reload = False
                return
            stored = await self._store.open_order_ids()
            held = {order.order_id for order in self._exchange.open_orders()}
            if stored != held:
                balances, positions, accepted = await self._store.exchange_state(stored - held)
                self._exchange.adopt(balances, positions, accepted, held - stored)
        except DatabaseUnavailable:
            return  # the next batch's commit waits for it

    def _giving_up(self, decoded: list[Decoded]) -> bool:
        """Whether shutdown has run out of time for this batch."""
        if self._clock.monotonic() < self._give_up_at:
            return False
        log.warning("shutting down with %d uncommitted commands; they stay unacknowledged "
                    "and will be redelivered", len(decoded))
        return True

    async def _quarantine(self, envelope: Envelope) -> None:
        """Keep the raw payload of a message that fails even as an invalid one in
        rejected_messages, so it cannot block the intake."""
        raw = envelope.raw_bytes()
        now = self._clock.now()
        work = UnitOfWork(at=now, rejected=[RejectedMessage(
            source=envelope.source, intake_ref=envelope.intake_ref, client_id=None,
            payload=raw[:65_536], payload_bytes=len(raw),
            reason="internal error while executing; see the service log", received_at=now)])
        try:
            await self._store.commit(work)
        except WriteConflict:
            pass  # kept already: this entry was quarantined before, and is redelivered
        except Exception as exc:
            _unexpected.exception("could not quarantine a failing message; it stays pending", exc)
            envelope.answer(Reply(Outcome.UNAVAILABLE, {"error_message": "internal error"}))
            return
        envelope.answer(Reply(Outcome.INVALID, {"error_code": "INTERNAL_ERROR",
                                          "error_message": "internal error while executing"}))
        await self.relay.send([], [envelope.entry] if envelope.entry else [])

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


def _failed(command: Command | InvalidMessage, exc: Exception) -> InvalidMessage:
    """The rejection of a command that failed on its own: under its client_id (answered
    once, as any invalid order) when it is an order."""
    reason = f"could not be executed ({type(exc).__name__}); kept in rejected_messages"
    if isinstance(command, SubmitOrder):
        return InvalidMessage(reason, command.client_id, command.fingerprint, {
            "symbol": command.symbol, "side": command.side.value, "quantity": command.quantity})
    if isinstance(command, InvalidMessage):
        return InvalidMessage(f"{command.reason}; {reason}", command.client_id,
                              command.fingerprint, command.fields)
    return InvalidMessage(reason)
