"""The public market data: ping, time, exchangeInfo, ticker/price, ticker/bookTicker, depth,
and the history: trades, aggTrades, klines, ticker/24hr.

The symbols are those the service has filters for (its built-in pairs, an
`EXCHANGE_INFO_FILE`'s, and any it derived for an order); prices and the book are the
ones market orders fill against now: the last price (live or the random walk) and the
synthetic book around it, less what this service's orders took from it. The history is
the market-data trades of committed batches (`engine/tape.py`), live or synthetic: the
newest 1,000 trades and a week of one-minute candles per symbol.
"""

from __future__ import annotations

import json
import time
from decimal import Decimal
from typing import Annotated, Any

from fastapi import APIRouter, Query

from execution_service.api.binance.errors import BinanceError
from execution_service.api.deps import Context
from execution_service.api.responses import JSONResponse
from execution_service.domain.symbols import split_symbol
from execution_service.engine.book import Level
from execution_service.engine.filters import SymbolFilters
from execution_service.engine.tape import DAY_MS

router = APIRouter(prefix="/api/v3", tags=["binance"])

ORDER_TYPES = ["LIMIT", "LIMIT_MAKER", "MARKET", "STOP_LOSS", "STOP_LOSS_LIMIT", "TAKE_PROFIT",
               "TAKE_PROFIT_LIMIT"]
PRECISION = 8  # every asset's, as the service keeps amounts
_SYMBOLS_RANGE = '^\\[("[A-Z0-9-_.]{1,20}"(,"[A-Z0-9-_.]{1,20}"){0,}){0,1}\\]$'
_DEPTH_MAX = 5000

SymbolParam = Annotated[str | None, Query(max_length=40)]
SymbolsParam = Annotated[str | None, Query(max_length=20_000)]


@router.get("/ping")
async def ping() -> JSONResponse:
    return JSONResponse({})


@router.get("/time")
async def server_time() -> JSONResponse:
    return JSONResponse({"serverTime": _now_ms()})


@router.get("/exchangeInfo")
async def exchange_info(context: Context, symbol: SymbolParam = None,
                        symbols: SymbolsParam = None) -> JSONResponse:
    markets = context.pipeline.markets()
    listed = _chosen(markets, symbol, symbols) or sorted(
        name for name in markets if split_symbol(name) is not None)
    return JSONResponse({
        "timezone": "UTC", "serverTime": _now_ms(), "rateLimits": [], "exchangeFilters": [],
        "symbols": [_symbol_info(name, markets[name]) for name in listed]})


@router.get("/ticker/price")
async def ticker_price(context: Context, symbol: SymbolParam = None,
                       symbols: SymbolsParam = None) -> JSONResponse:
    chosen = _chosen(context.pipeline.markets(), symbol, symbols)
    prices = []
    for name in chosen or sorted(context.pipeline.markets()):
        price = context.pipeline.last_price(name)
        if price is not None:
            prices.append({"symbol": name, "price": _text(price)})
        elif chosen:
            raise BinanceError.bad_symbol()
    return JSONResponse(prices[0] if symbol else prices)


@router.get("/ticker/bookTicker")
async def book_ticker(context: Context, symbol: SymbolParam = None,
                      symbols: SymbolsParam = None) -> JSONResponse:
    chosen = _chosen(context.pipeline.markets(), symbol, symbols)
    tickers = []
    for name in chosen or sorted(context.pipeline.markets()):
        book = context.pipeline.book(name, 1)
        if book is None:
            if chosen:
                raise BinanceError.bad_symbol()
            continue
        (bid, *_), (ask, *_) = book[0] or [_EMPTY], book[1] or [_EMPTY]
        tickers.append({"symbol": name, "bidPrice": _text(bid.price),
                        "bidQty": _quantity(bid, context, name),
                        "askPrice": _text(ask.price), "askQty": _quantity(ask, context, name)})
    return JSONResponse(tickers[0] if symbol else tickers)


@router.get("/depth")
async def depth(context: Context, symbol: SymbolParam = None,
                limit: Annotated[str | None, Query(max_length=10)] = None) -> JSONResponse:
    if not symbol:
        raise BinanceError.missing("symbol")
    if limit is not None and not (limit.isdigit() and int(limit) >= 1):
        raise BinanceError.illegal("limit", f"1-{_DEPTH_MAX}")
    count = min(int(limit or 100), _DEPTH_MAX)
    book = context.pipeline.book(symbol, count) if symbol in context.pipeline.markets() else None
    if book is None:
        raise BinanceError.bad_symbol()
    bids, asks = book
    return JSONResponse({
        "lastUpdateId": context.pipeline.stats.batches,
        "bids": [[_text(level.price), _quantity(level, context, symbol)] for level in bids],
        "asks": [[_text(level.price), _quantity(level, context, symbol)] for level in asks]})


