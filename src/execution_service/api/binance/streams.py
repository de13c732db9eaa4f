"""Binance's market streams, from the same tape and book the REST answers come from.

Streams (the symbol in lower case, as Binance names them):

- `<symbol>@trade`, `<symbol>@aggTrade`: each trade of the tape as it is committed (an
  aggregate trade is one trade here: `a`, `f` and `l` are its trade id);
- `<symbol>@kline_<interval>`: the current candle, every second while it changes and at
  least every 2 seconds, then once more closed (`x` true) when the next one opens; the
  same candles as `/api/v3/klines`;
- `<symbol>@depth<5|10|20>[@100ms]`: the top of the book every second (or 100 ms);
- `<symbol>@depth[@100ms]`: the book's changes every second (or 100 ms), numbered so
  that a client can follow the book from a `/api/v3/depth` snapshot as Binance's
  documentation prescribes (`DepthBook`);
- `<symbol>@bookTicker`: the best bid and ask, every 100 ms when they change;
- `<symbol>@ticker`, `<symbol>@miniTicker`: the rolling 24 hours, every second;
  `<symbol>@ticker_<1h|4h|1d>`: that rolling window;
- `!miniTicker@arr`, `!ticker_<1h|4h|1d>@arr`: the same for every symbol with a price
  whose figures changed since the last second;
- `<symbol>@avgPrice`: `/api/v3/avgPrice`'s five-minute average, every second.

The trades are pushed when the pipeline commits them (`committed`); the rest are sampled
by one task (`_sample`), which runs while anyone listens.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from execution_service.api.binance.history import (
    AVERAGE_MINUTES,
    INTERVALS_MS,
    average,
    day_ticker,
    mini_ticker,
    rolling_ticker,
)
from execution_service.api.binance.hub import Background, StreamHub
from execution_service.api.binance.params import now_ms, quantity, text
from execution_service.api.context import ApiContext
from execution_service.engine.tape import DAY_MS, Candle, TapeTrade

LOG = logging.getLogger(__name__)

TICK_S = 0.1
_SECOND_TICKS = 10
_KLINE_AT_LEAST_TICKS = 20  # a kline unchanged is sent again after 2 seconds
_DEPTH_LEVELS = 5000  # what the diff stream follows: the whole synthetic book (50 a side)
_STREAM = re.compile(
    r"(?:(?P<symbol>[a-z0-9]{2,20})@|(?P<every>!))(?P<kind>trade|aggTrade|bookTicker|miniTicker|avgPrice"
    r"|ticker(?:_(?P<window>1h|4h|1d))?"
    r"|kline_(?P<interval>1s|1m|3m|5m|15m|30m|1h|2h|4h|6h|8h|12h|1d|3d|1w)"
    r"|depth(?P<levels>5|10|20)?(?:@(?P<speed>100ms|1000ms))?)(?P<all>@arr)?")
_WINDOWS_MS = {"1h": 3_600_000, "4h": 4 * 3_600_000, "1d": DAY_MS}
ALL = "*"  # the symbol of the all-market streams


@dataclass(frozen=True, slots=True)
class StreamName:
    symbol: str  # upper case, as the REST API names it
    kind: str  # trade, aggTrade, kline, depth, bookTicker, ticker, miniTicker
    interval: str | None = None  # a kline's
    levels: int | None = None  # a partial book's (None: the diff stream)
    fast: bool = False  # @100ms
    window: str | None = None  # a rolling window ticker's (None: 24 hours)


def parse_stream(name: str) -> StreamName | None:
    """A market stream's name as Binance spells it; None for anything else."""
    match = _STREAM.fullmatch(name)
    if match is None:
        return None
    kind, every = match["kind"], match["every"] is not None
    if every != bool(match["all"]) or (every and not (
            kind == "miniTicker" or match["window"])):  # (!miniTicker@arr, !ticker_1h@arr)
        return None
    symbol = ALL if every else match["symbol"].upper()
    if kind.startswith("kline_"):
        return StreamName(symbol, "kline", interval=match["interval"])
    if kind.startswith("depth"):
        levels = match["levels"]
        return StreamName(symbol, "depth", levels=int(levels) if levels else None,
                          fast=match["speed"] == "100ms")
    if kind.startswith("ticker"):
        return StreamName(symbol, "ticker", window=match["window"])
    return StreamName(symbol, kind)


