"""The public market history, from the tape the service has seen (`engine/tape.py`: the
market-data trades of committed batches, live or synthetic; the newest 1,000 trades and
a week of one-minute candles per symbol): trades, aggTrades, klines, ticker/24hr.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated

from fastapi import APIRouter, Query

from execution_service.api import schemas
from execution_service.api.binance.errors import BinanceError
from execution_service.api.binance.params import (
    EMPTY,
    REFUSED,
    LimitParam,
    SymbolParam,
    SymbolsParam,
    TimeParam,
    listed_symbol,
    now_ms,
    parse_limit,
    parse_time,
    quantity,
    text,
    tickers,
)
from execution_service.api.deps import Context
from execution_service.api.responses import Answer
from execution_service.engine.tape import DAY_MS

router = APIRouter()

_INTERVALS_MS = {"1s": 1_000, "1m": 60_000, "3m": 180_000, "5m": 300_000, "15m": 900_000,
                 "30m": 1_800_000, "1h": 3_600_000, "2h": 7_200_000, "4h": 14_400_000,
                 "6h": 21_600_000, "8h": 28_800_000, "12h": 43_200_000, "1d": 86_400_000,
                 "3d": 259_200_000, "1w": 604_800_000}


@router.get("/trades", response_model=list[schemas.MarketTrade], responses=REFUSED)
async def recent_trades(context: Context, symbol: SymbolParam = None,
                        limit: LimitParam = None) -> Answer[list[schemas.MarketTrade]]:
    name = listed_symbol(context, symbol)
    trades = context.exchange.tape_history.recent(name, parse_limit(limit, 500, 1000))
    return Answer([{"id": t.id, "price": text(t.price), "qty": text(t.quantity),
                          "quoteQty": text(t.price * t.quantity), "time": t.time_ms,
                          "isBuyerMaker": t.buyer_maker, "isBestMatch": True} for t in trades])


@router.get("/aggTrades", response_model=list[schemas.AggregateTrade], responses=REFUSED)
async def aggregate_trades(context: Context, symbol: SymbolParam = None, limit: LimitParam = None,
                           startTime: TimeParam = None,  # noqa: N803 (Binance's names)
                           endTime: TimeParam = None  # noqa: N803
                           ) -> Answer[list[schemas.AggregateTrade]]:
    """Each tape trade is its own aggregate (a feed's trades come already aggregated)."""
    name = listed_symbol(context, symbol)
    count = parse_limit(limit, 500, 1000)
    history = context.exchange.tape_history
    if startTime or endTime:
        trades = history.between(name, parse_time(startTime, "startTime", 0),
                                 parse_time(endTime, "endTime", now_ms(context.clock)))[:count]
    else:
        trades = history.recent(name, count)
    return Answer([{"a": t.id, "p": text(t.price), "q": text(t.quantity), "f": t.id,
                          "l": t.id, "T": t.time_ms, "m": t.buyer_maker, "M": True} for t in trades])


@router.get("/klines", response_model=list[schemas.Kline], responses=REFUSED)
async def klines(context: Context, symbol: SymbolParam = None,
                 interval: Annotated[str | None, Query(max_length=4)] = None,
                 startTime: TimeParam = None,  # noqa: N803
                 endTime: TimeParam = None, limit: LimitParam = None  # noqa: N803
                 ) -> Answer[list[schemas.Kline]]:
    """Candles from the tape: from the first trade kept on, an interval without a trade
    repeating the last close, as Binance's do."""
    name = listed_symbol(context, symbol)
    if not interval:
        raise BinanceError.missing("interval")
    interval_ms = _INTERVALS_MS.get(interval)
    if interval_ms is None:
        raise BinanceError(-1120, "Invalid interval.")
    now = now_ms(context.clock)
    candles = context.exchange.tape_history.candles(
        name, interval_ms, parse_time(startTime, "startTime", 0),
        min(parse_time(endTime, "endTime", now), now), parse_limit(limit, 500, 1000),
        oldest=startTime is not None)
    return Answer([[c.open_ms, text(c.open), text(c.high), text(c.low), text(c.close),
                          text(c.volume), c.close_ms, text(c.quote_volume), c.trades,
                          text(Decimal(0)), text(Decimal(0)), "0"] for c in candles])


@router.get("/ticker/24hr", response_model=schemas.DayTicker | list[schemas.DayTicker],
             responses=REFUSED)
async def ticker_24hr(context: Context, symbol: SymbolParam = None,
                      symbols: SymbolsParam = None
                      ) -> Answer[schemas.DayTicker | list[schemas.DayTicker]]:
    return Answer(tickers(context, symbol, symbols, lambda name: _day_ticker(context, name)))


def _day_ticker(context: Context, name: str) -> schemas.DayTicker | None:
    last = context.exchange.last_price(name)
    book = context.exchange.book(name, 1)
    if last is None or book is None:
        return None
    now = now_ms(context.clock)
    history = context.exchange.tape_history
    day = history.day(name, now)
    last_trade = history.last_trade(name)
    opened = day.open if day else last
    (bid, *_), (ask, *_) = book[0] or [EMPTY], book[1] or [EMPTY]
    change = last - opened
    ticker: schemas.DayTicker = {
        "symbol": name, "priceChange": text(change),
        "priceChangePercent": f"{change / opened * 100:.3f}" if opened else "0.000",
        "weightedAvgPrice": text(day.quote_volume / day.volume if day and day.volume else last),
        "prevClosePrice": text(opened), "lastPrice": text(last),
        "lastQty": text(last_trade.quantity if last_trade else Decimal(0)),
        "bidPrice": text(bid.price), "bidQty": quantity(bid, context, name),
        "askPrice": text(ask.price), "askQty": quantity(ask, context, name),
        "openPrice": text(opened), "highPrice": text(max(day.high, last) if day else last),
        "lowPrice": text(min(day.low, last) if day else last),
        "volume": text(day.volume if day else Decimal(0)),
        "quoteVolume": text(day.quote_volume if day else Decimal(0)),
        "openTime": day.open_ms if day else now - DAY_MS, "closeTime": now,
        "firstId": day.first_id if day else -1, "lastId": day.last_id if day else -1,
        "count": day.trades if day else 0,
    }
    return ticker
