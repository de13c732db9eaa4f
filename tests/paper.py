"""A paper exchange for tests that drive the engine directly, with explicit times."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from execution_service.domain.commands import MarketTrade, SubmitOrder
from execution_service.domain.orders import DEFAULT_ACCOUNT, OrderType, Side, Source, TimeInForce
from execution_service.engine.account import Amounts
from execution_service.engine.book import SyntheticBooks
from execution_service.engine.events import Intake
from execution_service.engine.exchange import ExchangeRules, FillMode, PaperExchange, Result
from execution_service.engine.filters import ExchangeFilters
from execution_service.engine.latency import LatencyModel
from execution_service.engine.models import BookShape, FeeSchedule
from execution_service.engine.prices import REFERENCE_PRICES, MarketPrices

T0 = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
FEES = FeeSchedule(taker=Decimal("0.001"), maker=Decimal("0.001"))


def at(ms: float) -> datetime:
    """T0 plus `ms` milliseconds."""
    return T0 + timedelta(milliseconds=ms)


def make_exchange(
    balances: dict[str, str] | None = None, *, seed: int = 7, success_rate: float = 1.0,
    fill_mode: FillMode = FillMode.TRADE_THROUGH, latency: LatencyModel | None = None,
    shape: BookShape | None = None, fees: FeeSchedule = FEES, round_down: bool = False,
    volatility_bps: str = "2", accounts: tuple[str, ...] = (DEFAULT_ACCOUNT,),
    binance_success_rate: float = 1.0,
) -> PaperExchange:
    """An exchange whose `accounts` each hold `balances`."""
    rng = random.Random(seed)
    prices = MarketPrices(REFERENCE_PRICES, rng, Decimal(volatility_bps), live_max_age_s=60)
    rules = ExchangeRules(fees=fees, fill_mode=fill_mode, latency=latency or LatencyModel(),
                          round_quantity_down=round_down, success_rate=success_rate,
                          binance_success_rate=binance_success_rate)
    exchange = PaperExchange(prices, SyntheticBooks(shape or BookShape()), ExchangeFilters(),
                             rules, rng, accounts)
    exchange.load({(account, asset): Amounts(Decimal(amount)) for account in accounts
                   for asset, amount in (balances or {"USDT": "100000"}).items()}, [], [])
    return exchange


def order(side: Side, quantity: str, order_type: OrderType = OrderType.MARKET, *,
          symbol: str = "BTCUSDT", price: str | None = None, stop: str | None = None,
          tif: TimeInForce | None = None, expire_at: datetime | None = None,
          client_id: str | None = None) -> SubmitOrder:
    return SubmitOrder(symbol=symbol, side=side, quantity=Decimal(quantity), order_type=order_type,
                       price=Decimal(price) if price else None,
                       stop_price=Decimal(stop) if stop else None, time_in_force=tif,
                       expire_at=expire_at, client_id=client_id)


def submit(exchange: PaperExchange, command: SubmitOrder, when: datetime = T0,
           halted: str | None = None) -> Result:
    return exchange.submit(command, Intake(Source.STREAM, None, when), halted)


def tape(exchange: PaperExchange, price: str, quantity: str | None = "1", when: datetime = T0,
         symbol: str = "BTCUSDT", aggressor: Side | None = None) -> list[Result]:
    trade = MarketTrade(symbol, Decimal(price), Decimal(quantity) if quantity else None, 0,
                        aggressor=aggressor)
    return exchange.on_trade(trade, when)


def free(exchange: PaperExchange, asset: str) -> Decimal:
    return exchange.account().free(asset)


def locked(exchange: PaperExchange, asset: str) -> Decimal:
    return exchange.account().locked(asset)
