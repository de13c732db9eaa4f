"""The store on real SQLite and PostgreSQL: same migrations, exact decimals, one writer."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, func, select, text

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
from execution_service.engine.account import Amounts, BalanceChange
from execution_service.engine.events import OrderEvent
from execution_service.engine.exchange import Effects
from execution_service.engine.positions import Position, PositionChange
from execution_service.errors import WriteConflict
from execution_service.pipeline.work import OutboxMessage, RejectedMessage, UnitOfWork
from execution_service.store import tables
from execution_service.store.database import MIGRATIONS, Database
from execution_service.store.postgres import PostgresBatchSession
from execution_service.store.repository import Store
from execution_service.store.rows import ORDERS
from execution_service.store.writer import BatchWriter
from tests.helpers import database_for

NOW = datetime(2026, 11, 24, 12, 0, 0, 123456, tzinfo=UTC)


@pytest.fixture
async def database(database_url: str) -> AsyncIterator[Database]:
    db = database_for(database_url)
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
                 metadata={"signal_id": "s", "nested": {"stop_loss_pct": Decimal("0.02")}},
                 fingerprint="f" if client_id else None)


def trade_of(o: Order) -> Trade:
    assert o.avg_fill_price is not None
    return Trade(trade_id=o.order_id + "-1", order_id=o.order_id, symbol=o.symbol, side=o.side,
                 quantity=o.quantity, price=o.avg_fill_price, fee=o.fee, fee_asset="USDT",
                 slippage_bps=Decimal("1.0001"), liquidity=Liquidity.TAKER, executed_at=o.updated_at)


def stored(*orders: Order, trades: tuple[Trade, ...] = ()) -> Effects:
    """New orders with one event each (NEW then FILLED for filled ones), as the exchange makes them."""
    events = []
    for o in orders:
        statuses = [OrderStatus.NEW, o.status] if o.status is OrderStatus.FILLED else [o.status]
        events += [OrderEvent(o.order_id, seq, status, None, o.updated_at)
                   for seq, status in enumerate(statuses, 1)]
        o.version = len(statuses)
    return Effects(created={o.order_id: o for o in orders}, trades=list(trades), events=events)


def changed(free: str, locked: str = "0") -> Amounts:
    return Amounts(Decimal(free), Decimal(locked))


async def test_migrate_twice_is_harmless(database: Database) -> None:
    await database.migrate()
    async with database.transaction() as conn:
        assert await conn.scalar(select(func.count()).select_from(tables.orders)) == 0


async def test_orders_and_trades_round_trip_exactly(store: Store, writer: BatchWriter) -> None:
    filled = order("MOCK_1", "c1")
    await writer.commit(UnitOfWork(at=NOW, effects=stored(filled, trades=(trade_of(filled),))))
    detail = await store.get_order_by_id("MOCK_1")
    assert detail is not None
    assert detail.order == replace(filled, number=1)  # (numbered by the database)
    assert detail.trades == [replace(trade_of(filled), number=1)]
    assert [e["status"] for e in detail.events] == ["NEW", "FILLED"]
    assert detail.order.created_at.tzinfo is not None


async def test_the_database_numbers_orders_and_trades_in_order_and_never_twice(
    store: Store, writer: BatchWriter, database: Database
) -> None:
    """Binance's integer ids: each new order and trade gets the next number, batch after
    batch, and a number once given stays (an order changed later keeps its own)."""
    for batch in range(3):
        orders = [order(f"MOCK_{batch}{i}", f"n{batch}{i}") for i in range(4)]
        await writer.commit(UnitOfWork(at=NOW, effects=stored(
            *orders, trades=tuple(trade_of(o) for o in orders))))
    numbered = sorted((o.number, o.order_id) for o in await store.get_recent_orders(100))
    assert [number for number, _ in numbered] == list(range(1, 13))
    assert [order_id for _, order_id in numbered] == sorted(order_id for _, order_id in numbered)
    trades = await store.get_trades(100)
    assert sorted(t.number for t in trades) == list(range(1, 13))
    changed = (await store.get_order_by_id("MOCK_00")).order  # type: ignore[union-attr]
    changed.status, version = OrderStatus.CANCELED, changed.version
    changed.version += 1
    await writer.commit(UnitOfWork(at=NOW, effects=Effects(updated={"MOCK_00": (changed, version)})))
    assert (await store.get_order_by_id("MOCK_00")).order.number == 1  # type: ignore[union-attr]


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


def keyed(order_id: str, client_id: str, fingerprint: str) -> Order:
    return replace(order(order_id, client_id), fingerprint=fingerprint)


async def test_client_id_is_unique_per_fingerprint(store: Store, writer: BatchWriter) -> None:
    await writer.commit(UnitOfWork(at=NOW, effects=stored(keyed("MOCK_a", "same", "f1"))))
    with pytest.raises(WriteConflict):  # the same order again (another instance, say)
        await writer.commit(UnitOfWork(at=NOW, effects=stored(keyed("MOCK_b", "same", "f1"))))
    # A different order under the same client_id is an order of its own.
    await writer.commit(UnitOfWork(at=NOW, effects=stored(keyed("MOCK_c", "same", "f2"))))
    assert await store.get_order_by_id("MOCK_c") is not None


async def test_failed_batch_leaves_nothing_behind(store: Store, writer: BatchWriter) -> None:
    await writer.commit(UnitOfWork(at=NOW, effects=stored(order("MOCK_a", "taken"))))
    batch = UnitOfWork(at=NOW, effects=stored(order("MOCK_new"), order("MOCK_dup", "taken")),
                       outbox=[OutboxMessage.of("MOCK_new:1", "MOCK_new", {"x": 1}, NOW)])
    with pytest.raises(WriteConflict):
        await writer.commit(batch)
    assert await store.get_order_by_id("MOCK_new") is None
    assert await writer.unsent(10) == []


async def test_balances_are_compare_and_set(store: Store, writer: BatchWriter) -> None:
    await writer.open_accounts(["default"], {"USDT": Decimal("100.5")}, NOW)
    await writer.commit(UnitOfWork(at=NOW, effects=Effects(balances=[
        BalanceChange("USDT", changed("100.5"), changed("0.000000000000000001", "7.25")),
        BalanceChange("BTC", None, changed("12345678901234567.12345678"))])))
    assert await store.get_balances() == {
        "USDT": {"free": Decimal("0.000000000000000001"), "locked": Decimal("7.25")},
        "BTC": {"free": Decimal("12345678901234567.12345678"), "locked": Decimal(0)}}
    for stale in (changed("100.5"), changed("0.000000000000000001")):  # free or locked moved
        with pytest.raises(WriteConflict):  # and what came with it is not written either
            await writer.commit(UnitOfWork(
                at=NOW, effects=Effects(**vars_of(stored(order("MOCK_lost"))), balances=[
                    BalanceChange("USDT", stale, changed("50"))]),
                outbox=[OutboxMessage.of("MOCK_lost:1", "MOCK_lost", {"x": 1}, NOW)]))
    assert await store.get_order_by_id("MOCK_lost") is None
    assert await writer.unsent(10) == []
    for i in range(6):  # every pooled connection was left usable
        await writer.commit(UnitOfWork(at=NOW, effects=stored(order(f"MOCK_next{i}"))))
    assert await store.get_order_by_id("MOCK_next5") is not None


async def test_an_exclusive_session_holds_the_other_instances_balance_writes_until_it_commits(
        postgres_url: str) -> None:
    db = database_for(postgres_url)
    await db.migrate()
    other_db = database_for(postgres_url)  # another instance: its own connections
    mine, other = BatchWriter(db, instance="mine"), BatchWriter(other_db, instance="other")
    await mine.open_accounts(["default"], {"USDT": Decimal(100)}, NOW)
    async with mine.session(exclusive=True) as session:
        balances, _, _ = await mine.exchange_state()  # read inside: stays as read
        assert balances[("default", "USDT")] == Amounts(Decimal(100))
        theirs = asyncio.create_task(other.commit(UnitOfWork(at=NOW, effects=Effects(balances=[
            BalanceChange("USDT", changed("100"), changed("90"))]))))
        await asyncio.sleep(0.3)
        assert not theirs.done()  # waiting for the lock
        await session.write(UnitOfWork(at=NOW, effects=Effects(balances=[
            BalanceChange("USDT", changed("100"), changed("80"))])))
    with pytest.raises(WriteConflict):  # then it runs, finds the balance moved, and re-runs
        await asyncio.wait_for(theirs, 5)
    assert (await mine.exchange_state())[0][("default", "USDT")] == Amounts(Decimal(80))
    await db.dispose()
    await other_db.dispose()


async def test_balance_can_never_go_negative(writer: BatchWriter) -> None:
    await writer.open_accounts(["default"], {"USDT": Decimal(1)}, NOW)
    with pytest.raises(WriteConflict):
        await writer.commit(UnitOfWork(at=NOW, effects=Effects(balances=[
            BalanceChange("USDT", changed("1"), changed("-0.00000001"))])))
    with pytest.raises(WriteConflict):
        await writer.commit(UnitOfWork(at=NOW, effects=Effects(balances=[
            BalanceChange("USDT", changed("1"), changed("1.00000001", "-0.00000001"))])))


async def test_open_account_only_once(store: Store, writer: BatchWriter) -> None:
    await writer.open_accounts(["default"], {"USDT": Decimal(10)}, NOW)
    await writer.open_accounts(["default"], {"USDT": Decimal(99), "BTC": Decimal(1)}, NOW)
    assert await store.get_balances() == {"USDT": {"free": Decimal(10), "locked": Decimal(0)}}


async def test_outbox_rows_are_unsent_above_their_instance_mark(
        database: Database, store: Store) -> None:
    writers = {name: BatchWriter(database, instance=name) for name in ("one", "two")}
    for writer in writers.values():
        await writer.register(NOW)
    messages = [OutboxMessage.of(f"e{i}", None, {"n": Decimal(i) / 3}, NOW) for i in range(3)]
    async with writers["one"].session() as session:
        last = await session.write(UnitOfWork(at=NOW, outbox=messages[:2]))
    async with writers["two"].session() as session:
        await session.write(UnitOfWork(at=NOW, outbox=messages[2:]))
    unsent = await writers["one"].unsent(10)  # every instance's, each in its own order
    assert [(row.instance, row.message.event_id) for row in unsent] == [
        ("one", "e0"), ("one", "e1"), ("two", "e2")]
    assert unsent[1].outbox_id == last
    assert unsent[1].message.result == {"n": Decimal(1) / 3}  # exact, as it went in
    assert await store.count_unsent() == 3
    # The next batch raises the mark with its own write; a mark never goes back.
    async with writers["one"].session() as session:
        assert await session.write(UnitOfWork(at=NOW), published_through=last) is None
    await writers["one"].mark_sent({"one": unsent[0].outbox_id}, NOW)
    assert [row.message.event_id for row in await writers["one"].unsent(10)] == ["e2"]
    assert await store.count_unsent() == 1
    # Retention: published rows older than the cut go; unsent ones stay, however old.
    assert await writers["one"].prune(NOW + timedelta(seconds=1)) == 2
    assert [row.message.event_id for row in await writers["two"].unsent(10)] == ["e2"]


async def test_the_marks_of_instances_gone_with_nothing_in_the_outbox_are_deleted(
        database: Database) -> None:
    writers = {name: BatchWriter(database, instance=name) for name in ("me", "gone", "busy", "new")}
    for name in ("me", "gone", "busy"):
        await writers[name].register(NOW)
    await writers["new"].register(NOW + timedelta(hours=2))
    async with writers["busy"].session() as session:  # a result not yet published
        await session.write(UnitOfWork(at=NOW, outbox=[OutboxMessage.of("b0", None, {}, NOW)]))
    assert await writers["me"].prune_marks(NOW + timedelta(hours=1)) == 1
    async with database.transaction() as conn:
        left = set((await conn.execute(select(tables.outbox_marks.c.instance))).scalars())
    # Not this instance's own, not one with a row above its mark, not one marked lately.
    assert "gone" not in left
    assert left >= {"me", "busy", "new"}
    assert [row.message.event_id for row in await writers["me"].unsent(10)] == ["b0"]


async def test_control_state_is_replaced_not_duplicated(store: Store, writer: BatchWriter) -> None:
    await writer.commit(UnitOfWork(at=NOW, control={"kill_switch": {"active": True}}))
    await writer.commit(UnitOfWork(at=NOW, control={"kill_switch": {"active": False}}))
    assert await store.control_state() == {"kill_switch": {"active": False}}


async def test_postgresql_plans_every_execution_for_its_values(postgres_url: str) -> None:
    # A generic plan cached while the table was small turned the duplicate lookup into a
    # sequential scan that grew with every order (found by the benchmark at 100,000 orders).
    db = database_for(postgres_url)
    await db.migrate()
    writer = BatchWriter(db)
    async with writer.session() as session:
        assert isinstance(session, PostgresBatchSession)
        for i in range(20):
            await session.find_orders([f"c{i}"], [], [])
        cursor = await session.connection.execute("SELECT count(*) FROM pg_prepared_statements")
        assert await cursor.fetchone() == (0,)
    await db.dispose()


async def test_postgresql_prepares_the_batch_statement_once_and_keeps_a_generic_plan(
        postgres_url: str) -> None:
    # Planned at every execution, the statement cost more of the server's time than
    # executing it (`python bench/commit.py`).
    db = database_for(postgres_url)
    await db.migrate()
    writer = BatchWriter(db)
    for i in range(12):
        await writer.commit(UnitOfWork(at=NOW, effects=stored(order(f"MOCK_{i}"))))
    async with writer.session() as session:
        assert isinstance(session, PostgresBatchSession)
        cursor = await session.connection.execute(
            "SELECT generic_plans, custom_plans FROM pg_prepared_statements"
            " WHERE statement LIKE 'WITH d AS%'")
        [(generic, custom)] = await cursor.fetchall()
    assert (generic, custom) == (7, 5)  # PostgreSQL's rule: five custom plans, then generic
    await db.dispose()


@pytest.mark.parametrize("sqlstate", ["40P01", "40001"])
async def test_a_deadlock_or_serialization_failure_is_a_conflict_not_an_outage(
    postgres_url: str, sqlstate: str
) -> None:
    # Two instances writing the same rows can deadlock; the server is fine, the batch is re-run.
    db = database_for(postgres_url)
    with pytest.raises(WriteConflict):
        async with db.transaction() as conn:
            await conn.execute(text(
                f"DO $$ BEGIN RAISE EXCEPTION 'lost the race' USING ERRCODE = '{sqlstate}'; END $$"))
    await db.dispose()


async def test_orders_change_compare_and_set_on_their_version(
        store: Store, writer: BatchWriter) -> None:
    resting = order("MOCK_rest", "rest", status=OrderStatus.NEW)
    resting.filled_quantity, resting.avg_fill_price, resting.fee = Decimal(0), None, Decimal(0)
    resting.reserved, resting.reserved_asset = Decimal("12.5"), "USDT"
    await writer.commit(UnitOfWork(at=NOW, effects=stored(resting)))
    resting.status, resting.version, resting.reserved = OrderStatus.CANCELED, 2, Decimal(0)
    event = OrderEvent("MOCK_rest", 2, OrderStatus.CANCELED, "canceled", NOW)
    await writer.commit(UnitOfWork(at=NOW, effects=Effects(updated={"MOCK_rest": (resting, 1)},
                                                           events=[event])))
    detail = await store.get_order_by_id("MOCK_rest")
    assert detail is not None
    assert detail.order == replace(resting, number=1)  # (numbered when stored)
    assert [e["status"] for e in detail.events] == ["NEW", "CANCELED"]
    resting.version = 3  # a second writer that read version 1 loses
    with pytest.raises(WriteConflict):
        await writer.commit(UnitOfWork(at=NOW, effects=Effects(updated={"MOCK_rest": (resting, 1)})))


async def test_exchange_state_holds_balances_positions_and_only_open_orders(
        store: Store, writer: BatchWriter) -> None:
    await writer.open_accounts(["default"], {"USDT": Decimal(100)}, NOW)
    resting = order("MOCK_open", status=OrderStatus.PARTIALLY_FILLED)
    position = Position("BTCUSDT", Decimal("0.5"), Decimal("90000.123456789012345678"),
                        Decimal("-1.5"), Decimal("0.04"), "USDT", 1, NOW)
    await writer.commit(UnitOfWork(at=NOW, effects=Effects(
        **vars_of(stored(resting, order("MOCK_done"))), positions=[PositionChange(0, position)])))
    balances, positions, open_orders = await writer.exchange_state()
    assert balances == {("default", "USDT"): Amounts(Decimal(100), Decimal(0))}
    assert positions == [position]
    assert [o.order_id for o in open_orders] == ["MOCK_open"]
    moved = Position("BTCUSDT", Decimal(0), Decimal(0), Decimal(2), Decimal("0.05"), "USDT", 2, NOW)
    await writer.commit(UnitOfWork(at=NOW, effects=Effects(positions=[PositionChange(1, moved)])))
    assert await store.get_positions() == [moved]
    with pytest.raises(WriteConflict):  # stale version
        await writer.commit(UnitOfWork(at=NOW, effects=Effects(positions=[PositionChange(1, moved)])))


def head() -> str:
    """The newest migration's revision."""
    config = Config()
    config.set_main_option("script_location", MIGRATIONS)
    return str(ScriptDirectory.from_config(config).get_current_head())


