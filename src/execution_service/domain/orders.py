"""Orders, trades and the exchange vocabulary they are described in."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

ZERO = Decimal(0)


class Side(StrEnum):
    BUY = "BUY"
    SELL = "SELL"


class OrderType(StrEnum):
    MARKET = "MARKET"


class OrderStatus(StrEnum):
    NEW = "NEW"
    PARTIALLY_FILLED = "PARTIALLY_FILLED"
    FILLED = "FILLED"
    CANCELED = "CANCELED"
    REJECTED = "REJECTED"
    EXPIRED = "EXPIRED"


class ErrorCode(StrEnum):
    INVALID_ORDER = "INVALID_ORDER"
    INSUFFICIENT_BALANCE = "INSUFFICIENT_BALANCE"
    UNKNOWN_SYMBOL = "UNKNOWN_SYMBOL"
    MOCK_REJECTION = "MOCK_REJECTION"
    KILL_SWITCH = "KILL_SWITCH"
    UNKNOWN_ORDER = "UNKNOWN_ORDER"
    ORDER_NOT_OPEN = "ORDER_NOT_OPEN"
    MESSAGE_TOO_LARGE = "MESSAGE_TOO_LARGE"


class Source(StrEnum):
    """Where a command entered the service."""

    PUBSUB = "pubsub"
    STREAM = "stream"
    REST = "rest"
    CONTROL = "control"


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

    @property
    def notional(self) -> Decimal:
        return self.quantity * self.price