@dataclass
class DepthBook:
    """A symbol's book as the depth streams and `/api/v3/depth` show it. Each sample that
    finds a change gets the next update id; a diff stream sends what changed since it last
    sent, numbered from after its last `u` to the current id. A snapshot is the latest
    sample with its id, so the first diff a client keeps after it has `U` <= its
    `lastUpdateId` + 1 <= `u`, and each next diff's `U` is the last one's `u` + 1."""

    update_id: int = 0
    bids: dict[str, str] = field(default_factory=dict)  # price -> quantity, as written
    asks: dict[str, str] = field(default_factory=dict)
    # by diff stream: the update id and the book it last sent
    sent: dict[str, tuple[int, dict[str, str], dict[str, str]]] = field(default_factory=dict)

    def take(self, bids: list[list[str]], asks: list[list[str]]) -> None:
        new_bids = {price: amount for price, amount in bids}
        new_asks = {price: amount for price, amount in asks}
        if (new_bids, new_asks) != (self.bids, self.asks):
            self.bids, self.asks = new_bids, new_asks
            self.update_id += 1

    def snapshot(self, count: int) -> tuple[int, list[list[str]], list[list[str]]]:
        return (self.update_id, [[p, q] for p, q in list(self.bids.items())[:count]],
                [[p, q] for p, q in list(self.asks.items())[:count]])

    def diff(self, stream: str) -> tuple[int, int, list[list[str]], list[list[str]]] | None:
        """What changed since `stream` last sent: (U, u, bids, asks)."""
        last_u, bids, asks = self.sent.get(stream, (0, {}, {}))
        if last_u == self.update_id:
            return None
        self.sent[stream] = (self.update_id, self.bids, self.asks)
        return (last_u + 1, self.update_id, _changes(bids, self.bids), _changes(asks, self.asks))


def _changes(before: Mapping[str, str], after: Mapping[str, str]) -> list[list[str]]:
    """Levels that changed, with their new quantity; "0" for a level gone."""
    changed = [[price, amount] for price, amount in after.items() if before.get(price) != amount]
    return changed + [[price, "0.00000000"] for price in before if price not in after]


