"""The paper account: free balance per asset, changed only through a `Ledger`.

A ledger collects the changes of one batch on top of the committed balances. The batch
writer stores them; only after the commit succeeds does the account `apply` them, so a
failed commit leaves the account as the database has it.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal

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
    """Balance changes of one batch, on top of the committed balances."""

    def __init__(self, account: Account) -> None:
        self._account = account
        self._free: dict[str, Decimal] = {}  # the new balance of each asset touched

    def free(self, asset: str) -> Decimal:
        balance = self._free.get(asset)
        return self._account.free(asset) if balance is None else balance

    def credit(self, asset: str, amount: Decimal) -> None:
        self._free[asset] = EXACT.add(self.free(asset), amount)

    def debit(self, asset: str, amount: Decimal) -> None:
        self._free[asset] = EXACT.subtract(self.free(asset), amount)

    def changed(self) -> dict[str, Decimal]:
        """New free balance of each asset this ledger touched."""
        return dict(self._free)

    def previous(self, asset: str) -> Decimal | None:
        """The committed balance, or None if the account never held the asset."""
        return self._account.committed(asset)
