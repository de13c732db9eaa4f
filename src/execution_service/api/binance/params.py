"""Reading Binance's request parameters, and writing numbers as Binance does."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Annotated, TypeVar

from fastapi import Query

from execution_service.api import schemas
from execution_service.api.binance.errors import BinanceError
from execution_service.api.deps import Context
from execution_service.clock import Clock
from execution_service.domain.codec import whole_number
from execution_service.domain.symbols import split_symbol
from execution_service.engine.book import Level
from execution_service.engine.filters import SymbolFilters

PRECISION = 8  # every asset's, as the service keeps amounts
REFUSED = schemas.problems(400, binance=True)  # a public endpoint's documented errors
_SYMBOLS_RANGE = '^\\[("[A-Z0-9-_.]{1,20}"(,"[A-Z0-9-_.]{1,20}"){0,}){0,1}\\]$'

# (Bounded so that a request line stays within what the HTTP server reads: 16 KiB.)
SymbolParam = Annotated[str | None, Query(max_length=40)]
SymbolsParam = Annotated[str | None, Query(max_length=4_000, pattern=_SYMBOLS_RANGE)]
LimitParam = Annotated[str | None, Query(max_length=10)]
TimeParam = Annotated[str | None, Query(max_length=20)]


T = TypeVar("T")


def named_symbols(markets: Mapping[str, SymbolFilters], symbol: str | None,
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


def tickers(context: Context, symbol: str | None, symbols: str | None,
            view: Callable[[str], T | None]) -> T | list[T]:
    """Binance's ticker answer: one object for `symbol`, a list for `symbols` or for every
    symbol. `view` gives a symbol's object, or None while it has no price (refused when
    named, left out otherwise)."""
    named = named_symbols(context.exchange.markets(), symbol, symbols)
    views: list[T] = []
    for name in named:
        context.exchange.watch(name)
    for name in named or sorted(context.exchange.markets()):
        found = view(name)
        if found is not None:
            views.append(found)
        elif named:
            raise BinanceError.bad_symbol()
    return views[0] if symbol else views


def listed_symbol(context: Context, symbol: str | None) -> str:
    if not symbol:
        raise BinanceError.missing("symbol")
    if symbol not in context.exchange.markets() or split_symbol(symbol) is None:
        raise BinanceError.bad_symbol()
    context.exchange.watch(symbol)  # (its candles move even without a feed)
    return symbol


# The last millisecond a datetime holds (9999-12-31T23:59:59.999Z): later times are refused.
MAX_TIME_MS = 253_402_300_799_999


def parse_id(value: str | None, name: str) -> int | None:
    """An integer id parameter (`orderId`, `fromId`): digits, at most 19 (an int64)."""
    if value is None or value == "":
        return None
    number = whole_number(value, 19)
    if number is None or number >= 2**63:
        raise BinanceError.illegal(name, "^[0-9]{1,20}$")
    return number


def parse_limit(value: str | None, default: int, most: int) -> int:
    if value is None:
        return default
    number = whole_number(value, 10)
    if number is None or number < 1:
        raise BinanceError.illegal("limit", f"1-{most}")
    return min(number, most)


def parse_time(value: str | None, name: str, default: int) -> int:
    """Epoch milliseconds up to `MAX_TIME_MS`."""
    if value is None:
        return default
    number = whole_number(value, 15)
    if number is None or number > MAX_TIME_MS:
        raise BinanceError.illegal(name, "a time in milliseconds")
    return number


EMPTY = Level(Decimal(0), Decimal(0))


def quantity(level: Level, context: Context, symbol: str) -> str:
    """A level's quantity; a level without a limit (the slippage model off) shows the
    most one order may take (LOT_SIZE's maxQty)."""
    if level.quantity is not None:
        return text(level.quantity)
    return text(context.exchange.markets()[symbol].max_qty)


def text(value: Decimal) -> str:
    """A decimal as Binance writes one: eight places, more only where the value has them."""
    places = max(PRECISION, -value.normalize().as_tuple().exponent)  # type: ignore[operator]
    return f"{value:.{places}f}"


def now_ms(clock: Clock) -> int:
    """The service's time in milliseconds since the epoch, as Binance gives times."""
    return int(clock.now().timestamp() * 1000)