class MarketStreams:
    """Turns the tape and the book into stream events for the hub."""

    def __init__(self, hub: StreamHub) -> None:
        self.hub = hub
        self._wanted: dict[str, StreamName] = {}  # the market streams listened to
        self._books: dict[str, DepthBook] = {}
        self._klines: dict[str, tuple[Candle, int]] = {}  # by stream: last sent, at tick
        self._tickers: dict[str, Any] = {}  # by stream: the last sent (bookTicker, !...@arr)
        self._task = Background()
        self._ticks = 0

    def changed(self, stream: str, listened: bool) -> None:
        """The hub's `on_change`: only streams Binance names are sampled (a socket may ask
        for any name, and gets nothing for one that is not a stream)."""
        if not listened:
            self._wanted.pop(stream, None)
            self._klines.pop(stream, None)
            self._tickers.pop(stream, None)
            for book in self._books.values():
                book.sent.pop(stream, None)
        elif (name := parse_stream(stream)) is not None:
            self._wanted[stream] = name

    # The tape, as committed

    def committed(self, tape: Sequence[tuple[str, TapeTrade]], event_ms: int) -> None:
        for symbol, trade in tape:
            name = symbol.lower()
            for kind in ("trade", "aggTrade"):
                stream = f"{name}@{kind}"
                if self.hub.listened(stream):
                    self.hub.publish(stream, _trade_event(kind, symbol, trade, event_ms))

    # The book, sampled

    def depth(self, context: ApiContext, symbol: str, count: int
              ) -> tuple[int, list[list[str]], list[list[str]]] | None:
        """The book now, `count` levels a side, with its update id (`/api/v3/depth`)."""
        book = self._sampled(context, symbol)
        return None if book is None else book.snapshot(count)

    def _sampled(self, context: ApiContext, symbol: str) -> DepthBook | None:
        levels = context.exchange.book(symbol, _DEPTH_LEVELS)
        if levels is None:
            return None
        book = self._books.setdefault(symbol, DepthBook())
        book.take(*[[[text(level.price), quantity(level, context, symbol)] for level in side]
                    for side in levels])
        return book

    def start(self, context: ApiContext) -> None:
        """Sample for the listeners (from now until none is left)."""
        self._task.ensure(lambda: self._run(context))

    async def close(self) -> None:
        await self._task.stop()

    async def _run(self, context: ApiContext) -> None:
        while self.hub.listeners:
            try:
                self._sample(context)
            except Exception:  # one bad sample may fail; the streams may not
                LOG.exception("sampling the market streams failed")
            self._ticks += 1
            await asyncio.sleep(TICK_S)

    def _sample(self, context: ApiContext) -> None:
        second = self._ticks % _SECOND_TICKS == 0
        now = now_ms(context.clock)
        books: dict[str, DepthBook | None] = {}
        markets = context.exchange.markets()
        for stream, name in list(self._wanted.items()):
            if name.symbol == ALL:
                if second:
                    self._all_tickers(context, stream, name, markets, now)
                continue
            if name.symbol not in markets:
                continue
            if name.kind == "bookTicker":
                self._book_ticker(context, stream, name.symbol)
            elif name.kind == "depth" and (name.fast or second):
                if name.symbol not in books:
                    books[name.symbol] = self._sampled(context, name.symbol)
                self._depth(stream, name, books[name.symbol], now)
            elif second and name.kind == "kline":
                self._kline(context, stream, name, now)
            elif second and name.kind in ("ticker", "miniTicker"):
                self._ticker(context, stream, name, now)
            elif second and name.kind == "avgPrice":
                price, last_ms = average(context, name.symbol, now)
                self.hub.publish(stream, {"e": "avgPrice", "E": now, "s": name.symbol,
                                          "i": f"{AVERAGE_MINUTES}m", "w": text(price),
                                          "T": last_ms})

    def _depth(self, stream: str, name: StreamName, book: DepthBook | None, now: int) -> None:
        if book is None:
            return
        if name.levels is not None:
            update_id, bids, asks = book.snapshot(name.levels)
            self.hub.publish(stream, {"lastUpdateId": update_id, "bids": bids, "asks": asks})
            return
        changed = book.diff(stream)
        if changed is not None:
            first, last, bids, asks = changed
            self.hub.publish(stream, {"e": "depthUpdate", "E": now, "s": name.symbol,
                                      "U": first, "u": last, "b": bids, "a": asks})

    def _book_ticker(self, context: ApiContext, stream: str, symbol: str) -> None:
        levels = context.exchange.book(symbol, 1)
        if levels is None or not levels[0] or not levels[1]:
            return
        (bid, *_), (ask, *_) = levels
        best = (text(bid.price), quantity(bid, context, symbol), text(ask.price),
                quantity(ask, context, symbol))
        if self._tickers.get(stream) == best:
            return
        self._tickers[stream] = best
        book = self._books.setdefault(symbol, DepthBook())
        self.hub.publish(stream, {"u": book.update_id, "s": symbol, "b": best[0], "B": best[1],
                                  "a": best[2], "A": best[3]})

    def _kline(self, context: ApiContext, stream: str, name: StreamName, now: int) -> None:
        assert name.interval is not None
        interval = INTERVALS_MS[name.interval]
        history = context.exchange.tape_history
        opened = now // interval * interval
        current = history.candles(name.symbol, interval, opened, now, 1)
        if not current:
            return
        candle = current[-1]
        sent = self._klines.get(stream)
        if sent is not None and sent[0].open_ms < candle.open_ms:  # the last one closed
            closed = history.candles(name.symbol, interval, sent[0].open_ms, sent[0].close_ms, 1)
            if closed:
                self.hub.publish(stream, _kline_event(name, closed[-1], now, final=True))
        if sent is None or sent[0] != candle or self._ticks - sent[1] >= _KLINE_AT_LEAST_TICKS:
            self._klines[stream] = (candle, self._ticks)
            self.hub.publish(stream, _kline_event(name, candle, now, final=False))

    def _ticker(self, context: ApiContext, stream: str, name: StreamName, now: int) -> None:
        event = _ticker_event(context, name, name.symbol, now)
        if event is not None:
            self.hub.publish(stream, event)

    def _all_tickers(self, context: ApiContext, stream: str, name: StreamName,
                     markets: Mapping[str, object], now: int) -> None:
        """Every symbol's ticker whose figures changed since this stream last sent."""
        sent = self._tickers.setdefault(stream, {})
        changed = []
        for symbol in sorted(markets):
            if context.exchange.last_price(symbol) is None:
                continue
            event = _ticker_event(context, name, symbol, now)
            figures = event and {k: v for k, v in event.items() if k not in ("E", "C")}
            if event is not None and sent.get(symbol) != figures:
                sent[symbol] = figures
                changed.append(event)
        if changed:
            self.hub.publish(stream, changed)


