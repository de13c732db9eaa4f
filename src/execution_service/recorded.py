"""Recorded history a service starts with (HISTORY_FILES): Binance's public files from
data.binance.vision, one-minute `klines` or `trades`/`aggTrades` (CSV or ZIP, the symbol
the file name's first part), loaded into the tape the market endpoints answer from, so
that a strategy asking for its startup candles gets recorded ones, not an empty history.

With HISTORY_SHIFT (the default), the recording is moved in time, by whole minutes, so
that it ends when the service starts: its candles are then the ones just before now.
Each symbol's last recorded price becomes its reference price, from which the random
walk (or the feed) goes on. What was loaded is logged: recorded, not live, data.
"""

from __future__ import annotations

import glob
import logging
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

from execution_service.domain.commands import MarketTrade
from execution_service.domain.orders import Side
from execution_service.engine.tape import MINUTE_MS, Candle, TapeHistory
from execution_service.errors import ConfigError
from execution_service.replay import RecordedMinute, RecordedTrade, read, read_klines

log = logging.getLogger(__name__)


@dataclass(slots=True)
class History:
    """The tape loaded from the files, and each symbol's last recorded price."""

    tape: TapeHistory = field(default_factory=TapeHistory)
    last_prices: dict[str, Decimal] = field(default_factory=dict)


def load(patterns: str, now_ms: int, shift: bool = True) -> History:
    """The files named by `patterns` (comma-separated paths or globs) as a tape; a file
    that cannot be read stops the start with a ConfigError naming it."""
    history = History()
    paths = _paths(patterns)
    minutes: list[RecordedMinute] = []
    trades: list[RecordedTrade] = []
    for path in paths:
        try:
            if "-1m-" in path.name:
                minutes += read_klines(path)
            else:
                trades += read(path)
        except (OSError, ValueError, ArithmeticError) as exc:
            raise ConfigError(f"HISTORY_FILES: {path}: {exc}") from None
    ends = [m.open_ms + MINUTE_MS for m in minutes] + [t.time_ms + 1 for t in trades]
    if not ends:
        return history
    offset = (now_ms - max(ends)) // MINUTE_MS * MINUTE_MS if shift else 0
    _add_minutes(history, minutes, offset)
    _add_trades(history, trades, offset)
    log.info("recorded history loaded from %d file(s): %d one-minute candles, %d trades,"
             " %s", len(paths), len(minutes), len(trades),
             f"moved {offset // MINUTE_MS} minutes to end now" if offset else "at its times")
    return history


def _paths(patterns: str) -> list[Path]:
    paths: list[Path] = []
    for pattern in filter(None, (part.strip() for part in patterns.split(","))):
        found = sorted(glob.glob(pattern))
        if not found:
            raise ConfigError(f"HISTORY_FILES: no file matches {pattern!r}")
        paths += [Path(name) for name in found]
    return paths


def _add_minutes(history: History, minutes: list[RecordedMinute], offset: int) -> None:
    by_symbol: dict[str, list[RecordedMinute]] = {}
    for minute in sorted(minutes, key=lambda m: m.open_ms):
        by_symbol.setdefault(minute.symbol, []).append(minute)
    for symbol, rows in by_symbol.items():
        history.tape.add_minutes(symbol, [Candle(
            m.open_ms + offset, m.open_ms + offset + MINUTE_MS - 1, m.open, m.high, m.low,
            m.close, m.volume, m.quote_volume, m.trades, -1, -1) for m in rows])
        history.last_prices[symbol] = rows[-1].close


def _add_trades(history: History, trades: list[RecordedTrade], offset: int) -> None:
    ordered = sorted(trades, key=lambda t: (t.time_ms, t.id))
    history.tape.record([MarketTrade(t.symbol, t.price, t.quantity, t.time_ms + offset,
                                     aggressor=Side.SELL if t.buyer_maker else Side.BUY)
                         for t in ordered])
    for trade in ordered:
        history.last_prices[trade.symbol] = trade.price
