"""What the routes need from the service, handed to `create_app` (no globals).

The API sees the rest of the service through four narrow interfaces, each a Protocol:
orders go in through an `OrderGateway`, the exchange's live state is read from an
`ExchangeView`, the pipeline's own state from a `PipelineMonitor` (the running service's
`Pipeline` is all three), and what is stored from a `ReadModel` (store/base.py: the
database's `Store`, or `MemoryReadModel` over the in-memory store in tests).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Protocol

from execution_service.bus.envelope import Envelope, Reply
from execution_service.bus.health import Health
from execution_service.bus.lease import Lease
from execution_service.clock import Clock, SystemClock
from execution_service.config import ApiKey
from execution_service.domain.orders import DEFAULT_ACCOUNT
from execution_service.engine.book import Level
from execution_service.engine.filters import SymbolFilters
from execution_service.engine.models import FeeSchedule
from execution_service.engine.tape import TapeHistory
from execution_service.metrics import Metrics
from execution_service.pipeline.batch import KillSwitch
from execution_service.pipeline.live import LiveFeed
from execution_service.pipeline.loop import Stats
from execution_service.pipeline.timing import BatchTimer
from execution_service.store.base import ReadModel

if TYPE_CHECKING:
    from execution_service.api.binance.sockets import BinanceStreams

IntakeProbe = Callable[[], Awaitable[dict[str, Any]]]


class OrderGateway(Protocol):
    """Where orders, cancels and kill-switch changes go: answered once committed."""

    async def submit(self, envelope: Envelope, timeout_s: float = 10.0) -> Reply: ...


class ExchangeView(Protocol):
    """The paper exchange's state now: prices, books, accounts, the tape it has seen."""

    @property
    def kill_switch(self) -> KillSwitch: ...
    @property
    def equity_quote(self) -> str: ...
    @property
    def tape_history(self) -> TapeHistory: ...
    def last_price(self, symbol: str) -> Decimal | None: ...
    def valuation(self, account: str = DEFAULT_ACCOUNT
                  ) -> tuple[Decimal, list[str], dict[str, Any]] | None: ...
    def accounts(self) -> list[str]: ...
    def markets(self) -> Mapping[str, SymbolFilters]: ...
    def book(self, symbol: str, count: int) -> tuple[list[Level], list[Level]] | None: ...
    def watch(self, symbol: str) -> None:
        """A client asked about `symbol`'s market (it gets a tape without a feed)."""


class PipelineMonitor(Protocol):
    """How the pipeline is doing, and its live feed of committed changes."""

    @property
    def stats(self) -> Stats: ...
    @property
    def timer(self) -> BatchTimer: ...
    @property
    def lease(self) -> Lease | None: ...
    @property
    def live(self) -> LiveFeed: ...


@dataclass(frozen=True, slots=True)
class ApiContext:
    gateway: OrderGateway
    exchange: ExchangeView
    monitor: PipelineMonitor
    reads: ReadModel
    health: Health
    metrics: Metrics
    intake_probe: IntakeProbe
    api_token: str | None
    max_body_bytes: int
    fees: FeeSchedule
    streams: BinanceStreams  # Binance's WebSocket streams (api/binance/sockets.py)
    api_keys: Mapping[str, ApiKey] = field(default_factory=dict)  # the Binance API's, by key
    weight_limit: int = 6000  # request weight per client address per minute (api/weights.py)
    clock: Clock = field(default_factory=SystemClock)  # the service's one clock
