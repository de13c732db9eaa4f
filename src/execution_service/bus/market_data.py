"""Market data in: the pipeline WS service's trade messages, as (symbol, price)."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

import orjson

from execution_service.domain.symbols import normalize_symbol


def parse_trade(raw: bytes) -> tuple[str, Decimal] | None:
    """`{"symbol": "BTCUSDT", "price": "...", ...}` -> ("BTCUSDT", Decimal(...)), else None.

    Market data is a best-effort feed: anything that is not such a trade is dropped, and
    the random walk covers the gaps.
    """
    try:
        message = orjson.loads(raw)
        symbol = normalize_symbol(str(message["symbol"]))
        price = Decimal(str(message["price"]))
    except (orjson.JSONDecodeError, KeyError, TypeError, InvalidOperation):
        return None
    if symbol is None or not price.is_finite() or price <= 0:
        return None
    return symbol, price
