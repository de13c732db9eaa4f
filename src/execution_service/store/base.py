"""What the pipeline and the API need of a store, as Protocols: the batch writer
(store/writer.py, on SQLite or PostgreSQL) and the in-memory fake (store/memory.py) both
keep to the writing ones, and one contract suite holds them to it
(tests/integration/test_store_contract.py); the database's `Store` (store/repository.py)
and `MemoryReadModel` keep to the `ReadModel` the API reads from."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, Protocol

from execution_service.domain.orders import DEFAULT_ACCOUNT, Order, OrderStatus, Trade
from execution_service.engine.account import Amounts
from execution_service.engine.positions import Position
from execution_service.pipeline.work import KeptInvalid, UnitOfWork, UnsentMessage


class Session(Protocol):
    """One batch's transaction: look up, then write (`BatchWriter.session()`)."""

    async def find_orders(self, client_ids: Iterable[str], intake_refs: Iterable[str],
                          order_ids: Iterable[str]) -> list[Order]: ...

    async def find_rejected(self, client_ids: Iterable[str], intake_refs: Iterable[str] = ()
                            ) -> KeptInvalid:
        """The invalid messages kept under these client ids (with a fingerprint) or
        from these intake entries."""
        ...

    async def write(self, work: UnitOfWork, published_through: int | None = None) -> int | None:
        """Write `work` and mark this instance's outbox rows up to `published_through`
        published; return the id of the last outbox row written (None if none)."""
        ...


class PipelineStore(Protocol):
    """What the pipeline needs of the store: `BatchWriter`, or `store/memory.py`'s fake."""

    instance: str  # whose outbox rows this store writes and marks

    def session(self, exclusive: bool = False) -> AbstractAsyncContextManager[Session]: ...

    async def commit(self, work: UnitOfWork) -> None: ...

    async def mark_sent(self, marks: Mapping[str, int], at: datetime) -> None:
        """Each instance's outbox rows are published up to these ids."""
        ...

    async def unsent(self, limit: int) -> list[UnsentMessage]:
        """Outbox rows not yet published, each instance's in order."""
        ...

    async def exchange_state(self, order_ids: Collection[str] | None = None) -> ExchangeState:
        """Balances, positions and the open orders (only those of `order_ids`, if given)."""
        ...

    async def open_order_ids(self) -> set[str]:
        """The ids of the orders open in the database, whoever accepted them."""
        ...


ExchangeState = tuple[dict[tuple[str, str], Amounts], list[Position], list[Order]]


@dataclass(frozen=True, slots=True)
class OrderDetail:
    """An order with its fills and its `order_events` rows."""

    order: Order
    trades: list[Trade]
    events: list[dict[str, Any]]


class ReadModel(Protocol):
    """What is stored, as the API reads it."""

    @property
    def backend(self) -> str: ...
    async def get_recent_orders(self, limit: int = 20, symbol: str | None = None,
                                status: OrderStatus | None = None,
                                account: str | None = None) -> list[Order]: ...
    async def get_order_by_id(self, order_id: str) -> OrderDetail | None: ...
    async def account_orders(self, account: str, symbol: str | None = None, *,
                             open_only: bool = False, start: datetime | None = None,
                             end: datetime | None = None, limit: int | None = None,
                             from_number: int | None = None) -> list[Order]: ...
    async def account_order(self, account: str, symbol: str, *, number: int | None = None,
                            client_id: str | None = None) -> Order | None: ...
    async def account_trades(self, account: str, symbol: str, *, order_id: str | None = None,
                             start: datetime | None = None, end: datetime | None = None,
                             limit: int = 500, from_number: int | None = None
                             ) -> list[Trade]: ...
    async def order_numbers(self, order_ids: Collection[str]) -> dict[str, int]: ...
    async def trade_numbers(self, trade_ids: Collection[str]) -> dict[str, int]: ...
    async def account_lists(self, account: str, *, open_only: bool = False,
                            limit: int = 500) -> list[list[Order]]: ...
    async def account_list(self, account: str, *, number: int | None = None,
                           client_id: str | None = None) -> list[Order]: ...
    async def fill_quality(self, account: str | None, trades: int = 1_000,
                           orders: int = 10_000) -> tuple[list[Trade], dict[str, int]]: ...
    async def get_trades(self, limit: int = 20, symbol: str | None = None,
                         account: str | None = None) -> list[Trade]: ...
    async def get_balances(self, account: str = DEFAULT_ACCOUNT
                           ) -> dict[str, dict[str, Decimal]]: ...
    async def get_positions(self, account: str = DEFAULT_ACCOUNT) -> list[Position]: ...
    async def get_equity(self, limit: int, since: datetime | None = None,
                         account: str = DEFAULT_ACCOUNT) -> list[dict[str, Any]]: ...
    async def get_stats(self) -> dict[str, Any]: ...
    async def count_unsent(self) -> int: ...
    async def count_rejected_messages(self) -> int: ...
