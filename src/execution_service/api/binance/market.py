"""The public market data: ping, time, exchangeInfo, ticker/price, ticker/bookTicker, depth.

The symbols are those the service has filters for (its built-in pairs, an
`EXCHANGE_INFO_FILE`'s, and any it derived for an order); prices and the book are the
ones market orders fill against now: the last price (live or the random walk) and the
synthetic book around it, less what this service's orders took from it.
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