def vars_of(effects: Effects) -> dict[str, object]:
    return {"created": effects.created, "events": effects.events}


async def test_instances_starting_at_once_on_a_new_database_all_migrate(postgres_url: str) -> None:
    # Two instances started together both created the schema: CREATE SCHEMA IF NOT EXISTS
    # is no guard against a concurrent one (a unique violation in pg_namespace; found by
    # the two-instance fault test).
    databases = [database_for(postgres_url) for _ in range(6)]
    await asyncio.gather(*(db.migrate() for db in databases))
    async with databases[0].transaction() as conn:
        assert await conn.scalar(text("SELECT version_num FROM alembic_version")) == head()
    await asyncio.gather(*(db.dispose() for db in databases))


async def test_the_outbox_migration_keeps_what_was_unsent(database_url: str) -> None:
    # Rows from before migration 0005 become instance '' (empty), marked up to the first
    # one that was not sent.
    db = await migrated_to(database_url, "0004")
    async with db.transaction() as conn:
        for number, sent in enumerate([True, True, False, True]):
            await conn.execute(text(
                "INSERT INTO outbox (event_id, payload, created_at, sent_at)"
                " VALUES (:event_id, '{}', :at, :sent)"),
                {"event_id": f"old{number}", "at": NOW, "sent": NOW if sent else None})
    await db.migrate()
    unsent = await BatchWriter(db, instance="new").unsent(10)
    assert [(row.instance, row.message.event_id) for row in unsent] == [("", "old2"), ("", "old3")]
    await db.dispose()


