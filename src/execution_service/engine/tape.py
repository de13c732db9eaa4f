"""The market-data trades the service has seen, kept per symbol for the public history
endpoints (Binance's `trades`, `aggTrades`, `klines`, `ticker/24hr`).

Only trades of committed batches are recorded (the pipeline records them after the
commit, so a batch run again after a failed commit records nothing twice), and only the
newest `keep` of each symbol are kept, so memory stays bounded. The service's own fills
are not tape trades: paper orders do not trade with the market.
"""

from __future__ import annotations

import bisect
import itertools
from collections import deque
from dataclasses import dataclass
from decimal import Decimal

from execution_service.domain.commands import MarketTrade

ZERO = Decimal(0)
DAY_MS = 86_400_000


@dataclass(frozen=True, slots=True)
class TapeTrade:
    id: int
    price: Decimal
    quantity: Decimal  # zero when the feed did not say
    time_ms: int


@dataclass(frozen=True, slots=True)
class Candle:
    open_ms: int
    close_ms: int  # the last millisecond of the interval
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: Decimal
    quote_volume: Decimal
    trades: int


@dataclass(frozen=True, slots=True)
class DayStats:
    """Over the trades of the last 24 hours kept."""

    open: Decimal
    high: Decimal
    low: Decimal
    last: Decimal
    volume: Decimal
    quote_volume: Decimal
    first: TapeTrade
    last_trade: TapeTrade
    count: int


class TapeHistory:
    def __init__(self, keep: int = 50_000) -> None:
        self._keep = keep
        self._trades: dict[str, deque[TapeTrade]] = {}
        self._ids = itertools.count(1)

    def record(self, trades: list[MarketTrade]) -> None:
        for trade in trades:
            kept = self._trades.setdefault(trade.symbol, deque(maxlen=self._keep))
            kept.append(TapeTrade(next(self._ids), trade.price, trade.quantity or ZERO,
                                  trade.ts_ms))

    def recent(self, symbol: str, limit: int) -> list[TapeTrade]:
        """The newest `limit` trades, oldest first."""
        kept = self._trades.get(symbol, deque())
        return list(itertools.islice(kept, max(0, len(kept) - limit), None))

    def between(self, symbol: str, start_ms: int, end_ms: int) -> list[TapeTrade]:
        """Trades at `start_ms` <= time <= `end_ms`, oldest first (feeds send them in order)."""
        kept = list(self._trades.get(symbol, ()))
        times = [trade.time_ms for trade in kept]
        return kept[bisect.bisect_left(times, start_ms):bisect.bisect_right(times, end_ms)]

    def day(self, symbol: str, now_ms: int) -> DayStats | None:
        trades = self.between(symbol, now_ms - DAY_MS, now_ms)
        if not trades:
            return None
        prices = [trade.price for trade in trades]
        return DayStats(open=prices[0], high=max(prices), low=min(prices), last=prices[-1],
                        volume=sum((t.quantity for t in trades), ZERO),
                        quote_volume=sum((t.quantity * t.price for t in trades), ZERO),
                        first=trades[0], last_trade=trades[-1], count=len(trades))

    def candles(self, symbol: str, interval_ms: int, start_ms: int, end_ms: int,
                limit: int) -> list[Candle]:
        """The intervals from `start_ms` to `end_ms` that hold trades, oldest first, at
        most `limit` (the newest when there are more)."""
        buckets: dict[int, list[TapeTrade]] = {}
        for trade in self.between(symbol, start_ms, end_ms):
            buckets.setdefault(trade.time_ms // interval_ms * interval_ms, []).append(trade)
        candles = [_candle(opened, interval_ms, trades)
                   for opened, trades in sorted(buckets.items())]
        return candles[-limit:]


def _candle(opened: int, interval_ms: int, trades: list[TapeTrade]) -> Candle:
    prices = [trade.price for trade in trades]
    return Candle(opened, opened + interval_ms - 1, prices[0], max(prices), min(prices),
                  prices[-1], sum((t.quantity for t in trades), ZERO),
                  sum((t.quantity * t.price for t in trades), ZERO), len(trades))