def _chosen(markets: dict[str, SymbolFilters], symbol: str | None,
            symbols: str | None) -> list[str]:
    """The symbols a request names (`symbol`, or `symbols` as a JSON array), each one the
    service lists; none: all of them."""
    if symbol and symbols:
        raise BinanceError.bad_combination()
    if symbols:
        try:
            names = json.loads(symbols)
        except ValueError:
            raise BinanceError.illegal("symbols", _SYMBOLS_RANGE) from None
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            raise BinanceError.illegal("symbols", _SYMBOLS_RANGE)
    else:
        names = [symbol] if symbol else []
    for name in names:
        if name not in markets or split_symbol(name) is None:
            raise BinanceError.bad_symbol()
    return names


def _symbol_info(name: str, filters: SymbolFilters) -> dict[str, Any]:
    pair = split_symbol(name)
    assert pair is not None
    return {
        "symbol": name, "status": "TRADING",
        "baseAsset": pair.base, "baseAssetPrecision": PRECISION,
        "quoteAsset": pair.quote, "quotePrecision": PRECISION, "quoteAssetPrecision": PRECISION,
        "baseCommissionPrecision": PRECISION, "quoteCommissionPrecision": PRECISION,
        "orderTypes": ORDER_TYPES, "icebergAllowed": False, "ocoAllowed": False,
        "otoAllowed": False, "quoteOrderQtyMarketAllowed": False, "allowTrailingStop": False,
        "cancelReplaceAllowed": False, "isSpotTradingAllowed": True,
        "isMarginTradingAllowed": False, "filters": _filters(filters),
        "permissions": [], "permissionSets": [["SPOT"]],
        "defaultSelfTradePreventionMode": "NONE", "allowedSelfTradePreventionModes": ["NONE"],
    }


def _filters(f: SymbolFilters) -> list[dict[str, Any]]:
    listed: list[dict[str, Any]] = [
        {"filterType": "PRICE_FILTER", "minPrice": _text(f.min_price),
         "maxPrice": _text(f.max_price), "tickSize": _text(f.tick_size)},
        {"filterType": "LOT_SIZE", "minQty": _text(f.min_qty), "maxQty": _text(f.max_qty),
         "stepSize": _text(f.step_size)},
    ]
    if f.market_max_qty:
        listed.append({"filterType": "MARKET_LOT_SIZE", "minQty": _text(Decimal(0)),
                       "maxQty": _text(f.market_max_qty), "stepSize": _text(Decimal(0))})
    if f.notional_filter == "NOTIONAL":
        listed.append({"filterType": "NOTIONAL", "minNotional": _text(f.min_notional),
                       "applyMinToMarket": f.apply_min_to_market,
                       "maxNotional": _text(f.max_notional), "applyMaxToMarket": False,
                       "avgPriceMins": 0})
    else:
        listed.append({"filterType": "MIN_NOTIONAL", "minNotional": _text(f.min_notional),
                       "applyToMarket": f.apply_min_to_market, "avgPriceMins": 0})
    return listed


_EMPTY = Level(Decimal(0), Decimal(0))


def _quantity(level: Level, context: Context, symbol: str) -> str:
    """A level's quantity; a level without a limit (the slippage model off) shows the
    most one order may take (LOT_SIZE's maxQty)."""
    if level.quantity is not None:
        return _text(level.quantity)
    return _text(context.pipeline.markets()[symbol].max_qty)


def _text(value: Decimal) -> str:
    """A decimal as Binance writes one: eight places, more only where the value has them."""
    places = max(PRECISION, -value.normalize().as_tuple().exponent)  # type: ignore[operator]
    return f"{value:.{places}f}"


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


# The history: what the tape brought (engine/tape.py).

_INTERVALS_MS = {"1s": 1_000, "1m": 60_000, "3m": 180_000, "5m": 300_000, "15m": 900_000,
                 "30m": 1_800_000, "1h": 3_600_000, "2h": 7_200_000, "4h": 14_400_000,
                 "6h": 21_600_000, "8h": 28_800_000, "12h": 43_200_000, "1d": 86_400_000,
                 "3d": 259_200_000, "1w": 604_800_000}
LimitParam = Annotated[str | None, Query(max_length=10)]
TimeParam = Annotated[str | None, Query(max_length=20)]


@router.get("/trades")
async def recent_trades(context: Context, symbol: SymbolParam = None,
                        limit: LimitParam = None) -> JSONResponse:
    name = _one_symbol(context, symbol)
    trades = context.pipeline.tape_history.recent(name, _limit(limit, 500, 1000))
    return JSONResponse([{"id": t.id, "price": _text(t.price), "qty": _text(t.quantity),
                          "quoteQty": _text(t.price * t.quantity), "time": t.time_ms,
                          "isBuyerMaker": False, "isBestMatch": True} for t in trades])


