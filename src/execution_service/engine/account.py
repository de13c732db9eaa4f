"""The paper account: free and locked amounts per asset.

An order locks what it may spend when it is accepted (`lock`), pays its fills out of
that (`spend`), and gives back the rest when it ends (`release`). The account remembers,
for every asset a batch touched, the amounts it had before (`changes()`), so the batch
writer can store the new amounts compare-and-set: two instances sharing a database can
never overdraw it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import NamedTuple

from execution_service.domain.orders import ZERO


class Amounts(NamedTuple):
    free: Decimal
    locked: Decimal = ZERO

    @property
    def total(self) -> Decimal:
        return self.free + self.locked


@dataclass(frozen=True, slots=True)
class BalanceChange:
    """An asset's amounts before and after a batch; `previous` is None for a new asset."""

    asset: str
    previous: Amounts | None
    new: Amounts


class Account:
    """Free and locked amounts per asset (exact decimals; changed in the `EXACT` context)."""

    def __init__(self, balances: Mapping[str, Amounts] | None = None) -> None:
        self._amounts: dict[str, Amounts] = dict(balances or {})
        self._before: dict[str, Amounts | None] = {}

    def free(self, asset: str) -> Decimal:
        amounts = self._amounts.get(asset)
        return amounts.free if amounts else ZERO

    def locked(self, asset: str) -> Decimal:
        amounts = self._amounts.get(asset)
        return amounts.locked if amounts else ZERO

    def balances(self) -> dict[str, Amounts]:
        return dict(self._amounts)

    def reset(self, balances: Mapping[str, Amounts]) -> None:
        """Take the amounts as the database has them (at start, or after a failed commit)."""
        self._amounts = dict(balances)
        self._before = {}

    # Changes

    def credit(self, asset: str, amount: Decimal) -> None:
        self._move(asset, amount, ZERO)

    def lock(self, asset: str, amount: Decimal) -> None:
        """Set `amount` aside for an order (from free to locked)."""
        self._move(asset, -amount, amount)

    def release(self, asset: str, amount: Decimal) -> None:
        """Give back what an order no longer needs (from locked to free)."""
        self._move(asset, amount, -amount)

    def spend(self, asset: str, amount: Decimal, locked: Decimal) -> None:
        """Pay `amount`, `locked` of it out of the order's reservation, the rest out of free."""
        self._move(asset, locked - amount, -locked)

    def _move(self, asset: str, free: Decimal, locked: Decimal) -> None:
        current = self._amounts.get(asset)
        if asset not in self._before:
            self._before[asset] = current
        if current is None:
            current = Amounts(ZERO)
        # The exchange runs in the EXACT context: sums of amounts are never rounded.
        self._amounts[asset] = Amounts(current.free + free, current.locked + locked)

    def changes(self) -> list[BalanceChange]:
        """What changed since the last call, asset by asset (in a stable order)."""
        changes = [BalanceChange(asset, previous, self._amounts[asset])
                   for asset, previous in sorted(self._before.items())
                   if self._amounts[asset] != previous]
        self._before = {}
        return changes
