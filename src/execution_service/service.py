"""The composition root: builds every part from the settings and runs them in one event loop.

    start:    HTTP and the Redis watch first (so /health answers at once), then the
              database (migrate, open the account, load the kill switch), then the
              pipeline and the intakes (the pub/sub reader in a thread of its own).
    SIGTERM:  stop the intakes, journal what pub/sub already delivered, let the pipeline
              finish the batches in hand (commit, publish, acknowledge), stop HTTP,
              close the connections. Bounded by `SHUTDOWN_BUDGET_S`.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import gc
import logging
import os
import random
import resource
import signal
import time
from collections.abc import Coroutine, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import uvicorn
from prometheus_client import CollectorRegistry
from redis.backoff import ExponentialWithJitterBackoff

from execution_service import recorded
from execution_service.api.app import create_app
from execution_service.api.binance import BinanceStreams
from execution_service.api.context import ApiContext
from execution_service.api.server import Contained, bounded_protocol
from execution_service.bus import connection
from execution_service.bus.control import ControlWatcher, stream_end
from execution_service.bus.envelope import Envelope, Outcome
from execution_service.bus.health import Health
from execution_service.bus.lease import MatcherLease
from execution_service.bus.publisher import ResultPublisher
from execution_service.bus.pubsub import PubSubIntake
from execution_service.bus.streams import HEARTBEAT, INTAKE, IntakeStream, StreamIntake
from execution_service.clock import Clock, SystemClock
from execution_service.config import Settings
from execution_service.domain.commands import SetKillSwitch
from execution_service.domain.orders import Source
from execution_service.engine.book import SyntheticBooks
from execution_service.engine.exchange import ExchangeRules, FillMode, PaperExchange
from execution_service.engine.filters import ExchangeFilters, load_exchange_info
from execution_service.engine.latency import LatencyModel
from execution_service.engine.models import BookShape, FeeSchedule
from execution_service.engine.prices import REFERENCE_PRICES, MarketPrices
from execution_service.engine.queue import QueueModel
from execution_service.errors import DatabaseUnavailable
from execution_service.maintenance import IntakeStatus, Maintenance
from execution_service.metrics import Metrics
from execution_service.pipeline.batch import CONTROL_CURSOR_KEY, KILL_SWITCH_KEY, BatchPlanner, KillSwitch
from execution_service.pipeline.loop import Pipeline
from execution_service.pipeline.work import UnitOfWork
from execution_service.recorded import History
from execution_service.store.database import Database
from execution_service.store.repository import Store
from execution_service.store.writer import BatchWriter

log = logging.getLogger(__name__)

SHUTDOWN_BUDGET_S = 8.0
# A shutdown still running this long after the signal is stuck: the process exits anyway,
# logging what it was waiting for, so that SIGTERM always ends it within 10 s (SPEC 6.6).
SHUTDOWN_DEADLINE_S = 9.5


class _EmbeddedServer(uvicorn.Server):
    """uvicorn inside the service's loop; the service, not uvicorn, owns SIGTERM and SIGINT."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


