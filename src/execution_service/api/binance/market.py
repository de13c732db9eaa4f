"""The public market data now: ping, time, exchangeInfo, ticker/price, ticker/bookTicker,
depth.

The symbols are those the service has filters for (its built-in pairs, an
`EXCHANGE_INFO_FILE`'s, and any it derived for an order); prices and the book are the
ones market orders fill against now: the last price (live or the random walk) and the
synthetic book around it, less what this service's orders took from it.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any

from fastapi import APIRouter, Query

from execution_service.api import schemas
from execution_service.api.binance.errors import BinanceError
from execution_service.api.binance.params import (
    EMPTY,
    PRECISION,
    REFUSED,
    SymbolParam,
    SymbolsParam,
    named_symbols,
    now_ms,
    parse_limit,
    quantity,
    text,
    tickers,
)
from execution_service.api.deps import Context
from execution_service.api.responses import Answer
from execution_service.api.weights import rate_limits
from execution_service.domain.symbols import split_symbol
from execution_service.engine.filters import SymbolFilters

router = APIRouter()

ORDER_TYPES = ["LIMIT", "LIMIT_MAKER", "MARKET", "STOP_LOSS", "STOP_LOSS_LIMIT", "TAKE_PROFIT",
               "TAKE_PROFIT_LIMIT"]
_DEPTH_MAX = 5000


@router.get("/ping", response_model=schemas.Empty)
async def ping() -> Answer[schemas.Empty]:
    return Answer({})


@router.get("/time", response_model=schemas.ServerTime)
async def servertime_ms(context: Context) -> Answer[schemas.ServerTime]:
    return Answer({"serverTime": now_ms(context.clock)})


@router.get("/exchangeInfo", response_model=schemas.ExchangeInfo, responses=REFUSED)
async def exchange_info(context: Context, symbol: SymbolParam = None,
                        symbols: SymbolsParam = None) -> Answer[schemas.ExchangeInfo]:
    markets = context.exchange.markets()
    listed = named_symbols(markets, symbol, symbols) or sorted(
        name for name in markets if split_symbol(name) is not None)
    return Answer({
        "timezone": "UTC", "serverTime": now_ms(context.clock),
        "rateLimits": rate_limits(context.weight_limit), "exchangeFilters": [],
        "symbols": [_symbol_info(name, markets[name]) for name in listed]})


@router.get("/ticker/price", response_model=schemas.TickerPrice | list[schemas.TickerPrice],
            responses=REFUSED)
async def ticker_price(context: Context, symbol: SymbolParam = None,
                       symbols: SymbolsParam = None
                       ) -> Answer[schemas.TickerPrice | list[schemas.TickerPrice]]:
    def price(name: str) -> schemas.TickerPrice | None:
        last = context.exchange.last_price(name)
        return None if last is None else {"symbol": name, "price": text(last)}
    return Answer(tickers(context, symbol, symbols, price))


@router.get("/ticker/bookTicker",
            response_model=schemas.BookTicker | list[schemas.BookTicker], responses=REFUSED)
async def book_ticker(context: Context, symbol: SymbolParam = None,
                      symbols: SymbolsParam = None
                      ) -> Answer[schemas.BookTicker | list[schemas.BookTicker]]:
    def best(name: str) -> schemas.BookTicker | None:
        book = context.exchange.book(name, 1)
        if book is None:
            return None
        (bid, *_), (ask, *_) = book[0] or [EMPTY], book[1] or [EMPTY]
        return {"symbol": name, "bidPrice": text(bid.price), "bidQty": quantity(bid, context, name),
                "askPrice": text(ask.price), "askQty": quantity(ask, context, name)}
    return Answer(tickers(context, symbol, symbols, best))


@router.get("/depth", response_model=schemas.Depth, responses=REFUSED)
async def depth(context: Context, symbol: SymbolParam = None,
                limit: Annotated[str | None, Query(max_length=10)] = None
                ) -> Answer[schemas.Depth]:
    if not symbol:
        raise BinanceError.missing("symbol")
    count = parse_limit(limit, 100, _DEPTH_MAX)
    if symbol not in context.exchange.markets():
        raise BinanceError.bad_symbol()
    context.exchange.watch(symbol)  # (its book and tape move even without a feed)
    # The book as the depth streams number it, so that a client can follow it from here.
    book = context.streams.market.depth(context, symbol, count)
    if book is None:
        raise BinanceError.bad_symbol()
    update_id, bids, asks = book
    return Answer({"lastUpdateId": update_id, "bids": bids, "asks": asks})


def _symbol_info(name: str, filters: SymbolFilters) -> dict[str, Any]:
    pair = split_symbol(name)
    assert pair is not None
    return {
        "symbol": name, "status": "TRADING",
        "baseAsset": pair.base, "baseAssetPrecision": PRECISION,
        "quoteAsset": pair.quote, "quotePrecision": PRECISION, "quoteAssetPrecision": PRECISION,
        "baseCommissionPrecision": PRECISION, "quoteCommissionPrecision": PRECISION,
        "orderTypes": ORDER_TYPES, "icebergAllowed": False, "ocoAllowed": True,
        "otoAllowed": False, "opoAllowed": False, "quoteOrderQtyMarketAllowed": True,
        "allowTrailingStop": False, "pegInstructionsAllowed": False, "amendAllowed": False,
        "cancelReplaceAllowed": False, "isSpotTradingAllowed": True,
        "isMarginTradingAllowed": False, "filters": _filters(filters),
        "permissions": [], "permissionSets": [["SPOT"]],
        "defaultSelfTradePreventionMode": "NONE", "allowedSelfTradePreventionModes": ["NONE"],
    }


def _filters(f: SymbolFilters) -> list[dict[str, Any]]:
    listed: list[dict[str, Any]] = [
        {"filterType": "PRICE_FILTER", "minPrice": text(f.min_price),
         "maxPrice": text(f.max_price), "tickSize": text(f.tick_size)},
        {"filterType": "LOT_SIZE", "minQty": text(f.min_qty), "maxQty": text(f.max_qty),
         "stepSize": text(f.step_size)},
    ]
    if f.market_max_qty:
        listed.append({"filterType": "MARKET_LOT_SIZE", "minQty": text(Decimal(0)),
                       "maxQty": text(f.market_max_qty), "stepSize": text(Decimal(0))})
    if f.notional_filter == "NOTIONAL":
        listed.append({"filterType": "NOTIONAL", "minNotional": text(f.min_notional),
                       "applyMinToMarket": f.apply_min_to_market,
                       "maxNotional": text(f.max_notional), "applyMaxToMarket": False,
                       "avgPriceMins": 0})
    else:
        listed.append({"filterType": "MIN_NOTIONAL", "minNotional": text(f.min_notional),
                       "applyToMarket": f.apply_min_to_market, "avgPriceMins": 0})
    return listed
