"""The store's contract, as the pipeline relies on it (`PipelineStore`), held by every
backend alike: the batch writer on SQLite and on PostgreSQL, and the in-memory fake the
pipeline's own tests run on. Each test speaks only through the Protocol.

- a batch is all or nothing, and what it wrote is found by client id, entry and order id;
- the same order under one client id (same fingerprint) cannot be written twice, another
  order under it can; an intake entry or a (client id, fingerprint) is kept invalid once;
- balances, positions and orders are compare-and-set: a batch planned on stale ones is a
  conflict, and nothing of it is written;
- the outbox hands out what is above each instance's mark, in order; a mark never goes back;
- the exchange's state holds the balances, the positions and the open orders only.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from decimal import Decimal

import pytest

from execution_service.domain.orders import OrderStatus, Source
from execution_service.engine.account import Amounts, BalanceChange
from execution_service.engine.exchange import Effects
from execution_service.errors import WriteConflict
from execution_service.pipeline.work import OutboxMessage, RejectedMessage, UnitOfWork
from execution_service.store.base import PipelineStore
from execution_service.store.memory import MemoryStore
from execution_service.store.writer import BatchWriter
from tests.helpers import database_for
from tests.integration.test_store import NOW, order, stored, trade_of


@pytest.fixture(params=["memory", "sqlite", "postgresql"])
async def store(request: pytest.FixtureRequest) -> AsyncIterator[PipelineStore]:
    if request.param == "memory":
        yield MemoryStore()
        return
    database = database_for(str(request.getfixturevalue(f"{request.param}_url".replace(
        "postgresql", "postgres"))))
    await database.migrate()
    writer = BatchWriter(database, instance="contract")
    await writer.register(NOW)
    yield writer
    await database.dispose()


def message(event_id: str) -> OutboxMessage:
    return OutboxMessage.of(event_id, None, {"event": event_id, "n": Decimal(1) / 3}, NOW)


def rejected(intake_ref: str | None, client_id: str | None = None) -> RejectedMessage:
    return RejectedMessage(source=Source.STREAM, intake_ref=intake_ref, client_id=client_id,
                           payload=b"{", payload_bytes=1, reason="not valid JSON",
                           received_at=NOW, fingerprint="f" if client_id else None)


def with_ref(order_id: str, intake_ref: str):  # type: ignore[no-untyped-def]
    return replace(order(order_id), intake_ref=intake_ref)


async def test_a_batch_is_found_by_client_id_entry_and_order_id(store: PipelineStore) -> None:
    by_client, by_entry, by_id = order("MOCK_c", "client-1"), with_ref("MOCK_e", "s:1-0"), order("MOCK_i")
    await store.commit(UnitOfWork(at=NOW, effects=stored(by_client, by_entry, by_id,
                                                         trades=(trade_of(by_client),))))
    async with store.session() as session:
        found = await session.find_orders(["client-1"], ["s:1-0"], ["MOCK_i"])
        nothing = await session.find_orders(["client-2"], ["s:2-0"], ["MOCK_x"])
    assert sorted(o.order_id for o in found) == ["MOCK_c", "MOCK_e", "MOCK_i"]
    assert nothing == []
    found[0].status = OrderStatus.CANCELED  # a copy: the stored order does not change
    async with store.session() as session:
        again = await session.find_orders(["client-1"], [], [])
    assert again[0].status is OrderStatus.FILLED


async def test_one_order_per_client_id_and_fingerprint(store: PipelineStore) -> None:
    await store.commit(UnitOfWork(at=NOW, effects=stored(replace(order("MOCK_a", "same"),
                                                                 fingerprint="f1"))))
    with pytest.raises(WriteConflict):  # the same order again (another instance, say)
        await store.commit(UnitOfWork(at=NOW, effects=stored(replace(order("MOCK_b", "same"),
                                                                     fingerprint="f1"))))
    await store.commit(UnitOfWork(at=NOW, effects=stored(replace(order("MOCK_c", "same"),
                                                                 fingerprint="f2"))))
    async with store.session() as session:
        assert sorted(o.order_id for o in await session.find_orders(["same"], [], [])) == [
            "MOCK_a", "MOCK_c"]


async def test_a_batch_that_conflicts_writes_nothing(store: PipelineStore) -> None:
    await store.commit(UnitOfWork(at=NOW, effects=stored(order("MOCK_a", "taken"))))
    batch = UnitOfWork(at=NOW, effects=stored(order("MOCK_new"), order("MOCK_dup", "taken")),
                       outbox=[message("MOCK_new:1")], rejected=[rejected("s:9-0")])
    with pytest.raises(WriteConflict):
        await store.commit(batch)
    async with store.session() as session:
        assert await session.find_orders([], [], ["MOCK_new"]) == []
        kept = await session.find_rejected([], ["s:9-0"])
    assert kept.entries == set()
    assert await store.unsent(10) == []


async def test_an_invalid_message_is_kept_once_per_entry_and_per_client_id(
        store: PipelineStore) -> None:
    await store.commit(UnitOfWork(at=NOW, rejected=[rejected("s:1-0", "bad-1")]))
    for again in (rejected("s:1-0"), rejected("s:2-0", "bad-1")):  # redelivered; other intake
        with pytest.raises(WriteConflict):
            await store.commit(UnitOfWork(at=NOW, rejected=[again]))
    async with store.session() as session:
        kept = await session.find_rejected(["bad-1"], ["s:1-0", "s:3-0"])
    assert (kept.answers, kept.entries) == ({("bad-1", "f")}, {"s:1-0"})


async def test_balances_are_compare_and_set(store: PipelineStore) -> None:
    opened = Amounts(Decimal("100.5"))
    await store.commit(UnitOfWork(at=NOW, effects=Effects(balances=[
        BalanceChange("USDT", None, opened)])))
    spent = Amounts(Decimal("0.000000000000000001"), Decimal("7.25"))
    await store.commit(UnitOfWork(at=NOW, effects=Effects(balances=[
        BalanceChange("USDT", opened, spent)])))
    with pytest.raises(WriteConflict):  # planned on the balance before the last batch
        await store.commit(UnitOfWork(at=NOW, effects=Effects(
            created=stored(order("MOCK_lost")).created,
            balances=[BalanceChange("USDT", opened, Amounts(Decimal(1)))])))
    balances, _positions, _orders = await store.exchange_state()
    assert balances[("default", "USDT")] == spent
    async with store.session() as session:
        assert await session.find_orders([], [], ["MOCK_lost"]) == []


async def test_orders_change_compare_and_set_on_their_version(store: PipelineStore) -> None:
    resting = order("MOCK_r", status=OrderStatus.NEW)
    await store.commit(UnitOfWork(at=NOW, effects=stored(resting)))
    version = resting.version
    canceled = replace(resting, status=OrderStatus.CANCELED, version=version + 1)
    await store.commit(UnitOfWork(at=NOW, effects=Effects(
        updated={"MOCK_r": (canceled, version)})))
    with pytest.raises(WriteConflict):  # another batch planned on the version before
        await store.commit(UnitOfWork(at=NOW, effects=Effects(updated={
            "MOCK_r": (replace(resting, status=OrderStatus.FILLED, version=version + 1),
                       version)})))
    async with store.session() as session:
        [found] = await session.find_orders([], [], ["MOCK_r"])
    assert found.status is OrderStatus.CANCELED


async def test_the_outbox_hands_out_what_is_above_the_mark_in_order(store: PipelineStore) -> None:
    async with store.session() as session:
        last = await session.write(UnitOfWork(at=NOW, outbox=[message("e0"), message("e1")]))
    await store.commit(UnitOfWork(at=NOW, outbox=[message("e2")]))
    unsent = await store.unsent(10)
    assert [row.message.event_id for row in unsent] == ["e0", "e1", "e2"]
    assert unsent[1].outbox_id == last
    assert unsent[0].message.result == {"event": "e0", "n": Decimal(1) / 3}  # exact
    async with store.session() as session:  # the next batch raises the mark as it writes
        assert await session.write(UnitOfWork(at=NOW), published_through=last) is None
    assert [row.message.event_id for row in await store.unsent(10)] == ["e2"]
    await store.mark_sent({store.instance: unsent[0].outbox_id}, NOW)  # never goes back
    assert [row.message.event_id for row in await store.unsent(10)] == ["e2"]
    assert len(await store.unsent(0)) == 0


async def test_the_exchange_state_holds_only_the_open_orders(store: PipelineStore) -> None:
    resting, other = order("MOCK_open", status=OrderStatus.NEW), order("MOCK_open2", status=OrderStatus.NEW)
    await store.commit(UnitOfWork(at=NOW, effects=stored(resting, other, order("MOCK_done"))))
    _balances, _positions, orders = await store.exchange_state()
    assert sorted(o.order_id for o in orders) == ["MOCK_open", "MOCK_open2"]
    assert await store.open_order_ids() == {"MOCK_open", "MOCK_open2"}
    _balances, _positions, only = await store.exchange_state(["MOCK_open2", "MOCK_done"])
    assert [o.order_id for o in only] == ["MOCK_open2"]