async def test_the_accounts_migration_gives_what_was_stored_to_the_default_account(
        database_url: str) -> None:
    db = await migrated_to(database_url, "0005")
    async with db.transaction() as conn:
        await conn.execute(text("INSERT INTO balances (asset, free, locked, updated_at)"
                                " VALUES ('USDT', '99.5', '0.5', :at)"), {"at": NOW})
        await conn.execute(text(
            "INSERT INTO positions (symbol, quantity, avg_entry_price, realized_pnl, fees,"
            " quote_asset, version, updated_at) VALUES ('BTCUSDT', '0.1', '90000', '0', '9',"
            " 'USDT', 3, :at)"), {"at": NOW})
    await db.migrate()
    writer = BatchWriter(db)
    balances, positions, _ = await writer.exchange_state()
    assert balances == {("default", "USDT"): Amounts(Decimal("99.5"), Decimal("0.5"))}
    assert [(p.account, p.symbol, p.quantity, p.version) for p in positions] == [
        ("default", "BTCUSDT", Decimal("0.1"), 3)]
    # Another account gets the initial balances; the default one keeps what it had.
    await writer.open_accounts(["default", "bot-a"], {"USDT": Decimal(10)}, NOW)
    balances, _, _ = await writer.exchange_state()
    assert balances == {("default", "USDT"): Amounts(Decimal("99.5"), Decimal("0.5")),
                        ("bot-a", "USDT"): Amounts(Decimal(10))}
    await db.dispose()


