"""What each endpoint answers, as pydantic models: they make the OpenAPI document
(`/openapi.json`) tell the truth. The routes render their answers themselves (exact
decimals, through `JSONResponse`), so these models document and are never used to
convert; `tests/system/test_openapi.py` runs schemathesis to hold the two together.

Decimal amounts are JSON numbers in the service's own answers (`float` here, for the
schema's "number") and strings in Binance's.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, RootModel


class _Open(BaseModel):
    """The fields named are always there, as typed; more may follow."""

    model_config = ConfigDict(extra="allow")


# The service's own answers


class Problem(_Open):
    detail: str


class Health(_Open):
    service: str
    status: str
    version: str


class Readiness(_Open):
    ready: bool
    reasons: list[str]


class KillSwitchState(_Open):
    active: bool
    reason: str | None
    since: str | None


class Counters(_Open):
    orders_received: int
    orders_filled: int
    orders_rejected: int
    duplicates: int
    batches: int
    start_time: str


class Status(_Open):
    service: str
    version: str
    status: str
    uptime_s: float
    stats: Counters
    last_minute: dict[str, Any]
    kill_switch: KillSwitchState
    matcher: dict[str, Any]
    redis: dict[str, Any]
    database: dict[str, Any]


class OrderResult(_Open):
    """An order's state: the `order_result` message (SPEC 4.2)."""

    order_id: str
    client_id: str | None
    status: str
    symbol: str
    side: str
    order_type: str
    quantity: float
    filled_quantity: float
    price: float | None
    fee: float
    fees: float
    fee_asset: str | None
    slippage_bps: float | None
    timestamp: int
    event_time_ms: int
    strategy_id: str | None
    bot_id: str | None
    source: str
    account: str
    error_code: str | None
    error_message: str | None


class StoredOrder(OrderResult):
    created_at: str
    updated_at: str
    reference_price: float | None
    metadata: dict[str, Any]
    queue_ahead: float | None  # resting, with a queue model: what is ahead of it


class Refusal(_Open):
    """An order or cancel that did nothing: why (`error_code`, `error_message`)."""

    status: str
    error_code: str | None
    error_message: str | None


class Unavailable(_Open):
    error_message: str


class Fill(_Open):
    trade_id: str
    order_id: str
    symbol: str
    side: str
    quantity: float
    price: float
    fee: float
    fee_asset: str
    slippage_bps: float
    liquidity: str
    executed_at: str
    account: str


class OrderEventView(_Open):
    order_id: str
    seq: int
    status: str
    detail: str | None
    at: str


class OrderDetail(StoredOrder):
    trades: list[Fill]
    events: list[OrderEventView]


class Amounts(_Open):
    free: float
    locked: float


Balances = RootModel[dict[str, Amounts]]


class PositionView(_Open):
    symbol: str
    quantity: float
    avg_entry_price: float
    last_price: float | None
    realized_pnl: float
    unrealized_pnl: float
    fees: float
    net_pnl: float
    quote_asset: str
    account: str
    updated_at: str | None


class Valuation(_Open):
    at: str
    quote_asset: str
    account: str
    equity: float
    unpriced: list[str]
    assets: dict[str, Any]


class EquitySnapshotView(_Open):
    at: str
    quote_asset: str
    equity: float
    unpriced: list[str]


class Equity(_Open):
    current: Valuation
    snapshots: list[EquitySnapshotView]


class SlippageFigures(_Open):
    fills: int
    mean: float | None
    p50: float | None
    p95: float | None
    max: float | None


class LiquidityShare(_Open):
    fills: int
    notional: float


class LatencyBucket(_Open):
    le_ms: float | None  # None: beyond the last bound
    orders: int


class FillQuality(_Open):
    account: str | None
    fills: int
    slippage_bps: SlippageFigures
    liquidity: dict[str, LiquidityShare]
    rejections: dict[str, int]
    latency: list[LatencyBucket]


# Binance's answers (decimals as strings)


class BinanceProblem(BaseModel):
    code: int
    msg: str


class ServerTime(_Open):
    serverTime: int  # noqa: N815 (Binance's names, here and below)


class ExchangeInfo(_Open):
    timezone: str
    serverTime: int  # noqa: N815
    rateLimits: list[dict[str, Any]]  # noqa: N815
    exchangeFilters: list[dict[str, Any]]  # noqa: N815
    symbols: list[dict[str, Any]]


class TickerPrice(_Open):
    symbol: str
    price: str


class BookTicker(_Open):
    symbol: str
    bidPrice: str  # noqa: N815
    bidQty: str  # noqa: N815
    askPrice: str  # noqa: N815
    askQty: str  # noqa: N815


class DayTicker(_Open):
    symbol: str
    priceChange: str  # noqa: N815
    priceChangePercent: str  # noqa: N815
    lastPrice: str  # noqa: N815
    openPrice: str  # noqa: N815
    highPrice: str  # noqa: N815
    lowPrice: str  # noqa: N815
    volume: str
    quoteVolume: str  # noqa: N815
    openTime: int  # noqa: N815
    closeTime: int  # noqa: N815
    count: int


class Depth(_Open):
    lastUpdateId: int  # noqa: N815
    bids: list[list[str]]
    asks: list[list[str]]


class MarketTrade(_Open):
    id: int
    price: str
    qty: str
    quoteQty: str  # noqa: N815
    time: int
    isBuyerMaker: bool  # noqa: N815
    isBestMatch: bool  # noqa: N815


class AggregateTrade(_Open):
    a: int
    p: str
    q: str
    f: int
    l: int  # noqa: E741
    T: int
    m: bool
    M: bool


Kline = list[int | str]


class AccountBalance(_Open):
    asset: str
    free: str
    locked: str


class AccountInfo(_Open):
    makerCommission: int  # noqa: N815
    takerCommission: int  # noqa: N815
    commissionRates: dict[str, str]  # noqa: N815
    canTrade: bool  # noqa: N815
    accountType: str  # noqa: N815
    balances: list[AccountBalance]
    permissions: list[str]
    uid: int


class OrderFill(_Open):
    price: str
    qty: str
    commission: str
    commissionAsset: str  # noqa: N815
    tradeId: str  # noqa: N815


class NewOrder(_Open):
    """ACK has the first five fields; RESULT adds the order's; FULL adds `fills`."""

    symbol: str
    orderId: str  # noqa: N815
    orderListId: int  # noqa: N815
    clientOrderId: str  # noqa: N815
    transactTime: int  # noqa: N815
    status: str | None = None
    fills: list[OrderFill] | None = None


class BinanceOrder(_Open):
    symbol: str
    orderId: str  # noqa: N815
    orderListId: int  # noqa: N815
    clientOrderId: str  # noqa: N815
    price: str
    origQty: str  # noqa: N815
    executedQty: str  # noqa: N815
    cummulativeQuoteQty: str  # noqa: N815
    status: str
    timeInForce: str  # noqa: N815
    type: str
    side: str


class AccountTrade(_Open):
    symbol: str
    id: str
    orderId: str  # noqa: N815
    price: str
    qty: str
    quoteQty: str  # noqa: N815
    commission: str
    commissionAsset: str  # noqa: N815
    time: int
    isBuyer: bool  # noqa: N815
    isMaker: bool  # noqa: N815


def problems(*statuses: int, binance: bool = False) -> dict[int | str, dict[str, Any]]:
    """The error answers of an operation, for `responses=`."""
    model = BinanceProblem if binance else Problem
    return {status: {"model": model} for status in statuses}
