"""The paper account: free balance per asset, changed only through a `Ledger`.

A ledger collects the changes of one batch on top of the committed balances. The batch
writer stores them; only after the commit succeeds does the account `apply` them, so a
failed commit leaves the account as the database has it.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal, localcontext

from execution_service.domain.orders import ZERO
from execution_service.engine.models import EXACT


class Account:
    """Committed free balances per asset (exact decimals)."""

    def __init__(self, balances: Mapping[str, Decimal] | None = None) -> None:
        self._free: dict[str, Decimal] = dict(balances or {})

    def free(self, asset: str) -> Decimal:
        return self._free.get(asset, ZERO)

    def committed(self, asset: str) -> Decimal | None:
        """The committed balance, or None if the account never held the asset."""
        return self._free.get(asset)

    def balances(self) -> dict[str, Decimal]:
        return dict(self._free)

    def ledger(self) -> Ledger:
        return Ledger(self)

    def apply(self, ledger: Ledger) -> None:
        self._free.update(ledger.changed())

    def reset(self, balances: Mapping[str, Decimal]) -> None:
        self._free = dict(balances)


class Ledger:
    """Balance changes of one batch, seen together with the committed balances."""

    def __init__(self, account: Account) -> None:
        self._account = account
        self._delta: dict[str, Decimal] = {}

    def free(self, asset: str) -> Decimal:
        with localcontext(EXACT):
            return self._account.free(asset) + self._delta.get(asset, ZERO)

    def credit(self, asset: str, amount: Decimal) -> None:
        with localcontext(EXACT):
            self._delta[asset] = self._delta.get(asset, ZERO) + amount

    def debit(self, asset: str, amount: Decimal) -> None:
        self.credit(asset, -amount)

    def changed(self) -> dict[str, Decimal]:
        """New free balance of each asset this ledger touched."""
        return {asset: self.free(asset) for asset in self._delta}

    def previous(self, asset: str) -> Decimal | None:
        """The committed balance, or None if the account never held the asset."""
        return self._account.committed(asset)
