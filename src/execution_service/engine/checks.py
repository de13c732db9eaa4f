"""Pre-trade checks: what a new order must pass before it reaches the book.

Each function reads an order and answers; none changes anything (the exchange records
what follows as events). A refusal is an `(ErrorCode, message)` pair worded as Binance
words it where Binance has a word for it.
"""

from __future__ import annotations

from datetime import datetime
from decimal import ROUND_DOWN, ROUND_UP, Decimal

from execution_service.domain.orders import QUANTITY_STEP, ZERO, ErrorCode, Order, Side
from execution_service.domain.symbols import Pair
from execution_service.engine.book import Walk
from execution_service.engine.filters import SymbolFilters
from execution_service.engine.models import BPS, FEE_PLACES, MAX_NOTIONAL, FeeSchedule

Refusal = tuple[ErrorCode, str]


def lot_size(order: Order, filters: SymbolFilters, round_down: bool) -> Decimal | Refusal:
    """The quantity the order trades: the one asked brought to the lot step, as a bot's
    exchange client does (`round_down`), or else as asked, refusing more decimals than the
    exchange keeps, as Binance does (-1111)."""
    asked = order.quantity
    if round_down:
        return filters.round_quantity(asked)
    if asked != asked.quantize(QUANTITY_STEP, rounding=ROUND_DOWN):
        return ErrorCode.INVALID_ORDER, "Precision is over the maximum defined for this asset."
    return asked


def violation(order: Order, filters: SymbolFilters, mid: Decimal, now: datetime) -> Refusal | None:
    """The exchange filter, value limit or expiry the order breaks, if any."""
    failure = filters.violation(order.order_type, order.quantity, order.limit_price,
                                order.stop_price, mid)
    if failure is not None:
        return ErrorCode.FILTER_FAILURE, failure
    if order.quantity * (order.limit_price or order.stop_price or mid) > MAX_NOTIONAL:
        return ErrorCode.INVALID_ORDER, f"order value exceeds {MAX_NOTIONAL:f}"
    if order.expire_at is not None and order.expire_at <= now:
        return ErrorCode.INVALID_ORDER, f"expire_at {order.expire_at.isoformat()} is not in the future"
    return None


def reservation(order: Order, pair: Pair, mid: Decimal, fees: FeeSchedule,
                max_offset_bps: Decimal) -> tuple[str, Decimal]:
    """What the order must lock to rest or wait: the base it sells, or the quote a buy may
    spend at its limit (or, for a market buy, at the farthest price the book may show),
    fee included."""
    if order.side is Side.SELL:
        return pair.base, order.quantity
    price = order.limit_price
    rate = fees.highest
    if price is None:  # a market buy: its price is only known when it fills
        reference = order.stop_price or mid
        price = reference * (1 + max_offset_bps / BPS)
        rate = fees.taker
    return pair.quote, (order.quantity * price * (1 + rate)).quantize(FEE_PLACES, rounding=ROUND_UP)


def cost(walk: Walk, fees: FeeSchedule) -> Decimal:
    """What a buyer pays for a taker fill of `walk`: each level's value plus its own fee."""
    return sum((quantity * price + fees.taker_fee(quantity * price)
                for _level, quantity, price in walk.taken), ZERO)


def needs(order: Order, asset: str, amount: Decimal, free: Decimal) -> str:
    """The refusal for an account that holds too little."""
    return f"{order.side} {order.quantity} {order.symbol} needs {amount} {asset}, {free} free"