async def test_an_invalid_message_is_kept_once_per_intake_entry(database_url: str) -> None:
    # Before migration 0008 a redelivered entry was kept again: the oldest copy stays.
    db = await migrated_to(database_url, "0007")
    async with db.transaction() as conn:
        for number, ref in enumerate(["stream.orders:1-0", "stream.orders:1-0", None, None,
                                      "stream.orders:2-0"]):
            await conn.execute(text(
                "INSERT INTO rejected_messages (source, intake_ref, payload, payload_bytes,"
                " reason, received_at) VALUES ('stream', :ref, :payload, 3, 'not JSON', :at)"),
                {"ref": ref, "payload": f"x{number}".encode(), "at": NOW})
    await db.migrate()
    async with db.transaction() as conn:
        kept = (await conn.execute(text(
            "SELECT intake_ref, payload FROM rejected_messages ORDER BY id"))).all()
    assert [(ref, bytes(payload)) for ref, payload in kept] == [
        ("stream.orders:1-0", b"x0"), (None, b"x2"), (None, b"x3"), ("stream.orders:2-0", b"x4")]

    writer = BatchWriter(db)
    async with writer.session() as session:
        found = await session.find_rejected([], ["stream.orders:2-0", "stream.orders:3-0"])
    assert (found.answers, found.entries) == (set(), {"stream.orders:2-0"})
    with pytest.raises(WriteConflict):  # a second copy of an entry is refused
        await writer.commit(UnitOfWork(at=NOW, rejected=[RejectedMessage(
            source=Source.STREAM, intake_ref="stream.orders:2-0", client_id=None, payload=b"x",
            payload_bytes=1, reason="not JSON", received_at=NOW)]))
    await db.dispose()


