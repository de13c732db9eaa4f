"""The API in-process: the app over the real pipeline and paper exchange, the in-memory
store and its read model, and a clock the test holds; requests go through httpx's ASGI
transport, so a test takes milliseconds and needs no Redis, database or process."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
from prometheus_client import CollectorRegistry
from pydantic import SecretStr

from execution_service.api.app import create_app
from execution_service.api.binance import BinanceStreams
from execution_service.api.context import ApiContext
from execution_service.bus.health import Health
from execution_service.bus.recording import RecordingPublisher
from execution_service.clock import ManualClock
from execution_service.config import ApiKey
from execution_service.domain.commands import MarketTrade
from execution_service.domain.orders import DEFAULT_ACCOUNT
from execution_service.metrics import Metrics
from execution_service.pipeline.batch import BatchPlanner
from execution_service.pipeline.loop import Pipeline
from execution_service.store.memory import MemoryReadModel, MemoryStore
from tests.paper import T0, make_exchange, tape

TOKEN = "in-process-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
KEY, SECRET, ACCOUNT = "keyInProcess01", "secret-in-process", "bot-a"
BALANCES = {"USDT": "100000", "BTC": "2"}


class Api:
    """The app and what it stands on; `http` speaks to it, `signed` as a Binance key does."""

    def __init__(self, **exchange: Any) -> None:
        """`exchange`: the paper exchange's rules (`tests.paper.make_exchange`)."""
        self.clock = ManualClock(T0)
        accounts = (DEFAULT_ACCOUNT, ACCOUNT)
        self.exchange = make_exchange(BALANCES, accounts=accounts, **exchange)
        tape(self.exchange, "90000", quantity=None, when=T0)
        self.store = MemoryStore()
        for account in accounts:
            self.store.open_account({asset: Decimal(amount) for asset, amount in BALANCES.items()},
                                    account)
        self.health = Health(clock=self.clock)
        self.health.redis_up()
        self.health.db_up()
        self.health.started = True
        self.metrics = Metrics(CollectorRegistry())
        self.publisher = RecordingPublisher()
        self.streams = BinanceStreams()
        self.pipeline = Pipeline(BatchPlanner(self.exchange), self.store, self.publisher,
                                 self.health, self.metrics, batch_max=100,
                                 max_message_bytes=65_536, clock=self.clock,
                                 equity_interval_s=3600.0, watchers=[self.streams])
        self.app = create_app(ApiContext(
            gateway=self.pipeline, exchange=self.pipeline, monitor=self.pipeline,
            reads=MemoryReadModel(self.store), health=self.health, metrics=self.metrics,
            intake_probe=_no_intake, api_token=TOKEN, max_body_bytes=65_536,
            fees=self.exchange.rules.fees,
            api_keys={KEY: ApiKey(KEY, SecretStr(SECRET), ACCOUNT)}, clock=self.clock,
            streams=self.streams))
        self.http = httpx.AsyncClient(transport=httpx.ASGITransport(app=self.app),
                                      base_url="http://in-process")

    async def signed(self, method: str, path: str, **params: Any) -> httpx.Response:
        """A SIGNED Binance request of `KEY`, stamped with the service's time: `path` under
        /api/v3, or from the root when it starts with a slash (/sapi/...)."""
        query = urlencode({**params, "timestamp": int(self.clock.now().timestamp() * 1000)})
        signature = hmac.new(SECRET.encode(), query.encode(), hashlib.sha256).hexdigest()
        url = path if path.startswith("/") else f"/api/v3/{path}"
        return await self.http.request(method, f"{url}?{query}&signature={signature}",
                                       headers={"X-MBX-APIKEY": KEY})

    async def trade(self, price: str, quantity: str) -> None:
        """A print on BTCUSDT's tape, now, as the market-data feed hands it over."""
        now_ms = int(self.clock.now().timestamp() * 1000)
        self.pipeline.on_tape([MarketTrade("BTCUSDT", Decimal(price), Decimal(quantity), now_ms)])

    def tape(self, *trades: tuple[str, str, int]) -> int:
        """Trades (price, quantity, milliseconds before now) on BTCUSDT's history, as the
        pipeline records a feed's; the service's time now, in milliseconds."""
        now_ms = int(self.clock.now().timestamp() * 1000)
        self.pipeline.tape_history.record([
            MarketTrade("BTCUSDT", Decimal(price), Decimal(quantity), now_ms - before_ms)
            for price, quantity, before_ms in trades])
        return now_ms


async def _no_intake() -> dict[str, Any]:
    return {}


@pytest.fixture
async def api(request: pytest.FixtureRequest) -> AsyncIterator[Api]:
    """The API; a test marked `exchange(...)` sets the paper exchange's rules."""
    marker = request.node.get_closest_marker("exchange")
    running = Api(**(marker.kwargs if marker else {}))
    task = asyncio.create_task(running.pipeline.run())
    try:
        yield running
    finally:
        await running.http.aclose()
        running.pipeline.close(timeout_s=0)
        await asyncio.wait_for(task, 5)
