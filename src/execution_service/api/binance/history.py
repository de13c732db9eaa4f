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
    parse_id,
    parse_limit,
    parse_time,
    quantity,
    text,
    tickers,
)
from execution_service.api.deps import Context
from execution_service.api.responses import Answer
from execution_service.domain.codec import whole_number
from execution_service.engine.tape import DAY_MS, MINUTE_MS, Candle, TapeTrade

router = APIRouter()

AVERAGE_MINUTES = 5
_PLACES = Decimal("1e-8")

INTERVALS_MS = {"1s": 1_000, "1m": 60_000, "3m": 180_000, "5m": 300_000, "15m": 900_000,
                 "30m": 1_800_000, "1h": 3_600_000, "2h": 7_200_000, "4h": 14_400_000,
                 "6h": 21_600_000, "8h": 28_800_000, "12h": 43_200_000, "1d": 86_400_000,
                 "3d": 259_200_000, "1w": 604_800_000}


@router.get("/trades", response_model=list[schemas.MarketTrade], responses=REFUSED)
async def recent_trades(context: Context, symbol: SymbolParam = None,
                        limit: LimitParam = None) -> Answer[list[schemas.MarketTrade]]:
    name = listed_symbol(context, symbol)
    trades = context.exchange.tape_history.recent(name, parse_limit(limit, 500, 1000))
    return Answer([_market_trade(t) for t in trades])


@router.get("/historicalTrades", response_model=list[schemas.MarketTrade], responses=REFUSED)
async def historical_trades(context: Context, symbol: SymbolParam = None,
                            limit: LimitParam = None,
                            fromId: Annotated[str | None, Query(max_length=20)] = None,  # noqa: N803
                            ) -> Answer[list[schemas.MarketTrade]]:
    """Older trades of the tape, from `fromId` on (the tape keeps the newest 1,000)."""
    name = listed_symbol(context, symbol)
    count = parse_limit(limit, 500, 1000)
    first = parse_id(fromId, "fromId")
    history = context.exchange.tape_history
    if first is None:
        return Answer([_market_trade(t) for t in history.recent(name, count)])
    kept = [t for t in history.recent(name, 1000) if t.id >= first]
    return Answer([_market_trade(t) for t in kept[:count]])


@router.get("/avgPrice", response_model=schemas.AveragePrice, responses=REFUSED)
async def average_price(context: Context, symbol: SymbolParam = None
                        ) -> Answer[schemas.AveragePrice]:
    """The volume-weighted price of the last 5 minutes' trades (the last price without any)."""
    name = listed_symbol(context, symbol)
    price, close_ms = average(context, name, now_ms(context.clock))
    return Answer({"mins": AVERAGE_MINUTES, "price": text(price), "closeTime": close_ms})


def average(context: Context, name: str, now: int) -> tuple[Decimal, int]:
    """The volume-weighted price of the last `AVERAGE_MINUTES`' trades (the last price
    without any), and the last trade's time (now without any)."""
    history = context.exchange.tape_history
    traded = history.between(name, now - AVERAGE_MINUTES * MINUTE_MS, now)
    volume = sum((t.quantity for t in traded), Decimal(0))
    last = history.last_trade(name)
    if volume:
        price = sum((t.price * t.quantity for t in traded), Decimal(0)) / volume
    else:
        price = context.exchange.last_price(name) or Decimal(0)
    return price.quantize(_PLACES), last.time_ms if last else now


def _market_trade(t: TapeTrade) -> schemas.MarketTrade:
    return {"id": t.id, "price": text(t.price), "qty": text(t.quantity),
            "quoteQty": text(t.price * t.quantity), "time": t.time_ms,
            "isBuyerMaker": t.buyer_maker, "isBestMatch": True}


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