async def migrated_to(database_url: str, revision: str) -> Database:
    """A database at an older revision, to put rows in as that version wrote them."""
    db = database_for(database_url)
    async with db.transaction() as conn:
        if db.schema:
            await conn.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{db.schema}"'))
        await conn.run_sync(_upgrade_to, revision)
    return db


def _upgrade_to(connection: Connection, revision: str) -> None:
    config = Config()
    config.set_main_option("script_location", MIGRATIONS)
    config.attributes["connection"] = connection
    command.upgrade(config, revision)


async def test_the_migrations_build_exactly_the_tables_the_code_describes(database: Database) -> None:
    """Every column of `tables` (each entity's fields among them) exists as described,
    nullability included, and no other: a new field without its migration fails here."""
    def differences(connection: Connection) -> list[Any]:
        context = MigrationContext.configure(connection, opts={"compare_type": False})
        found = compare_metadata(context, tables.metadata)
        return [diff for diff in found if _about_columns(diff)]

    async with database.transaction() as conn:
        assert await conn.run_sync(differences) == []


def _about_columns(diff: Any) -> bool:
    """A column added, removed or of another nullability (alembic's own words for them)."""
    entries = diff if isinstance(diff, list) else [diff]
    return any(entry[0] in ("add_column", "remove_column", "modify_nullable")
               for entry in entries)


