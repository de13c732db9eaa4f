"""The store on real SQLite and PostgreSQL: same migrations, exact decimals, one writer."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func, select, text

from execution_service.config import load_settings
from execution_service.domain.orders import (
    ErrorCode,
    Liquidity,
    Order,
    OrderStatus,
    OrderType,
    Side,
    Source,
    Trade,
)
from execution_service.engine.exchange import OrderFilled, OrderRejected
from execution_service.errors import WriteConflict
from execution_service.store import tables
from execution_service.store.database import Database
from execution_service.store.repository import Store
from execution_service.store.writer import BalanceChange, BatchWriter, OutboxMessage, UnitOfWork

NOW = datetime(2026, 11, 24, 12, 0, 0, 123456, tzinfo=UTC)


@pytest.fixture
async def database(database_url: str) -> AsyncIterator[Database]:
    db = Database(load_settings(database_url=database_url).database())
    await db.migrate()
    yield db
    await db.dispose()


@pytest.fixture
def writer(database: Database) -> BatchWriter:
    return BatchWriter(database)


@pytest.fixture
def store(database: Database, writer: BatchWriter) -> Store:
    return Store(database, writer)


def order(order_id: str, client_id: str | None = None, status: OrderStatus = OrderStatus.FILLED,
          quantity: str = "0.00000001", at: datetime = NOW) -> Order:
    return Order(order_id=order_id, client_id=client_id, symbol="BTCUSDT", side=Side.BUY,
                 order_type=OrderType.MARKET, quantity=Decimal(quantity), price=None,
                 status=status, source=Source.STREAM, created_at=at, updated_at=at,
                 filled_quantity=Decimal(quantity), avg_fill_price=Decimal("123456789.12345678"),
                 fee=Decimal("0.00000002"), fee_asset="USDT", slippage_bps=Decimal("1.0001"),
                 metadata={"signal_id": "s", "nested": {"stop_loss_pct": Decimal("0.02")}})


def trade_of(o: Order) -> Trade:
    assert o.avg_fill_price is not None
    return Trade(trade_id=o.order_id + "-1", order_id=o.order_id, symbol=o.symbol, side=o.side,
                 quantity=o.quantity, price=o.avg_fill_price, fee=o.fee, fee_asset="USDT",
                 slippage_bps=Decimal("1.0001"), liquidity=Liquidity.TAKER, executed_at=o.updated_at)


async def test_migrate_twice_is_harmless(database: Database) -> None:
    await database.migrate()
    async with database.transaction() as conn:
        assert await conn.scalar(select(func.count()).select_from(tables.orders)) == 0


async def test_orders_and_trades_round_trip_exactly(store: Store, writer: BatchWriter) -> None:
    filled = order("MOCK_1", "c1")
    await writer.commit(UnitOfWork(at=NOW, executions=[OrderFilled(filled, trade_of(filled))]))
    detail = await store.get_order_by_id("MOCK_1")
    assert detail is not None
    assert detail.order == filled
    assert detail.trades == [trade_of(filled)]
    assert [e["status"] for e in detail.events] == ["NEW", "FILLED"]
    assert detail.order.created_at.tzinfo is not None


async def test_seed_store_methods(store: Store) -> None:
    rejected = order("MOCK_r", status=OrderStatus.REJECTED, at=NOW - timedelta(seconds=1))
    rejected.error_code, rejected.error_message = ErrorCode.MOCK_REJECTION, "simulated"
    filled = order("MOCK_f")
    await store.save_order(rejected)
    await store.save_trade(filled, trade_of(filled))
    assert [o.order_id for o in await store.get_recent_orders(10)] == ["MOCK_f", "MOCK_r"]
    assert [o.order_id for o in await store.get_recent_orders(1)] == ["MOCK_f"]
    assert (await store.get_order_by_id("MOCK_r")) is not None
    assert await store.get_order_by_id("MOCK_nope") is None
    stats = await store.get_stats()
    assert stats["total_orders"] == 2
    assert stats["total_trades"] == 1
    assert stats["orders_by_status"] == {"FILLED": 1, "REJECTED": 1}
    assert stats["volume"]["USDT"] > 0


async def test_client_id_is_unique(writer: BatchWriter) -> None:
    await writer.commit(UnitOfWork(at=NOW, executions=[OrderRejected(order("MOCK_a", "same"))]))
    with pytest.raises(WriteConflict):
        await writer.commit(UnitOfWork(at=NOW, executions=[OrderRejected(order("MOCK_b", "same"))]))


async def test_failed_batch_leaves_nothing_behind(store: Store, writer: BatchWriter) -> None:
    await writer.commit(UnitOfWork(at=NOW, executions=[OrderRejected(order("MOCK_a", "taken"))]))
    batch = UnitOfWork(at=NOW, executions=[OrderRejected(order("MOCK_new")),
                                           OrderRejected(order("MOCK_dup", "taken"))],
                       outbox=[OutboxMessage.of("MOCK_new:1", "MOCK_new", {"x": 1}, NOW)])
    with pytest.raises(WriteConflict):
        await writer.commit(batch)
    assert await store.get_order_by_id("MOCK_new") is None
    assert await store.unsent_results(10) == []


async def test_balances_are_compare_and_set(store: Store, writer: BatchWriter) -> None:
    await writer.open_account({"USDT": Decimal("100.5")}, NOW)
    await writer.commit(UnitOfWork(at=NOW, balances=[
        BalanceChange("USDT", Decimal("100.5"), Decimal("0.000000000000000001")),
        BalanceChange("BTC", None, Decimal("12345678901234567.12345678"))]))
    assert await store.free_balances() == {"USDT": Decimal("0.000000000000000001"),
                                           "BTC": Decimal("12345678901234567.12345678")}
    with pytest.raises(WriteConflict):  # somebody else's view of the balance is stale
        await writer.commit(UnitOfWork(at=NOW, balances=[
            BalanceChange("USDT", Decimal("100.5"), Decimal(50))]))


async def test_balance_can_never_go_negative(writer: BatchWriter) -> None:
    await writer.open_account({"USDT": Decimal(1)}, NOW)
    with pytest.raises(WriteConflict):
        await writer.commit(UnitOfWork(at=NOW, balances=[
            BalanceChange("USDT", Decimal(1), Decimal("-0.00000001"))]))


async def test_open_account_only_once(store: Store, writer: BatchWriter) -> None:
    await writer.open_account({"USDT": Decimal(10)}, NOW)
    await writer.open_account({"USDT": Decimal(99), "BTC": Decimal(1)}, NOW)
    assert await store.free_balances() == {"USDT": Decimal(10)}


async def test_outbox_unsent_until_marked(store: Store, writer: BatchWriter) -> None:
    messages = [OutboxMessage.of(f"e{i}", None, {"n": Decimal(i) / 3}, NOW) for i in range(3)]
    await writer.commit(UnitOfWork(at=NOW, outbox=messages))
    unsent = await store.unsent_results(10)
    assert [row.event_id for row in unsent] == ["e0", "e1", "e2"]
    assert unsent[1].payload == messages[1].payload
    await writer.mark_sent(["e0", "e2"], NOW)
    assert [row.event_id for row in await store.unsent_results(10)] == ["e1"]
    assert await store.count_unsent() == 1


async def test_control_state_is_replaced_not_duplicated(store: Store, writer: BatchWriter) -> None:
    await writer.commit(UnitOfWork(at=NOW, control={"kill_switch": {"active": True}}))
    await writer.commit(UnitOfWork(at=NOW, control={"kill_switch": {"active": False}}))
    assert await store.control_state() == {"kill_switch": {"active": False}}


async def test_postgresql_plans_every_execution_for_its_values(postgres_url: str) -> None:
    # A generic plan cached while the table was small turned the duplicate lookup into a
    # sequential scan that grew with every order (found by the benchmark at 100,000 orders).
    db = Database(load_settings(database_url=postgres_url).database())
    await db.migrate()
    writer = BatchWriter(db)
    async with writer.session() as session:
        for i in range(20):
            await session.find_orders([f"c{i}"], [], [])
        conn = session.connection
        assert await conn.scalar(text("SELECT count(*) FROM pg_prepared_statements")) == 0
    await db.dispose()


@pytest.mark.parametrize("sqlstate", ["40P01", "40001"])
async def test_a_deadlock_or_serialization_failure_is_a_conflict_not_an_outage(
    postgres_url: str, sqlstate: str
) -> None:
    # Two instances writing the same rows can deadlock; the server is fine, the batch is re-run.
    db = Database(load_settings(database_url=postgres_url).database())
    with pytest.raises(WriteConflict):
        async with db.transaction() as conn:
            await conn.execute(text(
                f"DO $$ BEGIN RAISE EXCEPTION 'lost the race' USING ERRCODE = '{sqlstate}'; END $$"))
    await db.dispose()