@router.get("/uiKlines", response_model=list[schemas.Kline], responses=REFUSED)
@router.get("/klines", response_model=list[schemas.Kline], responses=REFUSED)
async def klines(context: Context, symbol: SymbolParam = None,
                 interval: Annotated[str | None, Query(max_length=4)] = None,
                 startTime: TimeParam = None,  # noqa: N803
                 endTime: TimeParam = None, limit: LimitParam = None  # noqa: N803
                 ) -> Answer[list[schemas.Kline]]:
    """Candles from the tape: from the first trade kept on, an interval without a trade
    repeating the last close, as Binance's do (uiKlines: the same candles)."""
    name = listed_symbol(context, symbol)
    if not interval:
        raise BinanceError.missing("interval")
    interval_ms = INTERVALS_MS.get(interval)
    if interval_ms is None and interval != "1M":
        raise BinanceError(-1120, "Invalid interval.")
    now = now_ms(context.clock)
    start, end = parse_time(startTime, "startTime", 0), min(parse_time(endTime, "endTime", now), now)
    count = parse_limit(limit, 500, 1000)
    history = context.exchange.tape_history
    if interval_ms is None:  # 1M: calendar months, from the minutes kept
        candles = history.months(name, start, end, count, oldest=startTime is not None)
    else:
        candles = history.candles(name, interval_ms, start, end, count,
                                  oldest=startTime is not None)
    return Answer([kline_row(candle) for candle in candles])


def kline_row(c: Candle) -> schemas.Kline:
    """A candle as Binance's klines list it."""
    return [c.open_ms, text(c.open), text(c.high), text(c.low), text(c.close), text(c.volume),
            c.close_ms, text(c.quote_volume), c.trades, text(Decimal(0)), text(Decimal(0)), "0"]


TypeParam = Annotated[str | None, Query(max_length=4, description="FULL (the default) or MINI")]


@router.get("/ticker/24hr", response_model=schemas.DayTicker | list[schemas.DayTicker]
            | schemas.MiniTicker | list[schemas.MiniTicker], responses=REFUSED)
async def ticker_24hr(context: Context, symbol: SymbolParam = None, symbols: SymbolsParam = None,
                      type: TypeParam = None,
                      ) -> Answer[schemas.DayTicker | list[schemas.DayTicker]
                                  | schemas.MiniTicker | list[schemas.MiniTicker]]:
    now = now_ms(context.clock)
    if _full(type):
        full = tickers(context, symbol, symbols, lambda name: day_ticker(context, name))
        return Answer(full)
    mini = tickers(context, symbol, symbols, lambda name: mini_ticker(context, name, now - DAY_MS, now))
    return Answer(mini)


@router.get("/ticker", response_model=schemas.RollingTicker | list[schemas.RollingTicker]
            | schemas.MiniTicker | list[schemas.MiniTicker], responses=REFUSED)
async def ticker_window(context: Context, symbol: SymbolParam = None,
                        symbols: SymbolsParam = None,
                        windowSize: Annotated[str | None, Query(max_length=4)] = None,  # noqa: N803
                        type: TypeParam = None,
                        ) -> Answer[schemas.RollingTicker | list[schemas.RollingTicker]
                                    | schemas.MiniTicker | list[schemas.MiniTicker]]:
    """The rolling window `windowSize` (1m to 59m, 1h to 23h, 1d to 7d; 1d unless given),
    to the minute."""
    _symbol_or_symbols(symbol, symbols)
    window = _window_ms(windowSize or "1d")
    now = now_ms(context.clock)
    return _window_tickers(context, symbol, symbols, now - window, now, _full(type))


@router.get("/ticker/tradingDay", response_model=schemas.RollingTicker
            | list[schemas.RollingTicker] | schemas.MiniTicker | list[schemas.MiniTicker],
            responses=REFUSED)
async def ticker_trading_day(context: Context, symbol: SymbolParam = None,
                             symbols: SymbolsParam = None,
                             timeZone: Annotated[str | None, Query(max_length=6)] = None,  # noqa: N803
                             type: TypeParam = None,
                             ) -> Answer[schemas.RollingTicker | list[schemas.RollingTicker]
                                         | schemas.MiniTicker | list[schemas.MiniTicker]]:
    """Today so far, the day beginning at midnight in `timeZone` (whole hours from UTC,
    -12 to 14; UTC unless given)."""
    _symbol_or_symbols(symbol, symbols)
    now = now_ms(context.clock)
    offset = _time_zone_ms(timeZone)
    day_start = (now + offset) // DAY_MS * DAY_MS - offset
    return _window_tickers(context, symbol, symbols, day_start, now, _full(type))


def _window_tickers(context: Context, symbol: str | None, symbols: str | None, start_ms: int,
                    now: int, full: bool) -> Answer[schemas.RollingTicker
                                                   | list[schemas.RollingTicker]
                                                   | schemas.MiniTicker
                                                   | list[schemas.MiniTicker]]:
    if full:
        rolling = tickers(context, symbol, symbols,
                          lambda name: rolling_ticker(context, name, start_ms, now))
        return Answer(rolling)
    mini = tickers(context, symbol, symbols, lambda name: mini_ticker(context, name, start_ms, now))
    return Answer(mini)


