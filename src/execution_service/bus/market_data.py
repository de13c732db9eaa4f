"""Market data in: the pipeline WS service's trade messages, as `MarketTrade`s."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

import orjson

from execution_service.domain.commands import MarketTrade
from execution_service.domain.symbols import normalize_symbol


def parse_trade(raw: bytes) -> MarketTrade | None:
    """`{"symbol": "BTCUSDT", "price": "...", "trade_qty": "...", "ts_ms": ...}`, else None.

    Market data is a best-effort feed: anything that is not such a trade is dropped, and
    the random walk covers the gaps. A trade without a usable `trade_qty` still moves the
    price and triggers stops; its quantity is unknown (None).
    """
    try:
        message = orjson.loads(raw)
        symbol = normalize_symbol(str(message["symbol"]))
        price = Decimal(str(message["price"]))
    except (orjson.JSONDecodeError, KeyError, TypeError, InvalidOperation):
        return None
    if symbol is None or not price.is_finite() or price <= 0:
        return None
    return MarketTrade(symbol, price, _quantity(message.get("trade_qty")), _ts(message.get("ts_ms")))


def _quantity(value: object) -> Decimal | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        quantity = Decimal(str(value))
    except InvalidOperation:
        return None
    return quantity if quantity.is_finite() and quantity > 0 else None


def _ts(value: object) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0
