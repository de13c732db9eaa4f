"""Orders, trades and the exchange vocabulary they are described in."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

ZERO = Decimal(0)
QUANTITY_STEP = Decimal("1e-8")  # the exchange's finest quantity: 8 decimal places
REQUESTED_QUANTITY = "requested_quantity"  # metadata key: the quantity asked, before rounding
DEFAULT_ACCOUNT = "default"  # the sub-account of orders that name none


class Side(StrEnum):
    BUY = "BUY"
    SELL = "SELL"


class OrderType(StrEnum):
    """Binance spot order types."""

    MARKET = "MARKET"
    LIMIT = "LIMIT"
    LIMIT_MAKER = "LIMIT_MAKER"  # post-only: rejected if it would take liquidity
    STOP_LOSS = "STOP_LOSS"  # a market order once the stop price trades
    STOP_LOSS_LIMIT = "STOP_LOSS_LIMIT"  # a limit order once the stop price trades
    TAKE_PROFIT = "TAKE_PROFIT"
    TAKE_PROFIT_LIMIT = "TAKE_PROFIT_LIMIT"

    @property
    def has_limit_price(self) -> bool:
        return self in _LIMIT_PRICED

    @property
    def has_stop_price(self) -> bool:
        return self in _STOPS


_LIMIT_PRICED = frozenset({OrderType.LIMIT, OrderType.LIMIT_MAKER, OrderType.STOP_LOSS_LIMIT,
                           OrderType.TAKE_PROFIT_LIMIT})
_STOPS = frozenset({OrderType.STOP_LOSS, OrderType.STOP_LOSS_LIMIT, OrderType.TAKE_PROFIT,
                    OrderType.TAKE_PROFIT_LIMIT})


class TimeInForce(StrEnum):
    GTC = "GTC"  # good till canceled (or till `expire_at`)
    IOC = "IOC"  # immediate or cancel: what does not fill at once expires
    FOK = "FOK"  # fill or kill: all at once, or nothing


class OrderStatus(StrEnum):
    PENDING_NEW = "PENDING_NEW"  # on its way to the exchange (latency model)
    NEW = "NEW"
    PARTIALLY_FILLED = "PARTIALLY_FILLED"
    FILLED = "FILLED"
    CANCELED = "CANCELED"
    REJECTED = "REJECTED"
    EXPIRED = "EXPIRED"

    @property
    def is_open(self) -> bool:
        return self in _OPEN


_OPEN = frozenset({OrderStatus.PENDING_NEW, OrderStatus.NEW, OrderStatus.PARTIALLY_FILLED})


class ErrorCode(StrEnum):
    INVALID_ORDER = "INVALID_ORDER"
    INSUFFICIENT_BALANCE = "INSUFFICIENT_BALANCE"
    UNKNOWN_SYMBOL = "UNKNOWN_SYMBOL"
    MOCK_REJECTION = "MOCK_REJECTION"
    KILL_SWITCH = "KILL_SWITCH"
    UNKNOWN_ORDER = "UNKNOWN_ORDER"
    ORDER_NOT_OPEN = "ORDER_NOT_OPEN"
    FILTER_FAILURE = "FILTER_FAILURE"  # an exchange filter: LOT_SIZE, MIN_NOTIONAL, ...
    WOULD_TAKE = "WOULD_TAKE"  # a LIMIT_MAKER that would match at once
    WOULD_TRIGGER = "WOULD_TRIGGER"  # a stop whose price has already traded
    UNKNOWN_ACCOUNT = "UNKNOWN_ACCOUNT"  # a sub-account that is not configured


class Source(StrEnum):
    """Where a command entered the service."""

    PUBSUB = "pubsub"
    STREAM = "stream"
    REST = "rest"
    CONTROL = "control"
    MARKET = "market"  # trades on the market-data channel
    TIMER = "timer"  # the service's own timers (pipeline/timers.py)


class Liquidity(StrEnum):
    TAKER = "taker"
    MAKER = "maker"


@dataclass(slots=True)
class Order:
    """One order as stored in `orders`, its state after the latest change."""

    order_id: str
    client_id: str | None
    symbol: str
    side: Side
    order_type: OrderType
    quantity: Decimal
    price: Decimal | None
    status: OrderStatus
    source: Source
    created_at: datetime
    updated_at: datetime
    filled_quantity: Decimal = ZERO
    avg_fill_price: Decimal | None = None
    fee: Decimal = ZERO
    fee_asset: str | None = None
    slippage_bps: Decimal | None = None
    error_code: ErrorCode | None = None
    error_message: str | None = None
    strategy_id: str | None = None
    bot_id: str | None = None
    intake_ref: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    time_in_force: TimeInForce | None = None
    stop_price: Decimal | None = None
    expire_at: datetime | None = None  # good till this date (GTD)
    due_at: datetime | None = None  # when its latency delay ends
    triggered_at: datetime | None = None  # when a stop order's stop price traded
    reserved: Decimal = ZERO  # what it still holds locked
    reserved_asset: str | None = None
    version: int = 0  # the seq of its latest `order_events` row
    fingerprint: str | None = None  # with `client_id`, what makes a copy the same order
    account: str = DEFAULT_ACCOUNT  # the sub-account whose balances it trades
    queue_ahead: Decimal | None = None  # resting, with a queue model: what is ahead of it
    working_at: datetime | None = None  # since when it works: accepted, or a stop triggered
    number: int | None = None  # Binance's `orderId`: given by the database when it is stored
    # Binance's own rules (an order from Binance's API): the lot step enforced, no simulated
    # rejection, the commission in the asset each fill gives (a buy's in the base asset).
    binance_rules: bool = False
    list_ref: str | None = None  # an order list's (OCO's): the order id of its first order
    # A pending order of a list (OTO, OTOCO): the id of the working order it waits for. It
    # is PENDING_NEW, and off the book, until that one fills completely.
    waits_for: str | None = None

    @property
    def remaining(self) -> Decimal:
        return self.quantity - self.filled_quantity

    @property
    def waiting(self) -> bool:
        """A pending order of a list not placed yet: its working order has not filled."""
        return (self.waits_for is not None and self.status is OrderStatus.PENDING_NEW
                and self.due_at is None)

    @property
    def limit_price(self) -> Decimal | None:
        """The limit, for the order types that have one; a MARKET order's price is a reference."""
        return self.price if self.order_type.has_limit_price else None


# What an order is given when it is created and keeps; the rest of it is its state, which
# its events move (engine/events.py), and what a stored order's row may change.
ORDER_TERMS = frozenset({
    "order_id", "client_id", "intake_ref", "symbol", "side", "order_type", "quantity", "price",
    "strategy_id", "bot_id", "source", "metadata", "created_at", "time_in_force", "stop_price",
    "expire_at", "fingerprint", "account", "number", "binance_rules", "list_ref", "waits_for"})


@dataclass(frozen=True, slots=True)
class Trade:
    """One fill, a row of `trades`."""

    trade_id: str
    order_id: str
    symbol: str
    side: Side
    quantity: Decimal
    price: Decimal
    fee: Decimal
    fee_asset: str
    slippage_bps: Decimal
    liquidity: Liquidity
    executed_at: datetime
    account: str = DEFAULT_ACCOUNT
    number: int | None = None  # Binance's `tradeId`: given by the database when it is stored

    @property
    def notional(self) -> Decimal:
        return self.quantity * self.price