class ExecutionService:
    """Every part of the service, wired together; `run()` until a signal arrives."""

    def __init__(self, settings: Settings, clock: Clock | None = None) -> None:
        self.settings = settings
        self.clock = clock or SystemClock()  # the one every part reads time from
        self.health = Health(intakes={"stream", "pubsub"}, clock=self.clock)
        self.metrics = Metrics(CollectorRegistry())
        self.database = Database(settings.database(), schema=settings.database_schema)
        password = settings.redis_password.get_secret_value() if settings.redis_password else None
        self.redis = connection.connect(settings.redis_connection_url(), password)
        self.redis_sync = connection.connect_sync(settings.redis_connection_url(), password)
        self.writer = BatchWriter(self.database, instance=settings.consumer_name,
                                  upstream_tables=settings.upstream_tables,
                                  upstream_schema=settings.upstream_schema)
        self.store = Store(self.database, self.writer)
        self._rng = random.Random(settings.random_seed)
        history = recorded.load(settings.history_files, _ms(self.clock.now()),
                                settings.history_shift) if settings.history_files else History()
        self.prices = MarketPrices(
            {**REFERENCE_PRICES, **history.last_prices, **settings.reference_prices}, self._rng,
            settings.price_volatility_bps, settings.live_price_max_age_s)
        self.exchange = build_exchange(settings, self.prices, self._rng)
        self.lease = MatcherLease(
            self.redis, f"{settings.consumer_group}:matcher", settings.consumer_name,
            settings.matcher_lease_ms / 1000) if settings.matcher_lease_ms else None
        self.publisher = ResultPublisher(
            self.redis, results_channel=settings.results_channel,
            fills_stream=settings.fills_stream, fills_maxlen=settings.fills_stream_maxlen,
            group=settings.consumer_group, journal_stream=settings.journal_stream)
        self.pubsub = PubSubIntake(
            self.redis_sync, self.health, orders_channel=settings.orders_channel,
            market_data_channel=settings.market_data_channel,
            market_depth_channel=settings.market_depth_channel,
            journal_stream=settings.journal_stream, clock=self.clock)
        self.binance_streams = BinanceStreams(
            max_listeners=settings.ws_max_connections,
            per_address=settings.ws_connections_per_address)
        self.pipeline = Pipeline(
            BatchPlanner(self.exchange, settings.equity_quote_asset), self.writer,
            self.publisher, self.health, self.metrics,
            batch_max=settings.batch_max_orders, max_message_bytes=settings.max_message_bytes,
            max_deliveries=settings.max_deliveries,
            tape_max=settings.tape_buffer, equity_interval_s=settings.equity_interval_s,
            synthetic_tape_s=settings.synthetic_tape_ms / 1000,
            synthetic_notional=settings.synthetic_trade_notional,
            slow_batch_s=settings.slow_batch_ms / 1000, lease=self.lease, clock=self.clock,
            max_viewers=settings.events_max_viewers,
            tape_sync=functools.partial(self.pubsub.sync, self.redis), tape_history=history.tape,
            watchers=[self.binance_streams])
        self.streams = StreamIntake(
            self.redis, self._intake_streams(), settings.consumer_group, settings.consumer_name,
            self.pipeline.deliver, self.health, batch_max=settings.batch_max_orders,
            claim_idle_ms=settings.claim_idle_ms, clock=self.clock)
        self.intake_status = IntakeStatus(
            self.redis, [stream.name for stream in self._intake_streams()],
            settings.consumer_group)
        self.app = create_app(ApiContext(
            gateway=self.pipeline, exchange=self.pipeline, monitor=self.pipeline, reads=self.store,
            health=self.health, metrics=self.metrics,
            intake_probe=self.intake_status, api_token=settings.token(),
            max_body_bytes=settings.max_message_bytes, api_keys=settings.api_keys(),
            fees=self.exchange.rules.fees, weight_limit=settings.http_weight_limit,
            clock=self.clock, streams=self.binance_streams))
        self._control_watcher: ControlWatcher | None = None
        self._stop = asyncio.Event()
        self.maintenance = Maintenance(
            database=self.database, store=self.store, writer=self.writer, health=self.health,
            metrics=self.metrics, stats=self.pipeline.stats, intake_status=self.intake_status,
            retention_hours=settings.outbox_retention_hours, stop=self._stop, clock=self.clock)
        self._exit_on_overrun = False
        self.failed: list[str] = []  # the essential parts that ended before a stop
        self._wire_gauges()

    def _intake_streams(self) -> list[IntakeStream]:
        streams = [IntakeStream(self.settings.journal_stream, Source.PUBSUB, "0")]
        if self.settings.orders_stream:
            streams.insert(0, IntakeStream(self.settings.orders_stream, Source.STREAM, "$"))
        return streams

    def _wire_gauges(self) -> None:
        self.metrics.redis_connected.set_function(lambda: float(self.health.redis_connected))
        self.metrics.db_connected.set_function(lambda: float(self.health.db_connected))
        self.metrics.event_viewers.set_function(lambda: float(self.pipeline.live.subscribers))
        self.metrics.stream_listeners.set_function(
            lambda: float(self.binance_streams.hub.listeners))

    def stop(self) -> None:
        """Begin the graceful shutdown (what SIGTERM and SIGINT do)."""
        if not self._stop.is_set():
            log.info("stop requested; finishing the work in hand")
            self._stop.set()
            if self._exit_on_overrun:
                asyncio.get_running_loop().call_later(
                    SHUTDOWN_DEADLINE_S, lambda: _exit_stuck(1 if self.failed else 0))

    async def _essential(self, name: str, part: Coroutine[Any, Any, None]) -> None:
        """Run a part the service cannot work without. If it ends before a stop was asked
        for (a bug), the whole service stops and `failed` names the part, so that the
        process exits non-zero and its supervisor restarts it, rather than running half
        alive (answering /health while no order executes)."""
        try:
            await part
        except Exception:
            log.critical("%s failed; stopping the service (it exits 1 to be restarted)", name,
                         exc_info=True)
        else:
            if self._stop.is_set():
                return
            log.critical("%s ended unexpectedly; stopping the service (it exits 1 to be "
                         "restarted)", name)
        self.failed.append(name)
        self.stop()

    async def run(self, *, handle_signals: bool = True) -> None:
        """Run until `stop()` (or SIGTERM/SIGINT); return once the work in hand is committed and published."""
        if handle_signals:
            self._exit_on_overrun = True  # this process is the service's own
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.add_signal_handler(sig, self.stop)
        server = _EmbeddedServer(uvicorn.Config(
            Contained(self.app), host=self.settings.http_host, port=self.settings.http_port,
            http=bounded_protocol(head_timeout_s=self.settings.http_head_timeout_s,
                                  max_connections=self.settings.http_max_connections,
                                  refused=lambda reason: self.metrics.http_refused.labels(
                                      reason).inc()),
            backlog=min(4096, self.settings.http_max_connections),
            # Binance's WebSockets (api/binance/sockets.py): a ping every 20 s, answered
            # within a minute; a message from a client at most 64 KiB; no compression
            # (Binance's streams have none, and each socket would compress each event).
            ws="websockets-sansio", ws_ping_interval=20.0, ws_ping_timeout=60.0,
            ws_max_size=65_536, ws_per_message_deflate=False,
            log_config=None, access_log=False, lifespan="off", timeout_graceful_shutdown=2))
        _allow_open_files(self.settings.http_max_connections + 256)
        log.info("starting: database %s, redis %s, http %s:%d", self.database.display_url(),
                 _redacted(self.settings.redis_connection_url()), self.settings.http_host,
                 self.settings.http_port)
        async with asyncio.TaskGroup() as group:
            essential = self._essential
            http = group.create_task(essential("http", server.serve()), name="http")
            watch = group.create_task(essential("redis-watch", connection.watch(
                self.redis, self.health)), name="redis-watch")
            # The monitor stops by itself at the stop request: cancelled in the middle of a
            # database ping, SQLAlchemy and psycopg took up to minutes to let go (found by
            # the benchmark: a SIGTERMed service that never exited).
            monitor = group.create_task(essential("monitor", self.maintenance.run()),
                                        name="monitor")
            intakes: list[asyncio.Task[None]] = []
            prepared = group.create_task(self._prepare(), name="prepare")
            stop = group.create_task(self._stop.wait(), name="stop")
            await asyncio.wait({prepared, stop}, return_when=asyncio.FIRST_COMPLETED)
            if prepared.done() and not self._stop.is_set():
                # Everything built so far lives as long as the process: keep the cyclic
                # collector from scanning it again and again (p99 at 1,000/s: 29-59 ms -> 24-25).
                gc.freeze()
                pipeline = group.create_task(essential("pipeline", self.pipeline.run()),
                                             name="pipeline")
                intakes = [group.create_task(essential(name, coro), name=name)
                           for name, coro in self._intakes()]
                self.pubsub.start(asyncio.get_running_loop(), on_trades=self.pipeline.on_tape)
                await stop
            else:
                prepared.cancel()
                pipeline = None
            await self._shutdown(server, http, pipeline, intakes, watch, monitor)
        await self.redis.aclose()
        self.redis_sync.close()
        await self.database.dispose()
        log.info("stopped: %d orders received, %d filled, %d rejected since start",
                 self.pipeline.stats.orders_received, self.pipeline.stats.orders_filled,
                 self.pipeline.stats.orders_rejected)

    def _intakes(self) -> list[tuple[str, Coroutine[Any, Any, None]]]:
        watcher = self._control_watcher
        assert watcher is not None, "_prepare() builds the control watcher"
        keep = connection.keep_running
        loops = [
            ("stream-intake", keep(INTAKE, self.streams.run, self.health)),
            ("heartbeat", keep(HEARTBEAT, self.streams.heartbeat, self.health)),
            ("control", keep("control stream", watcher.read, self.health)),
        ]
        if self.lease is not None:
            loops.append(("matcher-lease", keep("matcher lease", self.lease.run, self.health)))
        return loops

    async def _prepare(self) -> None:
        """Migrate, open the account and load the kill switch, waiting for the database."""
        backoff = ExponentialWithJitterBackoff(base=0.2, cap=5.0)
        failures = 0
        while True:
            try:
                await self._load_state()
                self.health.db_up()
                self.health.started = True
                return
            except DatabaseUnavailable as exc:
                failures += 1
                self.health.db_down(exc)
                if failures == 1:
                    log.warning("database unavailable at start (%s); retrying", exc)
                await asyncio.sleep(backoff.compute(failures))

    async def _load_state(self) -> None:
        now = self.clock.now()
        if self.settings.auto_migrate:
            await self.database.migrate()
        await self.writer.open_accounts(self.settings.account_names(),
                                        self.settings.initial_balances, now)
        await self.writer.register(now)
        self.exchange.load(*await self.writer.exchange_state())
        control = await self.store.control_state()
        self.pipeline.restore(KillSwitch.from_dict(control.get(KILL_SWITCH_KEY)))
        self._control_watcher = ControlWatcher(
            self.redis, self.settings.control_stream, self._submit_control,
            await self._control_cursor(control, now))
        if self.lease is not None:  # so that a single instance matches from its first batch
            with contextlib.suppress(*connection.REDIS_UNAVAILABLE):
                await self.lease.renew()
        if self.settings.random_seed is not None:
            # Same seed and same stored history: same ids, prices and fills.
            self._rng.seed(f"{self.settings.random_seed}:{await self.store.count_orders()}")
        if self.pipeline.kill_switch.active:
            log.warning("kill switch is engaged (%s); orders will be rejected until "
                        "DELETE /kill-switch", self.pipeline.kill_switch.reason)

    async def _control_cursor(self, control: dict[str, Any], now: datetime) -> str:
        """Where to follow the control stream from; a first start begins at its current end."""
        stored = control.get(CONTROL_CURSOR_KEY)
        if stored and stored.get("last_id"):
            return str(stored["last_id"])
        try:
            cursor = await stream_end(self.redis, self.settings.control_stream)
        except connection.REDIS_UNAVAILABLE:
            return "$"  # Redis is down: nothing can be replayed from it either
        await self.writer.commit(UnitOfWork(at=now, control={CONTROL_CURSOR_KEY: {"last_id": cursor}}))
        return cursor

    async def _submit_control(self, command: SetKillSwitch) -> None:
        envelope = Envelope(source=Source.CONTROL, received_at=self.clock.now(), command=command)
        while (await self.pipeline.submit(envelope)).outcome is not Outcome.OK:
            await asyncio.sleep(1.0)  # not committed: the database is away; keep the entry
            envelope = Envelope(source=Source.CONTROL, received_at=self.clock.now(),
                                command=command)

    async def _shutdown(
        self,
        server: uvicorn.Server,
        http: asyncio.Task[None],
        pipeline: asyncio.Task[None] | None,
        intakes: list[asyncio.Task[None]],
        watch: asyncio.Task[None],
        monitor: asyncio.Task[None],
    ) -> None:
        deadline = self.clock.monotonic() + SHUTDOWN_BUDGET_S
        await _finish(intakes, timeout_s=2.0, cancel=True)
        left = await self.pubsub.stop(timeout_s=1.5)
        if left:
            log.warning("%d pub/sub orders read but not journaled (Redis unreachable)", left)
        if pipeline is not None:
            self.pipeline.close(timeout_s=max(0.5, deadline - self.clock.monotonic() - 2.0))
            try:
                async with asyncio.timeout(max(0.5, deadline - self.clock.monotonic() - 1.0)):
                    await pipeline
            except TimeoutError:
                log.warning("pipeline did not finish in time; unacknowledged entries will be "
                            "redelivered")
        if self.lease is not None:  # another instance matches at once, not when it expires
            with contextlib.suppress(*connection.REDIS_UNAVAILABLE):
                async with asyncio.timeout(0.5):
                    await self.lease.release()
        await self.binance_streams.close()  # (an open socket would hold uvicorn's shutdown)
        server.should_exit = True
        await _finish([watch], timeout_s=1.0, cancel=True)
        # The monitor ends by itself (the stop is set), HTTP once uvicorn has closed.
        await _finish([monitor, http], timeout_s=max(0.5, deadline - self.clock.monotonic()))