def _symbol_or_symbols(symbol: str | None, symbols: str | None) -> None:
    if not symbol and not symbols:
        raise BinanceError(-1102, "Param 'symbol' or 'symbols' must be sent, but both were"
                                  " empty/null!")


def _full(kind: str | None) -> bool:
    if kind in (None, "", "FULL"):
        return True
    if kind == "MINI":
        return False
    raise BinanceError.illegal("type", "FULL, MINI")


def _window_ms(size: str) -> int:
    unit = {"m": MINUTE_MS, "h": 60 * MINUTE_MS, "d": DAY_MS}.get(size[-1:])
    count = whole_number(size[:-1], 2) if unit else None
    most = {MINUTE_MS: 59, 60 * MINUTE_MS: 23, DAY_MS: 7}.get(unit or 0, 0)
    if unit is None or count is None or not 1 <= count <= most:
        raise BinanceError.illegal("windowSize", "1m-59m, 1h-23h, 1d-7d")
    return count * unit


def _time_zone_ms(zone: str | None) -> int:
    if not zone:
        return 0
    sign = -1 if zone.startswith("-") else 1
    hours = whole_number(zone.lstrip("+-").removesuffix(":00"), 2)
    if hours is None or not -12 <= sign * hours <= 14:
        raise BinanceError.illegal("timeZone", "-12:00 to +14:00, whole hours")
    return sign * hours * 60 * MINUTE_MS


def mini_ticker(context: Context, name: str, start_ms: int, now: int) -> schemas.MiniTicker | None:
    """The window's prices, volume and trades (Binance's MINI ticker)."""
    last = context.exchange.last_price(name)
    if last is None:
        return None
    window = context.exchange.tape_history.window(name, start_ms, now)
    if window is None:
        return {"symbol": name, "openPrice": text(last), "highPrice": text(last),
                "lowPrice": text(last), "lastPrice": text(last), "volume": text(Decimal(0)),
                "quoteVolume": text(Decimal(0)), "openTime": start_ms, "closeTime": now,
                "firstId": -1, "lastId": -1, "count": 0}
    return {"symbol": name, "openPrice": text(window.open),
            "highPrice": text(max(window.high, last)), "lowPrice": text(min(window.low, last)),
            "lastPrice": text(last), "volume": text(window.volume),
            "quoteVolume": text(window.quote_volume), "openTime": window.open_ms,
            "closeTime": now, "firstId": window.first_id, "lastId": window.last_id,
            "count": window.trades}


def rolling_ticker(context: Context, name: str, start_ms: int, now: int
             ) -> schemas.RollingTicker | None:
    """The MINI ticker and the change over the window (Binance's FULL)."""
    mini = mini_ticker(context, name, start_ms, now)
    if mini is None:
        return None
    opened, last = Decimal(mini["openPrice"]), Decimal(mini["lastPrice"])
    volume, quote_volume = Decimal(mini["volume"]), Decimal(mini["quoteVolume"])
    change = last - opened
    return {**mini, "priceChange": text(change),
            "priceChangePercent": f"{change / opened * 100:.3f}" if opened else "0.000",
            "weightedAvgPrice": text((quote_volume / volume if volume else last).quantize(_PLACES))}


def day_ticker(context: Context, name: str) -> schemas.DayTicker | None:
    """The last 24 hours (Binance's 24hr ticker): the FULL ticker, the book's best levels
    and the last trade's quantity."""
    now = now_ms(context.clock)
    rolling = rolling_ticker(context, name, now - DAY_MS, now)
    book = context.exchange.book(name, 1)
    if rolling is None or book is None:
        return None
    last_trade = context.exchange.tape_history.last_trade(name)
    (bid, *_), (ask, *_) = book[0] or [EMPTY], book[1] or [EMPTY]
    ticker: schemas.DayTicker = {
        **rolling, "prevClosePrice": rolling["openPrice"],
        "lastQty": text(last_trade.quantity if last_trade else Decimal(0)),
        "bidPrice": text(bid.price), "bidQty": quantity(bid, context, name),
        "askPrice": text(ask.price), "askQty": quantity(ask, context, name)}
    return ticker
