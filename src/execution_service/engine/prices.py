"""Prices: live trades from `market_data`, else a seeded random walk around reference levels.

The walk advances one step per quote asked for, not per wall-clock tick, so with a fixed
seed the same sequence of orders sees the same prices.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal

# Levels of late 2025 for the common USDT pairs; `REFERENCE_PRICES` overrides or extends them.
REFERENCE_PRICES: Mapping[str, Decimal] = {
    symbol: Decimal(price)
    for symbol, price in {
        "BTCUSDT": "90000", "ETHUSDT": "3000", "BNBUSDT": "850", "SOLUSDT": "140",
        "XRPUSDT": "2.10", "DOGEUSDT": "0.15", "ADAUSDT": "0.42", "TRXUSDT": "0.28",
        "AVAXUSDT": "14", "LINKUSDT": "13", "DOTUSDT": "2.5", "LTCUSDT": "85",
        "TONUSDT": "1.6", "POLUSDT": "0.15", "SHIBUSDT": "0.0000085", "BCHUSDT": "550",
        "NEARUSDT": "1.8", "UNIUSDT": "6", "ATOMUSDT": "2.5", "XLMUSDT": "0.24",
        "SUIUSDT": "1.6", "PEPEUSDT": "0.0000045", "ARBUSDT": "0.2", "OPUSDT": "0.3",
        "APTUSDT": "2.2", "FILUSDT": "1.5", "ETCUSDT": "13", "ICPUSDT": "4",
        "HBARUSDT": "0.14", "AAVEUSDT": "170", "ETHBTC": "0.033", "BNBBTC": "0.0094",
    }.items()
}

PRICE_PLACES = Decimal("1e-8")
_SIGNIFICANT_DIGITS = 7


def round_price(price: Decimal) -> Decimal:
    """Round to 7 significant digits (the tick of a real book), and to at most 8 places."""
    tick = Decimal(1).scaleb(price.adjusted() - _SIGNIFICANT_DIGITS + 1)
    return price.quantize(max(tick, PRICE_PLACES), rounding=ROUND_HALF_EVEN)


@dataclass(slots=True)
class _LivePrice:
    price: Decimal
    ts_ms: int


class MarketPrices:
    """Last prices per symbol.

    `quote(symbol, now_ms)` returns the live price when one arrived within
    `live_max_age_s`, otherwise steps a geometric random walk (step size
    `volatility_bps`, in basis points) from the latest known level.
    """

    def __init__(
        self,
        reference: Mapping[str, Decimal],
        rng: random.Random,
        volatility_bps: Decimal,
        live_max_age_s: float,
    ) -> None:
        self._levels: dict[str, Decimal] = dict(reference)
        self._live: dict[str, _LivePrice] = {}
        self._rng = rng
        self._volatility = float(volatility_bps) / 10_000
        self._live_max_age_ms = int(live_max_age_s * 1000)

    @property
    def live_max_age_ms(self) -> int:
        """How long a live price (or a real book) stays current without an update."""
        return self._live_max_age_ms

    def on_trade(self, symbol: str, price: Decimal, ts_ms: int) -> None:
        """Record a trade seen on the market-data channel."""
        self._live[symbol] = _LivePrice(price, ts_ms)
        self._levels[symbol] = price

    def quote(self, symbol: str, now_ms: int) -> Decimal | None:
        """The price to execute at now, or None for a symbol never priced."""
        live = self._live.get(symbol)
        if live is not None and now_ms - live.ts_ms <= self._live_max_age_ms:
            return live.price
        level = self._levels.get(symbol)
        if level is None:
            return None
        step = Decimal(repr(round(self._rng.gauss(0.0, self._volatility), 9)))
        stepped = round_price(level * (1 + step))
        self._levels[symbol] = stepped
        return stepped

    def is_live(self, symbol: str, now_ms: int) -> bool:
        """Whether a `market_data` price for `symbol` arrived within `live_max_age_s`."""
        live = self._live.get(symbol)
        return live is not None and now_ms - live.ts_ms <= self._live_max_age_ms

    def last(self, symbol: str) -> Decimal | None:
        """The latest price known for `symbol` (live or walked), without a new step."""
        return self._levels.get(symbol)

    def snapshot(self) -> dict[str, Decimal]:
        return dict(self._levels)
