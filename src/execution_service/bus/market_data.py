"""Market data in: trade messages, as `MarketTrade`s. Three shapes are read:

- upstream's (its WS service): `{"symbol": "BTCUSDT", "price": "...", "trade_qty": "...",
  "ts_ms": ..., "side": "buy" | "sell" | "unknown"}`, `side` naming the aggressor (MEXC's
  `tradeType` 1 or 2 taken too);
- Binance's WebSocket `trade` and `aggTrade` events (`{"e": "trade", "s", "p", "q", "T",
  "m"}`), raw or in the combined-stream wrapper `{"stream": ..., "data": {...}}`; `m` (the
  buyer is the maker) means the seller took liquidity; `T` in milliseconds or, on a
  connection that asked for them, microseconds.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

import orjson

from execution_service.domain.commands import MarketTrade
from execution_service.domain.orders import Side
from execution_service.domain.symbols import normalize_symbol

_BINANCE_EVENTS = frozenset({"trade", "aggTrade"})
_MICROSECONDS = 10**14  # a timestamp beyond this (the year 5138 in ms) is in microseconds
_SIDES = {"buy": Side.BUY, "sell": Side.SELL, "1": Side.BUY, "2": Side.SELL}


def parse_trade(raw: bytes) -> MarketTrade | None:
    """The trade a message carries, else None.

    Market data is a best-effort feed: anything that is not such a trade is dropped, and
    the random walk covers the gaps. A trade without a usable quantity still moves the
    price and triggers stops; its quantity is unknown (None). One without a side (or
    `unknown`) fills resting orders on both sides, as before sides were read.
    """
    try:
        message = orjson.loads(raw)
        if isinstance(message, dict) and isinstance(message.get("data"), dict) and "stream" in message:
            message = message["data"]  # Binance's combined stream
        if message.get("e") in _BINANCE_EVENTS:
            return _binance(message)
        symbol = normalize_symbol(str(message["symbol"]))
        price = Decimal(str(message["price"]))
    except (orjson.JSONDecodeError, KeyError, TypeError, AttributeError, InvalidOperation):
        return None
    if symbol is None or not price.is_finite() or price <= 0:
        return None
    side = message.get("side", message.get("tradeType"))
    return MarketTrade(symbol, price, _quantity(message.get("trade_qty")),
                       _ms(message.get("ts_ms")), aggressor=_SIDES.get(str(side).lower()))


def _binance(event: Mapping[str, Any]) -> MarketTrade | None:
    symbol = normalize_symbol(str(event["s"]))
    price = Decimal(str(event["p"]))
    if symbol is None or not price.is_finite() or price <= 0:
        return None
    maker = event.get("m")
    aggressor = None if not isinstance(maker, bool) else Side.SELL if maker else Side.BUY
    return MarketTrade(symbol, price, _quantity(event.get("q")), _ms(event.get("T")),
                       aggressor=aggressor)


def _quantity(value: object) -> Decimal | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        quantity = Decimal(str(value))
    except InvalidOperation:
        return None
    return quantity if quantity.is_finite() and quantity > 0 else None


def _ms(value: object) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        return 0
    return value // 1000 if value > _MICROSECONDS else value
