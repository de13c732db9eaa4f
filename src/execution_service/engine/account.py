"""The paper accounts: free and locked amounts per asset, per sub-account.

An order locks what it may spend when it is accepted (`lock`), pays its fills out of
that (`spend`), and gives back the rest when it ends (`release`). The account remembers,
for every asset a batch touched, the amounts it had before (`changes()`), so the batch
writer can store the new amounts compare-and-set: two instances sharing a database can
never overdraw it.

Each sub-account (`Ledger`) has amounts of its own: an order spends only its account's.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal, localcontext
from typing import Any, NamedTuple

from execution_service.domain.orders import DEFAULT_ACCOUNT, ZERO
from execution_service.engine.models import EXACT


class Amounts(NamedTuple):
    free: Decimal
    locked: Decimal = ZERO

    @property
    def total(self) -> Decimal:
        return self.free + self.locked


@dataclass(frozen=True, slots=True)
class BalanceChange:
    """An asset's amounts in one account before and after a batch; `previous` is None for
    an asset the account never held."""

    asset: str
    previous: Amounts | None
    new: Amounts
    account: str = DEFAULT_ACCOUNT


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

    def changes(self, account: str = DEFAULT_ACCOUNT) -> list[BalanceChange]:
        """What changed since the last call, asset by asset (in a stable order)."""
        changes = [BalanceChange(asset, previous, self._amounts[asset], account)
                   for asset, previous in sorted(self._before.items())
                   if self._amounts[asset] != previous]
        self._before = {}
        return changes


class Ledger:
    """The sub-accounts by name. Those configured exist from the start (their initial
    balances come from the database, where `open_accounts` put them); one that holds
    stored balances exists too, even when no longer configured."""

    def __init__(self, names: Iterable[str] = (DEFAULT_ACCOUNT,)) -> None:
        self._configured = tuple(dict.fromkeys(names))
        self._accounts = {name: Account() for name in self._configured}

    def get(self, name: str) -> Account | None:
        return self._accounts.get(name)

    def __getitem__(self, name: str) -> Account:
        return self._accounts[name]

    def names(self) -> list[str]:
        return sorted(self._accounts)

    def reset(self, balances: Mapping[tuple[str, str], Amounts]) -> None:
        """Take every account's amounts as the database has them, keyed (account, asset)."""
        per_account: dict[str, dict[str, Amounts]] = {name: {} for name in self._configured}
        for (account, asset), amounts in balances.items():
            per_account.setdefault(account, {})[asset] = amounts
        self._accounts = {name: Account(amounts) for name, amounts in per_account.items()}

    def changes(self) -> list[BalanceChange]:
        """What changed since the last call, account by account."""
        return [change for name in sorted(self._accounts)
                for change in self._accounts[name].changes(name)]


Valuation = tuple[Decimal, list[str], dict[str, Any]]


def valuation(account: Account, quote: str, last_price: Callable[[str], Decimal | None]
              ) -> Valuation:
    """What `account` is worth in `quote` at the last prices: the total, the assets that
    have no price, and per asset its amount, price and value."""
    total = ZERO
    unpriced: list[str] = []
    detail: dict[str, Any] = {}
    with localcontext(EXACT):
        for asset, amounts in sorted(account.balances().items()):
            amount = amounts.total
            if not amount:
                continue
            price = Decimal(1) if asset == quote else last_price(asset + quote)
            if price is None:
                unpriced.append(asset)
                detail[asset] = {"amount": amount, "price": None, "value": None}
                continue
            value = amount * price
            total += value
            detail[asset] = {"amount": amount, "price": price, "value": value}
    return total, unpriced, detail
