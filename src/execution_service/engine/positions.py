"""Positions per symbol: net quantity, average entry price, realized PnL and fees.

A buy adds to a long position at a new average entry price; a sell closes it, realizing
`(sell price - average entry) * quantity`. Selling more than is held (the initial
balance of the base asset, say) opens a short at the sell price, closed the other way.
Fees are kept apart, so `net = realized + unrealized - fees`. Averages and PnL are
exact to 18 places (the columns' scale); balances never depend on them.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_HALF_EVEN, Decimal

from execution_service.domain.orders import DEFAULT_ACCOUNT, ZERO, Side, Trade

_SCALE = Decimal("1e-18")


@dataclass(frozen=True, slots=True)
class Position:
    symbol: str
    quantity: Decimal = ZERO  # > 0 long, < 0 short
    avg_entry_price: Decimal = ZERO
    realized_pnl: Decimal = ZERO
    fees: Decimal = ZERO
    quote_asset: str = ""
    version: int = 0
    updated_at: datetime | None = None
    account: str = DEFAULT_ACCOUNT

    def unrealized(self, last: Decimal | None) -> Decimal:
        if last is None or not self.quantity:
            return ZERO
        return (last - self.avg_entry_price) * self.quantity

    def after(self, trade: Trade, quote_asset: str) -> Position:
        """This position once `trade` is booked (to be called in the `EXACT` context). A
        commission paid in the base asset (a buy under Binance's rules) leaves less of it
        held, and counts among the fees at the trade's price."""
        in_base = trade.fee_asset != quote_asset
        received = trade.quantity - trade.fee if in_base else trade.quantity
        signed = received if trade.side is Side.BUY else -trade.quantity
        quantity, average, realized = self.quantity, self.avg_entry_price, self.realized_pnl
        if quantity == 0 or (quantity > 0) == (signed > 0):  # opening or adding
            total = quantity + signed
            average = ((quantity * average + signed * trade.price) / total).quantize(
                _SCALE, rounding=ROUND_HALF_EVEN)
            quantity = total
        else:  # closing, and perhaps turning around
            closed = min(abs(signed), abs(quantity))
            direction = 1 if quantity > 0 else -1
            realized += (trade.price - average) * closed * direction
            quantity += signed
            if quantity == 0:
                average = ZERO
            elif (quantity > 0) != (direction > 0):
                average = trade.price
        fee = trade.fee * trade.price if in_base else trade.fee
        return Position(self.symbol, quantity, average, realized, self.fees + fee,
                        quote_asset, self.version + 1, trade.executed_at, self.account)


@dataclass(frozen=True, slots=True)
class PositionChange:
    previous_version: int  # 0: not stored yet
    position: Position


class Positions:
    """Every (account, symbol)'s position, and which changed since `changes()` was last asked."""

    def __init__(self, positions: Iterable[Position] = ()) -> None:
        self._positions: dict[tuple[str, str], Position] = {}
        self._before: dict[tuple[str, str], int] = {}
        self.reset(positions)

    def reset(self, positions: Iterable[Position]) -> None:
        self._positions = {(p.account, p.symbol): p for p in positions}
        self._before = {}

    def get(self, symbol: str, account: str = DEFAULT_ACCOUNT) -> Position | None:
        return self._positions.get((account, symbol))

    def all(self) -> list[Position]:
        return [self._positions[key] for key in sorted(self._positions)]

    def book(self, trade: Trade, quote_asset: str) -> None:
        key = (trade.account, trade.symbol)
        current = self._positions.get(key) or Position(trade.symbol, account=trade.account)
        self._before.setdefault(key, current.version)
        self._positions[key] = current.after(trade, quote_asset)

    def changes(self) -> list[PositionChange]:
        changes = [PositionChange(version, self._positions[key])
                   for key, version in sorted(self._before.items())]
        self._before = {}
        return changes