def _ticker_event(context: ApiContext, name: StreamName, symbol: str, now: int
                  ) -> dict[str, Any] | None:
    """A ticker stream's event for `symbol`: the 24-hour mini or full ticker, or a rolling
    window's."""
    if name.kind == "miniTicker":
        mini = mini_ticker(context, symbol, now - DAY_MS, now)
        return None if mini is None else {
            "e": "24hrMiniTicker", "E": now, "s": symbol, "c": mini["lastPrice"],
            "o": mini["openPrice"], "h": mini["highPrice"], "l": mini["lowPrice"],
            "v": mini["volume"], "q": mini["quoteVolume"]}
    if name.window is not None:
        rolling = rolling_ticker(context, symbol, now - _WINDOWS_MS[name.window], now)
        return None if rolling is None else {
            "e": f"{name.window}Ticker", "E": now, "s": symbol, "p": rolling["priceChange"],
            "P": rolling["priceChangePercent"], "o": rolling["openPrice"],
            "h": rolling["highPrice"], "l": rolling["lowPrice"], "c": rolling["lastPrice"],
            "w": rolling["weightedAvgPrice"], "v": rolling["volume"],
            "q": rolling["quoteVolume"], "O": rolling["openTime"], "C": rolling["closeTime"],
            "F": rolling["firstId"], "L": rolling["lastId"], "n": rolling["count"]}
    day = day_ticker(context, symbol)
    return None if day is None else {
        "e": "24hrTicker", "E": now, "s": symbol, "p": day["priceChange"],
        "P": day["priceChangePercent"], "w": day["weightedAvgPrice"],
        "x": day["prevClosePrice"], "c": day["lastPrice"], "Q": day["lastQty"],
        "b": day["bidPrice"], "B": day["bidQty"], "a": day["askPrice"], "A": day["askQty"],
        "o": day["openPrice"], "h": day["highPrice"], "l": day["lowPrice"],
        "v": day["volume"], "q": day["quoteVolume"], "O": day["openTime"],
        "C": day["closeTime"], "F": day["firstId"], "L": day["lastId"], "n": day["count"]}


def _trade_event(kind: str, symbol: str, trade: TapeTrade, event_ms: int) -> dict[str, Any]:
    price, amount = text(trade.price), text(trade.quantity)
    if kind == "trade":
        return {"e": "trade", "E": event_ms, "s": symbol, "t": trade.id, "p": price,
                "q": amount, "T": trade.time_ms, "m": trade.buyer_maker, "M": True}
    return {"e": "aggTrade", "E": event_ms, "s": symbol, "a": trade.id, "p": price,
            "q": amount, "f": trade.id, "l": trade.id, "T": trade.time_ms,
            "m": trade.buyer_maker, "M": True}


def _kline_event(name: StreamName, c: Candle, now: int, *, final: bool) -> dict[str, Any]:
    zero = text(Decimal(0))
    return {"e": "kline", "E": now, "s": name.symbol, "k": {
        "t": c.open_ms, "T": c.close_ms, "s": name.symbol, "i": name.interval,
        "f": c.first_id, "L": c.last_id, "o": text(c.open), "c": text(c.close),
        "h": text(c.high), "l": text(c.low), "v": text(c.volume), "n": c.trades, "x": final,
        "q": text(c.quote_volume), "V": zero, "Q": zero, "B": "0"}}
