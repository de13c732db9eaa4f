"""The synthetic order book that taker orders walk, around the last price of a symbol.

Its levels come from a `BookShape` and sit on the symbol's tick grid. What this
service's own orders take from a level stays taken until the last price moves (a new
trade on the tape, or a step of the random walk): then the book is rebuilt around the new
price, as a real book refills.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import ROUND_HALF_EVEN, Decimal

from execution_service.domain.orders import ZERO, Side
from execution_service.engine.filters import SymbolFilters
from execution_service.engine.models import BPS, PRICE_PLACES, BookShape

_QUANTITY_PLACES = Decimal("1e-8")


@dataclass(frozen=True, slots=True)
class Level:
    price: Decimal
    quantity: Decimal | None  # None: unlimited


@dataclass(slots=True)
class Walk:
    """What a taker order would get: quantity and value taken, level by level."""

    taken: list[tuple[int, Decimal, Decimal]] = field(default_factory=list)  # level, qty, price
    quantity: Decimal = ZERO
    notional: Decimal = ZERO

    def add(self, level: int, quantity: Decimal, price: Decimal) -> None:
        self.taken.append((level, quantity, price))
        self.quantity += quantity
        self.notional += quantity * price

    def average_price(self) -> Decimal:
        """The volume-weighted price, 8 places (the fill's price)."""
        return (self.notional / self.quantity).quantize(PRICE_PLACES, rounding=ROUND_HALF_EVEN)


@dataclass(slots=True)
class _Side:
    mid: Decimal
    levels: list[Level]
    used: list[Decimal]


class SyntheticBooks:
    """One synthetic book per symbol and side, rebuilt whenever the last price moves."""

    def __init__(self, shape: BookShape) -> None:
        self.shape = shape
        self._sides: dict[tuple[str, Side], _Side] = {}

    def best(self, symbol: str, side: Side, mid: Decimal, filters: SymbolFilters) -> Decimal:
        """The price a taker on `side` would get first (the best ask for a BUY)."""
        return self._side(symbol, side, mid, filters).levels[0].price

    def walk(
        self, symbol: str, side: Side, mid: Decimal, filters: SymbolFilters, quantity: Decimal,
        limit: Decimal | None = None, budget: Decimal | None = None, fee_rate: Decimal = ZERO,
    ) -> Walk:
        """Take up to `quantity`, at prices no worse than `limit`, spending at most `budget`
        (quote units, fee at `fee_rate` included; BUY only). Changes nothing: see `consume`."""
        book = self._side(symbol, side, mid, filters)
        walk = Walk()
        left = quantity
        for index, level in enumerate(book.levels):
            if left <= 0:
                break
            if limit is not None and (level.price > limit if side is Side.BUY else level.price < limit):
                break
            available = left if level.quantity is None else min(left, level.quantity - book.used[index])
            if budget is not None:
                affordable = (budget - walk.notional * (1 + fee_rate)) / (level.price * (1 + fee_rate))
                available = min(available, _down_to_step(affordable, filters))
            if available <= 0:
                if budget is not None and level.quantity is not None and book.used[index] < level.quantity:
                    break  # out of money, not out of depth
                continue
            walk.add(index, available, level.price)
            left -= available
        return walk

    def consume(self, symbol: str, side: Side, walk: Walk) -> None:
        """Mark what `walk` took as used."""
        book = self._sides[(symbol, side)]
        for index, quantity, _price in walk.taken:
            book.used[index] += quantity

    def _side(self, symbol: str, side: Side, mid: Decimal, filters: SymbolFilters) -> _Side:
        book = self._sides.get((symbol, side))
        if book is None or book.mid != mid:
            levels = self._levels(side, mid, filters)
            book = self._sides[(symbol, side)] = _Side(mid, levels, [ZERO] * len(levels))
        return book

    def _levels(self, side: Side, mid: Decimal, filters: SymbolFilters) -> list[Level]:
        shape = self.shape
        levels: list[Level] = []
        held = ZERO
        for index in range(shape.levels if shape.impact_bps else 1):
            offset = (shape.spread_bps + index * shape.level_bps) / BPS
            raw = mid * (1 + offset) if side is Side.BUY else mid * (1 - offset)
            price = filters.round_price(raw, up=side is Side.BUY)
            if price <= 0:
                break
            if levels and price == levels[-1].price:
                continue  # a coarse tick: the next level sits on the same price
            cumulative = shape.cumulative_notional(index)
            if cumulative is None:
                levels.append(Level(price, None))
                break
            depth = _down_to_step((cumulative - held) / price, filters)
            held = cumulative
            levels.append(Level(price, depth))
        return levels or [Level(filters.round_price(mid, up=side is Side.BUY) or mid, None)]


def _down_to_step(quantity: Decimal, filters: SymbolFilters) -> Decimal:
    if quantity <= 0:
        return ZERO
    step = filters.step_size or _QUANTITY_PLACES
    return (quantity // step) * step
