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

from execution_service.domain.commands import BookLevels, BookUpdate, MarketTrade
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


def parse_depth(raw: bytes) -> BookUpdate | None:
    """A depth message (MARKET_DEPTH_CHANNEL), else None: Binance's partial book depth
    (`{"lastUpdateId", "bids", "asks"}`, a snapshot of the top levels) in the combined
    stream wrapper, whose stream name (`btcusdt@depth20@100ms`) names the symbol, or with a
    `symbol` field of its own; or Binance's diff depth event (`{"e": "depthUpdate", "s",
    "b", "a"}`), applied to the levels known (a diff stream alone starts from none)."""
    try:
        message = orjson.loads(raw)
        stream = ""
        if isinstance(message, dict) and isinstance(message.get("data"), dict):
            stream, message = str(message.get("stream", "")), message["data"]
        if message.get("e") == "depthUpdate":
            symbol, bids, asks, snapshot = message["s"], message["b"], message["a"], False
        else:
            symbol = message.get("symbol") or message.get("s") or stream.split("@")[0]
            bids, asks, snapshot = message["bids"], message["asks"], True
        name = normalize_symbol(str(symbol))
        update = BookUpdate(name or "", _levels(bids), _levels(asks), snapshot,
                            _ms(message.get("E") or message.get("T")))
    except (orjson.JSONDecodeError, KeyError, TypeError, AttributeError, ValueError,
            InvalidOperation):
        return None
    return update if name else None


def _levels(raw: Any) -> BookLevels:
    levels = tuple((Decimal(str(price)), Decimal(str(quantity))) for price, quantity in raw)
    if not all(p.is_finite() and q.is_finite() and p > 0 and q >= 0 for p, q in levels):
        raise ValueError("not a book level")
    return levels


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
