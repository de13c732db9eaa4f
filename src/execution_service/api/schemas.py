"""What each endpoint answers, as typed dicts: each is both the route's `response_model`
(so the OpenAPI document, `/openapi.json`, shows it) and, as `Answer[...]`, the handler's
return type (so mypy checks every answer against it); `tests/api/test_answers.py` holds
each route's two together and `tests/system/test_openapi.py` runs schemathesis against
the real process. The answers are rendered as built (exact decimals, api/responses.py),
never converted.

Decimal amounts are JSON numbers in the service's own answers (`Number`) and strings in
Binance's.
"""

from __future__ import annotations

from typing import Any, NotRequired

from typing_extensions import TypedDict

from execution_service.domain.wire import Fill, KillSwitchState, Number, OrderFields, OrderResult
from execution_service.domain.wire import open_shape as _open

# The messages' shapes, answered as sent:
__all__ = ["Fill", "KillSwitchState", "Number", "OrderFields", "OrderResult"]


# The service's own answers


@_open
class Problem(TypedDict):
    detail: str


@_open
class Health(TypedDict):
    service: str
    status: str
    version: str


@_open
class Readiness(TypedDict):
    ready: bool
    reasons: list[str]


@_open
class Counters(TypedDict):
    orders_received: int
    orders_filled: int
    orders_rejected: int
    duplicates: int
    batches: int
    start_time: str


@_open
class Status(TypedDict):
    service: str
    version: str
    status: str
    uptime_s: Number
    stats: Counters
    last_minute: dict[str, Any]
    kill_switch: KillSwitchState
    matcher: dict[str, Any]
    redis: dict[str, Any]
    database: dict[str, Any]


@_open
class StoredOrder(OrderFields):
    created_at: str
    updated_at: str
    reference_price: Number | None
    metadata: dict[str, Any]
    queue_ahead: Number | None  # resting, with a queue model: what is ahead of it
    number: int | None  # its id on Binance's API (`orderId`)


@_open
class Refusal(TypedDict):
    """An order or cancel that did nothing: why (`error_code`, `error_message`)."""

    status: str
    error_code: str | None
    error_message: str | None


@_open
class Unavailable(TypedDict):
    error_message: str


@_open
class OrderEventView(TypedDict):
    order_id: str
    seq: int
    status: str
    detail: str | None
    at: str


@_open
class OrderDetail(StoredOrder):
    trades: list[Fill]
    events: list[OrderEventView]


@_open
class Amounts(TypedDict):
    free: Number
    locked: Number


Balances = dict[str, Amounts]


@_open
class PositionView(TypedDict):
    symbol: str
    quantity: Number
    avg_entry_price: Number
    last_price: Number | None
    realized_pnl: Number
    unrealized_pnl: Number
    fees: Number
    net_pnl: Number
    quote_asset: str
    account: str
    updated_at: str | None


@_open
class Valuation(TypedDict):
    at: str
    quote_asset: str
    account: str
    equity: Number
    unpriced: list[str]
    assets: dict[str, Any]


@_open
class EquitySnapshotView(TypedDict):
    at: str
    quote_asset: str
    equity: Number
    unpriced: list[str]


@_open
class Equity(TypedDict):
    current: Valuation
    snapshots: list[EquitySnapshotView]


@_open
class SlippageFigures(TypedDict):
    fills: int
    mean: Number | None
    p50: Number | None
    p95: Number | None
    max: Number | None


@_open
class LiquidityShare(TypedDict):
    fills: int
    notional: Number


@_open
class LatencyBucket(TypedDict):
    le_ms: Number | None  # None: beyond the last bound
    orders: int


@_open
class FillQuality(TypedDict):
    account: str | None
    fills: int
    slippage_bps: SlippageFigures
    liquidity: dict[str, LiquidityShare]
    rejections: dict[str, int]
    latency: list[LatencyBucket]


# Binance's answers (decimals as strings)


class Empty(TypedDict):
    """`{}`"""


class BinanceProblem(TypedDict):
    code: int
    msg: str


@_open
class ServerTime(TypedDict):
    serverTime: int


@_open
class ExchangeInfo(TypedDict):
    timezone: str
    serverTime: int
    rateLimits: list[dict[str, Any]]
    exchangeFilters: list[dict[str, Any]]
    symbols: list[dict[str, Any]]


@_open
class TickerPrice(TypedDict):
    symbol: str
    price: str


@_open
class BookTicker(TypedDict):
    symbol: str
    bidPrice: str
    bidQty: str
    askPrice: str
    askQty: str


@_open
class MiniTicker(TypedDict):
    symbol: str
    openPrice: str
    highPrice: str
    lowPrice: str
    lastPrice: str
    volume: str
    quoteVolume: str
    openTime: int
    closeTime: int
    firstId: int
    lastId: int
    count: int


@_open
class RollingTicker(MiniTicker):
    priceChange: str
    priceChangePercent: str
    weightedAvgPrice: str


@_open
class DayTicker(RollingTicker):
    prevClosePrice: str
    lastQty: str
    bidPrice: str
    bidQty: str
    askPrice: str
    askQty: str


@_open
class Depth(TypedDict):
    lastUpdateId: int
    bids: list[list[str]]
    asks: list[list[str]]


@_open
class AveragePrice(TypedDict):
    mins: int
    price: str
    closeTime: int


@_open
class MarketTrade(TypedDict):
    id: int
    price: str
    qty: str
    quoteQty: str
    time: int
    isBuyerMaker: bool
    isBestMatch: bool