async def test_orders_stored_before_numbers_are_numbered_in_the_order_they_were_made(
    database_url: str,
) -> None:
    """Migration 0010 numbers the orders and trades already stored by creation time, and
    the database goes on from there."""
    db = await migrated_to(database_url, "0009")
    made = [("MOCK_b", NOW), ("MOCK_c", NOW + timedelta(seconds=2)),
            ("MOCK_a", NOW + timedelta(seconds=1))]  # (ids in another order than time)
    async with db.transaction() as conn:
        for order_id, at in made:
            row = ORDERS.row(order(order_id, at=at))
            for later in ("binance_rules", "list_ref", "waits_for"):  # (of 0011 to 0013)
                del row[later]
            await conn.execute(tables.orders.insert().values(row))
    await db.migrate()
    writer = BatchWriter(db)
    await writer.commit(UnitOfWork(at=NOW, effects=stored(order("MOCK_new", "new"))))
    store = Store(db, writer)
    numbers = {o.order_id: o.number for o in await store.get_recent_orders(10)}
    assert numbers == {"MOCK_b": 1, "MOCK_a": 2, "MOCK_c": 3, "MOCK_new": 4}
    await db.dispose()


async def test_an_accounts_order_lists_are_found_by_id_client_id_and_openness(
    store: Store, writer: BatchWriter
) -> None:
    """The read model of Binance's order lists, on both databases: a list's orders by its
    id (its first order's number) or by its client id (in its orders' metadata)."""
    legs = [replace(order(f"MOCK_l{i}", f"leg-{i}", status=OrderStatus.NEW, at=NOW + timedelta(
        seconds=i)), list_ref="MOCK_l0", account="bot", metadata={"list_client_id": "exit-1"})
        for i in range(2)]
    done = replace(order("MOCK_d", "done", status=OrderStatus.CANCELED), list_ref="MOCK_d",
                   account="bot", metadata={"list_client_id": "exit-0"})
    await writer.commit(UnitOfWork(at=NOW, effects=stored(done, *legs)))
    by_client = await store.account_list("bot", client_id="exit-1")
    assert [o.order_id for o in by_client] == ["MOCK_l0", "MOCK_l1"]
    first = by_client[0].number
    assert [o.order_id for o in await store.account_list("bot", number=first)] == [
        "MOCK_l0", "MOCK_l1"]
    assert await store.account_list("bot", number=by_client[1].number) == []  # (not a first)
    assert await store.account_list("other", client_id="exit-1") == []
    assert [[o.order_id for o in orders] for orders in await store.account_lists("bot")] == [
        ["MOCK_d"], ["MOCK_l0", "MOCK_l1"]]
    assert [[o.order_id for o in orders]
            for orders in await store.account_lists("bot", open_only=True)] == [
        ["MOCK_l0", "MOCK_l1"]]