async def _finish(tasks: list[asyncio.Task[None]], timeout_s: float, *, cancel: bool = False) -> None:
    """Wait for `tasks` to end, but never longer than `timeout_s`; name those that did not.

    With `cancel`, they are cancelled, and cancelled again every 0.2 s while they run:
    redis-py has lost a cancellation that arrived in the middle of a blocking command
    (redis/redis-py#2028), which once left the three Redis loops running after a stop.
    """
    if not tasks:
        return
    deadline = time.monotonic() + timeout_s
    pending = set(tasks)
    while pending and (left := deadline - time.monotonic()) > 0:
        if cancel:
            for task in pending:
                task.cancel()
        _done, pending = await asyncio.wait(pending, timeout=min(left, 0.2) if cancel else left)
    for task in pending:
        log.warning("%s did not finish within %.1f s of the stop; waiting at %s", task.get_name(),
                    timeout_s, _waits_at(task))


def build_exchange(settings: Settings, prices: MarketPrices, rng: random.Random) -> PaperExchange:
    """The paper exchange with the models and parameters the settings choose."""
    shape = BookShape(spread_bps=settings.slippage_spread_bps,
                      impact_bps=settings.slippage_impact_bps,
                      impact_notional=settings.slippage_impact_notional,
                      level_bps=settings.book_level_bps, levels=settings.book_levels)
    loaded = load_exchange_info(settings.exchange_info_file) if settings.exchange_info_file else {}
    rules = ExchangeRules(
        fees=FeeSchedule(taker=settings.taker_fee, maker=settings.maker_fee),
        fill_mode=FillMode(settings.fill_mode), queue=QueueModel.parse(settings.queue_model),
        latency=LatencyModel(settings.latency_ack_ms, settings.latency_fill_ms,
                             settings.latency_jitter_ms),
        round_quantity_down=settings.quantity_rounding == "down",
        success_rate=settings.mock_success_rate,
        binance_success_rate=settings.binance_success_rate)
    return PaperExchange(prices, SyntheticBooks(shape), ExchangeFilters(loaded), rules, rng,
                         settings.account_names())


