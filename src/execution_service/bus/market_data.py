"""Market data in: the pipeline WS service's trade messages update the prices."""

from __future__ import annotations

import time
from decimal import Decimal, InvalidOperation

import orjson

from execution_service.domain.symbols import normalize_symbol
from execution_service.engine.prices import MarketPrices


class MarketDataHandler:
    """Feeds `{"symbol": "BTCUSDT", "price": "...", ...}` messages to `MarketPrices`.

    Messages that are not such a trade are counted in `ignored` and otherwise dropped:
    market data is a best-effort feed, the random walk covers the gaps.
    """

    def __init__(self, prices: MarketPrices) -> None:
        self._prices = prices
        self.ignored = 0

    def __call__(self, raw: bytes) -> None:
        try:
            message = orjson.loads(raw)
            symbol = normalize_symbol(str(message["symbol"]))
            price = Decimal(str(message["price"]))
        except (orjson.JSONDecodeError, KeyError, TypeError, InvalidOperation):
            self.ignored += 1
            return
        if symbol is None or not price.is_finite() or price <= 0:
            self.ignored += 1
            return
        # Freshness is judged by this service's clock: the sender's may be skewed.
        self._prices.on_trade(symbol, price, time.time_ns() // 1_000_000)
