"""Replay a recorded day: Binance's public trade files (data.binance.vision, `trades` or
`aggTrades`, CSV or the ZIP it comes in) published on MARKET_DATA_CHANNEL as Binance's
WebSocket trade events, at the recorded pace, faster, or as fast as Redis takes them.
Its one-minute `klines` files are read too (`read_klines`), for the history a service
starts with (HISTORY_FILES: recorded.py).

The files' layout: spot files have no header (one is skipped if present); a `trades` row is
`id, price, qty, quote_qty, time, is_buyer_maker, is_best_match`, an `aggTrades` row
`agg_id, price, qty, first_id, last_id, time, is_buyer_maker, is_best_match`; times are in
microseconds from 2025 on and in milliseconds before. The symbol is the file name's first
part (`BTCUSDT-trades-2025-01-01.csv`). Rows are taken in id order; several files are
merged by time.
"""

from __future__ import annotations

import csv
import heapq
import io
import time
import zipfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import orjson

from execution_service.domain.symbols import normalize_symbol

_MICROSECONDS = 10**14  # a time beyond this (the year 5138 in ms) is in microseconds
_PUBLISH_BATCH = 500


@dataclass(frozen=True, slots=True)
class RecordedTrade:
    symbol: str
    id: int
    price: Decimal
    quantity: Decimal
    time_ms: int
    buyer_maker: bool  # the seller took liquidity

    def event(self) -> bytes:
        """As Binance's WebSocket `trade` event (what `bus.market_data` reads)."""
        return orjson.dumps({"e": "trade", "E": self.time_ms, "s": self.symbol, "t": self.id,
                             "p": str(self.price), "q": str(self.quantity), "T": self.time_ms,
                             "m": self.buyer_maker, "M": True})


def read(path: Path, symbol: str | None = None) -> list[RecordedTrade]:
    """A file's trades in id order (`symbol` when the file name does not say)."""
    name = symbol or normalize_symbol(path.name.split("-")[0]) or ""
    if not name:
        raise ValueError(f"{path.name}: no symbol in the file name; give one with --symbol")
    trades = [_trade(name, row, path) for row in _rows(path) if row and row[0].strip().isdigit()]
    return sorted(trades, key=lambda trade: trade.id)


@dataclass(frozen=True, slots=True)
class RecordedMinute:
    """One row of a one-minute `klines` file."""

    symbol: str
    open_ms: int
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: Decimal
    quote_volume: Decimal
    trades: int


def read_klines(path: Path, symbol: str | None = None) -> list[RecordedMinute]:
    """A one-minute klines file's candles by time (`BTCUSDT-1m-2025-01-01.zip`: rows of
    open time, open, high, low, close, volume, close time, quote volume, trades, ...)."""
    parts = path.name.split("-")
    name = symbol or normalize_symbol(parts[0]) or ""
    if not name:
        raise ValueError(f"{path.name}: no symbol in the file name")
    if len(parts) < 2 or parts[1] != "1m":
        raise ValueError(f"{path.name}: only one-minute klines (SYMBOL-1m-...) are read")
    minutes = []
    for row in _rows(path):
        if not row or not row[0].strip().isdigit():
            continue  # (a header)
        if len(row) < 9:
            raise ValueError(f"{path.name}: a klines row has 12 columns, not {len(row)}")
        stamp = int(row[0])
        minutes.append(RecordedMinute(
            name, stamp // 1000 if stamp > _MICROSECONDS else stamp, Decimal(row[1]),
            Decimal(row[2]), Decimal(row[3]), Decimal(row[4]), Decimal(row[5]),
            Decimal(row[7]), int(row[8])))
    return sorted(minutes, key=lambda minute: minute.open_ms)


def merged(files: Iterable[list[RecordedTrade]]) -> Iterator[RecordedTrade]:
    """Several files' trades as one tape, by time (then by id)."""
    return heapq.merge(*files, key=lambda trade: (trade.time_ms, trade.id))


def replay(trades: Iterable[RecordedTrade], publish: Callable[[list[bytes]], None],
           speed: float | None, sleep: Callable[[float], None] = time.sleep,
           clock: Callable[[], float] = time.monotonic) -> int:
    """Publish `trades` in order: at `speed` times the recorded pace, or as fast as
    possible (None). Returns how many were published."""
    count, batch = 0, list[bytes]()
    started = clock()
    first_ms: int | None = None
    for trade in trades:
        if speed is not None:
            first_ms = trade.time_ms if first_ms is None else first_ms
            due = started + (trade.time_ms - first_ms) / 1000 / speed
            if (wait := due - clock()) > 0:
                if batch:
                    publish(batch)
                    batch = []
                sleep(wait)
        batch.append(trade.event())
        count += 1
        if len(batch) >= _PUBLISH_BATCH:
            publish(batch)
            batch = []
    if batch:
        publish(batch)
    return count


def _rows(path: Path) -> Iterator[list[str]]:
    if path.suffix.lower() == ".zip":
        with zipfile.ZipFile(path) as archive:
            for member in archive.namelist():
                if member.lower().endswith(".csv"):
                    with archive.open(member) as raw:
                        yield from csv.reader(io.TextIOWrapper(raw, encoding="utf-8"))
        return
    with path.open(newline="", encoding="utf-8") as text:
        yield from csv.reader(text)


def _trade(symbol: str, row: list[str], path: Path) -> RecordedTrade:
    if len(row) == 7:  # trades
        trade_id, price, quantity, moment, maker = row[0], row[1], row[2], row[4], row[5]
    elif len(row) == 8:  # aggTrades
        trade_id, price, quantity, moment, maker = row[0], row[1], row[2], row[5], row[6]
    else:
        raise ValueError(f"{path.name}: a row of {len(row)} columns is neither a trades row (7)"
                         " nor an aggTrades row (8)")
    stamp = int(moment)
    return RecordedTrade(symbol, int(trade_id), Decimal(price), Decimal(quantity),
                         stamp // 1000 if stamp > _MICROSECONDS else stamp,
                         maker.strip().lower() == "true")