@_open
class AggregateTrade(TypedDict):
    a: int
    p: str
    q: str
    f: int
    l: int  # noqa: E741
    T: int
    m: bool
    M: bool


Kline = list[int | str]


@_open
class AccountBalance(TypedDict):
    asset: str
    free: str
    locked: str


@_open
class CommissionRates(TypedDict):
    maker: str
    taker: str
    buyer: str
    seller: str


@_open
class AccountInfo(TypedDict):
    makerCommission: int
    takerCommission: int
    buyerCommission: int
    sellerCommission: int
    commissionRates: CommissionRates
    canTrade: bool
    canWithdraw: bool
    canDeposit: bool
    brokered: bool
    requireSelfTradePrevention: bool
    preventSor: bool
    updateTime: int
    accountType: str
    balances: list[AccountBalance]
    permissions: list[str]
    uid: int


@_open
class Discount(TypedDict):
    enabledForAccount: bool
    enabledForSymbol: bool
    discountAsset: str
    discount: str


@_open
class AccountCommission(TypedDict):
    symbol: str
    standardCommission: CommissionRates
    specialCommission: CommissionRates
    taxCommission: CommissionRates
    discount: Discount


@_open
class RateLimit(TypedDict):
    rateLimitType: str
    interval: str
    intervalNum: int
    limit: int
    count: NotRequired[int]


@_open
class MakerTaker(TypedDict):
    maker: str
    taker: str


@_open
class OrderCommissions(TypedDict):
    standardCommissionForOrder: MakerTaker
    specialCommissionForOrder: MakerTaker
    taxCommissionForOrder: MakerTaker
    discount: Discount


OrderTest = OrderCommissions | Empty  # `{}`, or the rates with computeCommissionRates=true


@_open
class OrderFill(TypedDict):
    price: str
    qty: str
    commission: str
    commissionAsset: str
    tradeId: int


@_open
class OrderTerms(TypedDict):
    """What Binance's order answers say of an order's terms and progress."""

    price: str
    origQty: str
    executedQty: str
    cummulativeQuoteQty: str
    status: str
    timeInForce: str
    type: str
    side: str
    stopPrice: NotRequired[str]
    origQuoteOrderQty: str
    selfTradePreventionMode: str


@_open
class OrderAck(TypedDict):
    """`newOrderRespType=ACK`."""

    symbol: str
    orderId: int
    orderListId: int
    clientOrderId: str
    transactTime: int


@_open
class OrderPlaced(OrderAck, OrderTerms):
    """`newOrderRespType=RESULT`."""

    workingTime: int


@_open
class OrderFilled(OrderPlaced):
    """`newOrderRespType=FULL`: the fills too."""

    fills: list[OrderFill]


NewOrder = OrderFilled | OrderPlaced | OrderAck  # FULL, RESULT or ACK, as asked


@_open
class BinanceOrder(OrderTerms):
    """The query-order answer (and each of openOrders' and allOrders')."""

    symbol: str
    orderId: int
    orderListId: int
    clientOrderId: str
    time: int
    updateTime: int
    isWorking: bool
    workingTime: int


@_open
class CanceledOrder(OrderTerms):
    symbol: str
    origClientOrderId: str
    orderId: int
    orderListId: int
    clientOrderId: str
    transactTime: int


@_open
class ListOrder(TypedDict):
    symbol: str
    orderId: int
    clientOrderId: str


@_open
class OrderList(TypedDict):
    orderListId: int
    contingencyType: str
    listStatusType: str
    listOrderStatus: str
    listClientOrderId: str
    transactionTime: int
    symbol: str
    orders: list[ListOrder]


@_open
class ListOrderReport(OrderTerms):
    symbol: str
    orderId: int
    orderListId: int
    clientOrderId: str
    transactTime: int
    workingTime: int


@_open
class OrderListReport(OrderList):
    orderReports: list[ListOrderReport]


@_open
class OrderListCanceled(OrderList):
    orderReports: list[CanceledOrder]


class CancelReplace(TypedDict):
    """Both steps succeeded (a failure answers -2021 or -2022, with these in `data`)."""

    cancelResult: str
    newOrderResult: str
    cancelResponse: CanceledOrder
    newOrderResponse: NewOrder


@_open
class AccountTrade(TypedDict):
    symbol: str
    id: int
    orderId: int
    orderListId: int
    price: str
    qty: str
    quoteQty: str
    commission: str
    commissionAsset: str
    time: int
    isBuyer: bool
    isMaker: bool
    isBestMatch: bool


@_open
class SystemStatus(TypedDict):
    status: int
    msg: str


@_open
class TradeFee(TypedDict):
    symbol: str
    makerCommission: str
    takerCommission: str


@_open
class DelistSchedule(TypedDict):
    delistTime: int
    symbols: list[str]


@_open
class Coin(TypedDict):
    coin: str
    name: str
    depositAllEnable: bool
    withdrawAllEnable: bool
    trading: bool
    isLegalMoney: bool
    free: str
    locked: str
    networkList: list[dict[str, Any]]


def problems(*statuses: int, binance: bool = False) -> dict[int | str, dict[str, Any]]:
    """The error answers of an operation, for `responses=`."""
    model = BinanceProblem if binance else Problem
    return {status: {"model": model} for status in statuses}


class ListenKey(TypedDict):
    """A user data stream's listen key: the socket /ws/<listenKey> follows the account."""

    listenKey: str
