"""Execution cost models: slippage that grows with order size, and exchange fees."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, ROUND_UP, Context, Decimal

from execution_service.domain.orders import Side
from execution_service.engine.prices import PRICE_PLACES

# Enough digits that no product or sum of amounts within NUMERIC(38, 18) is ever rounded
# (the default context keeps 28 significant digits).
EXACT = Context(prec=60)
MAX_NOTIONAL = Decimal("1e15")  # far below NUMERIC(38, 18)'s 1e20, far above any paper account

BPS = Decimal(10_000)
FEE_PLACES = Decimal("1e-8")
SLIPPAGE_PLACES = Decimal("1e-4")


@dataclass(frozen=True, slots=True)
class SquareRootSlippage:
    """Slippage in basis points: `spread_bps + impact_bps * sqrt(notional / impact_notional)`.

    The half spread is paid by every market order; the square-root term is the
    market-impact law that empirical studies of order books keep finding (the cost of a
    trade grows with the square root of its size relative to the available depth).
    With the defaults (1 bp, 10 bp at 1,000,000 quote units) a 90 USDT order pays about
    1.1 bp and a 1,000,000 USDT order 11 bp; no order pays more than `max_bps`.
    """

    spread_bps: Decimal
    impact_bps: Decimal
    impact_notional: Decimal
    max_bps: Decimal = Decimal(500)  # beyond this a real book would be exhausted

    def bps(self, notional: Decimal) -> Decimal:
        impact = self.impact_bps * (notional / self.impact_notional).sqrt()
        total = min(self.spread_bps + impact, self.max_bps)
        return total.quantize(SLIPPAGE_PLACES, rounding=ROUND_HALF_EVEN)

    def fill_price(self, side: Side, mid: Decimal, bps: Decimal) -> Decimal:
        """The price after slippage: a buyer pays more, a seller receives less (8 places)."""
        factor = 1 + bps / BPS if side is Side.BUY else 1 - bps / BPS
        return (mid * factor).quantize(PRICE_PLACES, rounding=ROUND_HALF_EVEN)


@dataclass(frozen=True, slots=True)
class FeeSchedule:
    """Fee rates as fractions of the notional (0.001 = 0.1 %, the Binance spot default)."""

    taker: Decimal
    maker: Decimal

    def taker_fee(self, notional: Decimal) -> Decimal:
        """The taker fee in the quote asset, rounded up to 8 places as exchanges do."""
        return (notional * self.taker).quantize(FEE_PLACES, rounding=ROUND_UP)
