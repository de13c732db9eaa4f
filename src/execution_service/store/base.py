"""What the pipeline needs of a store, as Protocols: the batch writer (store/writer.py, on
SQLite or PostgreSQL) and the in-memory fake (store/memory.py) both keep to them, and one
contract suite holds them to it (tests/integration/test_store_contract.py)."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from contextlib import AbstractAsyncContextManager
from datetime import datetime
from typing import Protocol

from execution_service.domain.orders import Order
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
