"""Execution cost models: the depth of the synthetic book, and exchange fees."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, ROUND_UP, Context, Decimal

# Enough digits that no product or sum of amounts within NUMERIC(38, 18) is ever rounded
# (the default context keeps 28 significant digits).
EXACT = Context(prec=60)
MAX_NOTIONAL = Decimal("1e15")  # far below NUMERIC(38, 18)'s 1e20, far above any paper account

BPS = Decimal(10_000)
FEE_PLACES = Decimal("1e-8")
SLIPPAGE_PLACES = Decimal("1e-4")


@dataclass(frozen=True, slots=True)
class BookShape:
    """Where the synthetic book's levels sit and how deep they are.

    Level `i` (from 0) sits `spread_bps + i * level_bps` basis points away from the last
    price, and the book holds `impact_notional * ((i + 1) * level_bps / impact_bps) ** 2`
    quote units up to and including it: the square-root impact law that empirical studies
    of order books keep finding (the cost of a trade grows with the square root of its
    size). With the defaults (1 bp spread, 10 bp at 1,000,000, 1 bp apart, 50 levels) a
    90 USDT order pays 1 bp, a 1,000,000 USDT order about 7 bp on average, and the book
    holds 25,000,000 USDT on each side. `impact_bps = 0` means unlimited depth at the spread.
    """

    spread_bps: Decimal = Decimal(1)
    impact_bps: Decimal = Decimal(10)
    impact_notional: Decimal = Decimal(1_000_000)
    level_bps: Decimal = Decimal(1)
    levels: int = 50

    @property
    def max_offset_bps(self) -> Decimal:
        """How far from the last price the deepest level sits."""
        return self.spread_bps + (self.levels - 1) * self.level_bps

    def cumulative_notional(self, level: int) -> Decimal | None:
        """Quote units the book holds up to and including `level`; None: unlimited."""
        if not self.impact_bps:
            return None
        return self.impact_notional * ((level + 1) * self.level_bps / self.impact_bps) ** 2


@dataclass(frozen=True, slots=True)
class FeeSchedule:
    """Fee rates as fractions of the notional (0.001 = 0.1 %, the Binance spot default).

    Taker for fills that cross the book, maker for resting orders filled by the tape. Fees
    are charged in the quote asset and rounded up to 8 places, as exchanges do.
    """

    taker: Decimal
    maker: Decimal

    def fee(self, notional: Decimal, maker: bool) -> Decimal:
        rate = self.maker if maker else self.taker
        return (notional * rate).quantize(FEE_PLACES, rounding=ROUND_UP)

    def taker_fee(self, notional: Decimal) -> Decimal:
        return self.fee(notional, maker=False)

    @property
    def highest(self) -> Decimal:
        return max(self.taker, self.maker)


def slippage_bps(buy: bool, mid: Decimal, price: Decimal) -> Decimal:
    """How much worse than `mid` a fill at `price` is, in basis points (4 places)."""
    difference = price - mid if buy else mid - price
    return (difference / mid * BPS).quantize(SLIPPAGE_PLACES, rounding=ROUND_HALF_EVEN)
