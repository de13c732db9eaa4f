"""Exchange filters per symbol, as Binance spot enforces them.

A symbol's `SymbolFilters` come from a Binance `exchangeInfo` JSON file when one is given
(`EXCHANGE_INFO_FILE`), else from the defaults below (the values Binance listed for the
common USDT pairs in 2025), else they are derived from the price level. A violation is
reported with the exchange's own text, `Filter failure: LOT_SIZE` and so on, so a bot
that passes here passes there.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from decimal import Decimal, InvalidOperation
from pathlib import Path
from types import MappingProxyType
from typing import Any

from execution_service.domain.orders import QUANTITY_STEP, OrderType
from execution_service.domain.symbols import split_symbol

ZERO = Decimal(0)


@dataclass(frozen=True, slots=True)
class SymbolFilters:
    """PRICE_FILTER, LOT_SIZE and (MIN_)NOTIONAL of one symbol; a zero means 'no limit'."""

    tick_size: Decimal
    step_size: Decimal
    min_qty: Decimal
    max_qty: Decimal
    min_notional: Decimal
    min_price: Decimal = ZERO
    max_price: Decimal = ZERO
    max_notional: Decimal = ZERO
    market_max_qty: Decimal = ZERO
    notional_filter: str = "MIN_NOTIONAL"  # the filter's name in the error text
    apply_min_to_market: bool = True

    def violation(
        self, order_type: OrderType, quantity: Decimal, price: Decimal | None,
        stop_price: Decimal | None, last_price: Decimal,
    ) -> str | None:
        """The first filter the order fails, as Binance words it, or None."""
        for value in (price, stop_price):
            if value is not None and not self._price_ok(value):
                return "Filter failure: PRICE_FILTER"
        if not _on_grid(quantity, self.min_qty, self.step_size) or quantity < self.min_qty or (
                self.max_qty and quantity > self.max_qty):
            return "Filter failure: LOT_SIZE"
        is_market = price is None
        if is_market and self.market_max_qty and quantity > self.market_max_qty:
            return "Filter failure: MARKET_LOT_SIZE"
        notional = quantity * (price if price is not None else (stop_price or last_price))
        if notional < self.min_notional and (self.apply_min_to_market or not is_market):
            return f"Filter failure: {self.notional_filter}"
        if self.max_notional and notional > self.max_notional:
            return f"Filter failure: {self.notional_filter}"
        return None

    def round_quantity(self, quantity: Decimal) -> Decimal:
        """`quantity` rounded down to the step (QUANTITY_ROUNDING=down)."""
        if not self.step_size:
            return quantity
        return (quantity - self.min_qty) // self.step_size * self.step_size + self.min_qty \
            if quantity >= self.min_qty else (quantity // self.step_size) * self.step_size

    def floor_to_step(self, quantity: Decimal) -> Decimal:
        """`quantity` down to a whole number of steps (of 1e-8 without a step size); never < 0."""
        if quantity <= 0:
            return ZERO
        step = self.step_size or QUANTITY_STEP
        return (quantity // step) * step

    def round_price(self, price: Decimal, up: bool) -> Decimal:
        """`price` on the tick grid, rounded up or down."""
        if not self.tick_size:
            return price
        ticks = price // self.tick_size
        if up and ticks * self.tick_size != price:
            ticks += 1
        return ticks * self.tick_size

    def _price_ok(self, price: Decimal) -> bool:
        if price < self.min_price or (self.max_price and price > self.max_price):
            return False
        return _on_grid(price, self.min_price, self.tick_size)


def _on_grid(value: Decimal, base: Decimal, step: Decimal) -> bool:
    return not step or (value - base) % step == 0


def _filters(tick: str, step: str, max_qty: str = "9000", min_notional: str = "5") -> SymbolFilters:
    return SymbolFilters(tick_size=Decimal(tick), step_size=Decimal(step), min_qty=Decimal(step),
                         max_qty=Decimal(max_qty), min_notional=Decimal(min_notional),
                         min_price=Decimal(tick), max_price=Decimal(1_000_000))


# Binance spot, 2025: tick size, step size (= minimum quantity), maximum quantity.
DEFAULT_FILTERS: Mapping[str, SymbolFilters] = {
    "BTCUSDT": _filters("0.01", "0.00001"),
    "ETHUSDT": _filters("0.01", "0.0001"),
    "BNBUSDT": _filters("0.01", "0.001"),
    "SOLUSDT": _filters("0.01", "0.001"),
    "XRPUSDT": _filters("0.0001", "0.1", "9222449"),
    "DOGEUSDT": _filters("0.00001", "1", "9000000"),
    "ADAUSDT": _filters("0.0001", "0.1", "9000000"),
    "TRXUSDT": _filters("0.0001", "0.1", "9000000"),
    "AVAXUSDT": _filters("0.01", "0.01", "9000000"),
    "LINKUSDT": _filters("0.01", "0.01", "9000000"),
    "DOTUSDT": _filters("0.001", "0.01", "9000000"),
    "LTCUSDT": _filters("0.01", "0.001", "9000000"),
    "SHIBUSDT": _filters("0.00000001", "1", "46116860414"),
    "PEPEUSDT": _filters("0.00000001", "1", "92233720368"),
    "ETHBTC": _filters("0.00001", "0.0001", "100000", "0.0001"),
    "BNBBTC": _filters("0.000001", "0.001", "100000", "0.0001"),
}

# Minimum order value by quote asset, for symbols without filters of their own.
_MIN_NOTIONAL_BY_QUOTE = {"USDT": Decimal(5), "USDC": Decimal(5), "FDUSD": Decimal(5),
                          "BTC": Decimal("0.0001"), "ETH": Decimal("0.001"),
                          "BNB": Decimal("0.01")}


def derived_filters(symbol: str, price: Decimal) -> SymbolFilters:
    """Filters for a symbol nobody described: a tick of 7 significant digits, a step worth
    about 1/100 to 1/10 of a quote unit, and the quote asset's usual minimum value."""
    magnitude = price.adjusted()
    tick = Decimal(1).scaleb(max(magnitude - 6, -8))
    step = Decimal(1).scaleb(min(max(-(magnitude + 2), -8), 0))
    pair = split_symbol(symbol)
    minimum = _MIN_NOTIONAL_BY_QUOTE.get(pair.quote, ZERO) if pair else ZERO
    return SymbolFilters(tick_size=tick, step_size=step, min_qty=step, max_qty=ZERO,
                         min_notional=minimum)