@router.get("/aggTrades")
async def aggregate_trades(context: Context, symbol: SymbolParam = None, limit: LimitParam = None,
                           startTime: TimeParam = None,  # noqa: N803 (Binance's names)
                           endTime: TimeParam = None) -> JSONResponse:  # noqa: N803
    """Each tape trade is its own aggregate (a feed's trades come already aggregated)."""
    name = _one_symbol(context, symbol)
    count = _limit(limit, 500, 1000)
    history = context.pipeline.tape_history
    if startTime or endTime:
        trades = history.between(name, _time(startTime, "startTime", 0),
                                 _time(endTime, "endTime", _now_ms()))[:count]
    else:
        trades = history.recent(name, count)
    return JSONResponse([{"a": t.id, "p": _text(t.price), "q": _text(t.quantity), "f": t.id,
                          "l": t.id, "T": t.time_ms, "m": False, "M": True} for t in trades])


@router.get("/klines")
async def klines(context: Context, symbol: SymbolParam = None,
                 interval: Annotated[str | None, Query(max_length=4)] = None,
                 startTime: TimeParam = None,  # noqa: N803
                 endTime: TimeParam = None, limit: LimitParam = None) -> JSONResponse:  # noqa: N803
    """Candles of the intervals that hold tape trades (an interval without one is left
    out, where Binance repeats the last close)."""
    name = _one_symbol(context, symbol)
    if not interval:
        raise BinanceError.missing("interval")
    interval_ms = _INTERVALS_MS.get(interval)
    if interval_ms is None:
        raise BinanceError(-1120, "Invalid interval.")
    candles = context.pipeline.tape_history.candles(
        name, interval_ms, _time(startTime, "startTime", 0),
        _time(endTime, "endTime", _now_ms()), _limit(limit, 500, 1000))
    return JSONResponse([[c.open_ms, _text(c.open), _text(c.high), _text(c.low), _text(c.close),
                          _text(c.volume), c.close_ms, _text(c.quote_volume), c.trades,
                          _text(Decimal(0)), _text(Decimal(0)), "0"] for c in candles])


@router.get("/ticker/24hr")
async def ticker_24hr(context: Context, symbol: SymbolParam = None,
                      symbols: SymbolsParam = None) -> JSONResponse:
    chosen = _chosen(context.pipeline.markets(), symbol, symbols)
    tickers = []
    for name in chosen or sorted(context.pipeline.markets()):
        ticker = _day_ticker(context, name)
        if ticker is not None:
            tickers.append(ticker)
        elif chosen:
            raise BinanceError.bad_symbol()
    return JSONResponse(tickers[0] if symbol else tickers)


def _day_ticker(context: Context, name: str) -> dict[str, Any] | None:
    last = context.pipeline.last_price(name)
    book = context.pipeline.book(name, 1)
    if last is None or book is None:
        return None
    now = _now_ms()
    history = context.pipeline.tape_history
    day = history.day(name, now)
    last_trade = history.last_trade(name)
    opened = day.open if day else last
    (bid, *_), (ask, *_) = book[0] or [_EMPTY], book[1] or [_EMPTY]
    change = last - opened
    return {
        "symbol": name, "priceChange": _text(change),
        "priceChangePercent": f"{change / opened * 100:.3f}" if opened else "0.000",
        "weightedAvgPrice": _text(day.quote_volume / day.volume if day and day.volume else last),
        "prevClosePrice": _text(opened), "lastPrice": _text(last),
        "lastQty": _text(last_trade.quantity if last_trade else Decimal(0)),
        "bidPrice": _text(bid.price), "bidQty": _quantity(bid, context, name),
        "askPrice": _text(ask.price), "askQty": _quantity(ask, context, name),
        "openPrice": _text(opened), "highPrice": _text(max(day.high, last) if day else last),
        "lowPrice": _text(min(day.low, last) if day else last),
        "volume": _text(day.volume if day else Decimal(0)),
        "quoteVolume": _text(day.quote_volume if day else Decimal(0)),
        "openTime": day.open_ms if day else now - DAY_MS, "closeTime": now,
        "firstId": day.first_id if day else -1, "lastId": day.last_id if day else -1,
        "count": day.trades if day else 0,
    }


def _one_symbol(context: Context, symbol: str | None) -> str:
    if not symbol:
        raise BinanceError.missing("symbol")
    if symbol not in context.pipeline.markets() or split_symbol(symbol) is None:
        raise BinanceError.bad_symbol()
    return symbol


def _limit(value: str | None, default: int, most: int) -> int:
    if value is None:
        return default
    if not value.isdigit() or int(value) < 1:
        raise BinanceError.illegal("limit", f"1-{most}")
    return min(int(value), most)


def _time(value: str | None, name: str, default: int) -> int:
    if value is None:
        return default
    if not value.isdigit():
        raise BinanceError.illegal(name, "a time in milliseconds")
    return int(value)