def _ms(at: datetime) -> int:
    return int(at.timestamp() * 1000)


def _exit_stuck(code: int) -> None:
    """End a process whose shutdown overran, saying where each unfinished task waits."""
    stuck = [task for task in asyncio.all_tasks() if not task.done()]
    log.error("shutdown still running %.1f s after the signal; exiting anyway. Waiting: %s",
              SHUTDOWN_DEADLINE_S, "; ".join(f"{task.get_name()} at {_waits_at(task)}" for task in stuck))
    logging.shutdown()
    os._exit(code)  # committed work is safe; anything unacknowledged is redelivered


def _waits_at(task: asyncio.Task[Any]) -> str:
    frames = task.get_stack()
    return " < ".join(f"{Path(f.f_code.co_filename).name}:{f.f_lineno} {f.f_code.co_name}"
                      for f in reversed(frames[-3:])) or "?"


def _allow_open_files(wanted: int) -> None:
    """Raise this process's limit of open files towards `wanted` (connections are files;
    a container's soft limit is often 1,024), as far as the hard limit allows."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft != resource.RLIM_INFINITY and soft < target:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            log.info("raised the open-file limit from %d to %d", soft, target)


def _redacted(url: str) -> str:
    scheme, sep, rest = url.partition("://")
    if "@" in rest:
        rest = "***@" + rest.split("@", 1)[1]
    return scheme + sep + rest
