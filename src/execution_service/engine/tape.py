"""The market-data trades the service has seen, kept per symbol for the public history
endpoints (Binance's `trades`, `aggTrades`, `klines`, `ticker/24hr`), in bounded memory:
the newest `keep_trades` trades, and one-minute candles for the last `keep_minutes`
(longer intervals and the 24-hour figures are built from those; one-second candles from
the kept trades).

Only trades of committed batches are recorded (the pipeline records them after the
commit, so a batch run again after a failed commit records nothing twice). The
service's own fills are not tape trades: paper orders do not trade with the market.
"""

from __future__ import annotations

import bisect
import itertools
from collections import deque
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from decimal import Decimal

from execution_service.domain.commands import MarketTrade
from execution_service.domain.orders import Side

ZERO = Decimal(0)
MINUTE_MS = 60_000
DAY_MS = 86_400_000


@dataclass(frozen=True, slots=True)
class TapeTrade:
    id: int
    price: Decimal
    quantity: Decimal  # zero when the feed did not say
    time_ms: int
    buyer_maker: bool = False  # a seller took liquidity (false too when the feed did not say)


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
    first_id: int
    last_id: int

    def merged(self, later: Candle) -> Candle:
        """This candle and a later one as one."""
        return replace(self, close_ms=later.close_ms, high=max(self.high, later.high),
                       low=min(self.low, later.low), close=later.close,
                       volume=self.volume + later.volume,
                       quote_volume=self.quote_volume + later.quote_volume,
                       trades=self.trades + later.trades, last_id=later.last_id)

    def spanning(self, open_ms: int, close_ms: int) -> Candle:
        return replace(self, open_ms=open_ms, close_ms=close_ms)