class ExchangeFilters:
    """The filters of every symbol: loaded, default, or derived on first sight."""

    def __init__(self, filters: Mapping[str, SymbolFilters] | None = None) -> None:
        self._filters: dict[str, SymbolFilters] = {**DEFAULT_FILTERS, **(filters or {})}

    def known(self) -> Mapping[str, SymbolFilters]:
        """Every symbol described so far: loaded, default, or derived for an order (a
        read-only view, not a copy: the API reads it for every symbol it lists)."""
        return MappingProxyType(self._filters)

    def of(self, symbol: str, price: Decimal) -> SymbolFilters:
        found = self._filters.get(symbol)
        if found is None:
            found = self._filters[symbol] = derived_filters(symbol, price)
        return found


def load_exchange_info(path: Path) -> dict[str, SymbolFilters]:
    """The filters of every symbol in a Binance `GET /api/v3/exchangeInfo` answer."""
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
        symbols = document["symbols"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ValueError(f"cannot read exchangeInfo from {path}: {exc}") from None
    return {str(entry["symbol"]): parse_symbol_filters(entry.get("filters", []))
            for entry in symbols if isinstance(entry, dict) and "symbol" in entry}


def parse_symbol_filters(filters: Iterable[Mapping[str, Any]]) -> SymbolFilters:
    """One symbol's `filters` list; filters it does not name impose nothing."""
    result = SymbolFilters(tick_size=ZERO, step_size=ZERO, min_qty=ZERO, max_qty=ZERO,
                           min_notional=ZERO)
    for item in filters:
        kind = item.get("filterType")
        if kind == "PRICE_FILTER":
            result = replace(result, tick_size=_number(item, "tickSize"),
                             min_price=_number(item, "minPrice"), max_price=_number(item, "maxPrice"))
        elif kind == "LOT_SIZE":
            result = replace(result, step_size=_number(item, "stepSize"),
                             min_qty=_number(item, "minQty"), max_qty=_number(item, "maxQty"))
        elif kind == "MARKET_LOT_SIZE":
            result = replace(result, market_max_qty=_number(item, "maxQty"))
        elif kind == "MIN_NOTIONAL":
            result = replace(result, min_notional=_number(item, "minNotional"),
                             notional_filter="MIN_NOTIONAL",
                             apply_min_to_market=bool(item.get("applyToMarket", True)))
        elif kind == "NOTIONAL":
            result = replace(result, min_notional=_number(item, "minNotional"),
                             max_notional=_number(item, "maxNotional"), notional_filter="NOTIONAL",
                             apply_min_to_market=bool(item.get("applyMinToMarket", True)))
    return result


def _number(item: Mapping[str, Any], key: str) -> Decimal:
    try:
        value = Decimal(str(item.get(key, "0")))
    except InvalidOperation:
        raise ValueError(f"{item.get('filterType')}.{key} is not a number: {item.get(key)!r}") from None
    return value.normalize() if value.is_finite() else ZERO