class TapeHistory:
    def __init__(self, keep_trades: int = 1000, keep_minutes: int = 7 * 1440) -> None:
        self._keep_minutes = keep_minutes
        self._keep_trades = keep_trades
        self._trades: dict[str, deque[TapeTrade]] = {}
        self._minutes: dict[str, list[Candle]] = {}  # oldest first
        self._ids = itertools.count(1)

    def record(self, trades: list[MarketTrade]) -> list[tuple[str, TapeTrade]]:
        """Keep `trades`, each given the next trade id; them as kept, with their symbols."""
        recorded = []
        for trade in trades:
            kept = TapeTrade(next(self._ids), trade.price, trade.quantity or ZERO, trade.ts_ms,
                             buyer_maker=trade.aggressor is Side.SELL)
            self._trades.setdefault(trade.symbol, deque(maxlen=self._keep_trades)).append(kept)
            self._add_to_minute(self._minutes.setdefault(trade.symbol, []), kept)
            recorded.append((trade.symbol, kept))
        return recorded

    def add_minutes(self, symbol: str, minutes: list[Candle]) -> None:
        """Recorded one-minute candles older than anything on the tape, oldest first."""
        kept = self._minutes.setdefault(symbol, [])
        kept[:0] = minutes
        del kept[:max(0, len(kept) - self._keep_minutes)]

    def recent(self, symbol: str, limit: int) -> list[TapeTrade]:
        """The newest `limit` kept trades, oldest first."""
        kept = self._trades.get(symbol, deque())
        return list(itertools.islice(kept, max(0, len(kept) - limit), None))

    def between(self, symbol: str, start_ms: int, end_ms: int) -> list[TapeTrade]:
        """Kept trades at `start_ms` <= time <= `end_ms`, in the order they came."""
        return [trade for trade in self._trades.get(symbol, ())
                if start_ms <= trade.time_ms <= end_ms]

    def candles(self, symbol: str, interval_ms: int, start_ms: int, end_ms: int,
                limit: int, *, oldest: bool = False) -> list[Candle]:
        """The intervals from the first trade at or after `start_ms` to `end_ms`, oldest
        first, at most `limit`: the newest ones, or with `oldest` the oldest. An interval
        without a trade repeats the last close with no volume, as Binance's do."""
        traded = self._traded(symbol, interval_ms, start_ms, end_ms)
        if not traded:
            return []
        opens = range(traded[0].open_ms, max(traded[-1].open_ms, end_ms // interval_ms
                                             * interval_ms) + 1, interval_ms)
        opens = opens[:limit] if oldest else opens[-limit:]  # (a range slices lazily)
        by_open = {candle.open_ms: candle for candle in traded}
        at = bisect.bisect_right([candle.open_ms for candle in traded], opens[0]) - 1
        close = traded[at].close
        candles = []
        for opened in opens:
            candle = by_open.get(opened)
            if candle is None:
                candle = Candle(opened, opened + interval_ms - 1, close, close, close, close,
                                ZERO, ZERO, 0, -1, -1)
            candles.append(candle)
            close = candle.close
        return candles

    def months(self, symbol: str, start_ms: int, end_ms: int, limit: int, *,
               oldest: bool = False) -> list[Candle]:
        """Calendar months (UTC) from the kept minutes, oldest first, at most `limit`: the
        newest ones, or with `oldest` the oldest. (A week of minutes is kept: this month's
        candle, and last month's while its last days are kept.)"""
        months: list[Candle] = []
        for minute in self._traded(symbol, MINUTE_MS, start_ms, end_ms):
            opened, closing = _month(minute.open_ms)
            if months and months[-1].open_ms == opened:
                months[-1] = months[-1].merged(minute).spanning(opened, closing)
            else:
                months.append(minute.spanning(opened, closing))
        return months[:limit] if oldest else months[-limit:]

    def _traded(self, symbol: str, interval_ms: int, start_ms: int, end_ms: int) -> list[Candle]:
        """The intervals from `start_ms` to `end_ms` that hold trades, oldest first."""
        if interval_ms < MINUTE_MS:
            pieces = [_candle(trade, interval_ms) for trade in self.between(symbol, start_ms, end_ms)]
        else:
            pieces = [minute for minute in self._minutes.get(symbol, [])
                      if start_ms <= minute.close_ms and minute.open_ms <= end_ms]
        merged: list[Candle] = []
        for piece in pieces:
            opened = piece.open_ms // interval_ms * interval_ms
            if merged and merged[-1].open_ms == opened:
                merged[-1] = merged[-1].merged(piece)
            else:
                merged.append(piece.spanning(opened, opened + interval_ms - 1))
        return merged

    def day(self, symbol: str, now_ms: int) -> Candle | None:
        """The last 24 hours (by whole minutes) as one candle, or None without a trade."""
        return self.window(symbol, now_ms - DAY_MS, now_ms)

    def window(self, symbol: str, start_ms: int, end_ms: int) -> Candle | None:
        """The minutes from `start_ms` to `end_ms` as one candle, or None without a trade
        (a rolling window to the minute, as Binance's tickers count them)."""
        minutes = self._traded(symbol, MINUTE_MS, start_ms, end_ms)
        if not minutes:
            return None
        whole = minutes[0]
        for minute in minutes[1:]:
            whole = whole.merged(minute)
        return whole

    def last_trade(self, symbol: str) -> TapeTrade | None:
        kept = self._trades.get(symbol)
        return kept[-1] if kept else None

    def _add_to_minute(self, minutes: list[Candle], trade: TapeTrade) -> None:
        candle = _candle(trade, MINUTE_MS)
        if minutes and minutes[-1].open_ms == candle.open_ms:
            minutes[-1] = minutes[-1].merged(candle)
            return
        if not minutes or minutes[-1].open_ms < candle.open_ms:
            minutes.append(candle)
        else:  # a trade older than the newest minute (feeds are mostly in order)
            at = bisect.bisect_left([m.open_ms for m in minutes], candle.open_ms)
            if at < len(minutes) and minutes[at].open_ms == candle.open_ms:
                old = minutes[at]
                minutes[at] = replace(old.merged(candle), close=old.close, last_id=old.last_id)
            else:
                minutes.insert(at, candle)
        if len(minutes) > self._keep_minutes:
            del minutes[:len(minutes) - self._keep_minutes]


def _month(at_ms: int) -> tuple[int, int]:
    """The first and the last millisecond of the calendar month (UTC) holding `at_ms`."""
    moment = datetime.fromtimestamp(at_ms / 1000, UTC)
    first = datetime(moment.year, moment.month, 1, tzinfo=UTC)
    following = datetime(first.year + first.month // 12, first.month % 12 + 1, 1, tzinfo=UTC)
    return int(first.timestamp() * 1000), int(following.timestamp() * 1000) - 1


def _candle(trade: TapeTrade, interval_ms: int) -> Candle:
    opened = trade.time_ms // interval_ms * interval_ms
    return Candle(opened, opened + interval_ms - 1, trade.price, trade.price, trade.price,
                  trade.price, trade.quantity, trade.quantity * trade.price, 1, trade.id, trade.id)
