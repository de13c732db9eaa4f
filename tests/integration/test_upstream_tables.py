"""Upstream's tables written in the batch's transaction (PostgreSQL, tables shaped like
upstream's, created by the test in `public`)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import psycopg
import pytest

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
from execution_service.engine.exchange import Effects
from execution_service.errors import ConfigError
from execution_service.pipeline.work import UnitOfWork
from execution_service.store.database import Database
from execution_service.store.upstream import UpstreamTables, find_upstream_tables
from execution_service.store.writer import BatchWriter
from tests.helpers import database_for
from tests.upstream import create_upstream_tables

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
async def database(postgres_url: str) -> AsyncIterator[Database]:
    create_upstream_tables(postgres_url)
    db = database_for(postgres_url)
    await db.migrate()
    yield db
    await db.dispose()


def limit_buy(order_id: str, quantity: str = "0.02") -> Order:
    return Order(order_id=order_id, client_id=f"c-{order_id}", symbol="BTCUSDT", side=Side.BUY,
                 order_type=OrderType.LIMIT, quantity=Decimal(quantity),
                 price=Decimal("89900.00"), status=OrderStatus.NEW, source=Source.STREAM,
                 created_at=NOW, updated_at=NOW, strategy_id="s1", fingerprint="f")


def fill(order: Order, quantity: str, at: datetime) -> tuple[Order, Trade]:
    filled = order.filled_quantity + Decimal(quantity)
    status = OrderStatus.FILLED if filled == order.quantity else OrderStatus.PARTIALLY_FILLED
    changed = replace(order, filled_quantity=filled, avg_fill_price=order.price, updated_at=at,
                      status=status, fee=order.fee + Decimal("0.5"), version=order.version + 1)
    assert order.price is not None
    trade = Trade(f"{order.order_id}-{changed.version}", order.order_id, order.symbol, order.side,
                  Decimal(quantity), order.price, Decimal("0.5"), "USDT", Decimal("0.25"),
                  Liquidity.MAKER, at)
    return changed, trade


def upstream_rows(url: str, query: str) -> list[tuple[object, ...]]:
    with psycopg.connect(url) as conn:
        return conn.execute(query).fetchall()  # type: ignore[arg-type]


async def test_an_order_is_upserted_as_it_changes_and_its_fills_point_at_it(
    database: Database, postgres_url: str
) -> None:
    writer = BatchWriter(database, upstream_tables="orders,trades")
    await writer.register(NOW)  # (finds upstream's tables)
    assert writer.upstream == UpstreamTables("public", orders=True, trades=True)
    order = limit_buy("MOCK_a")
    await writer.commit(UnitOfWork(at=NOW, effects=Effects(created={"MOCK_a": order})))
    assert upstream_rows(postgres_url, "SELECT status, size, filled_size, approved, order_type,"
                                       " side FROM orders") == [
        ("submitted", Decimal("0.02"), Decimal(0), True, "limit", "buy")]

    later = NOW + timedelta(seconds=5)
    partial, first = fill(order, "0.005", later)
    await writer.commit(UnitOfWork(at=later, effects=Effects(
        updated={"MOCK_a": (partial, order.version)}, trades=[first])))
    done, second = fill(partial, "0.015", later + timedelta(seconds=1))
    await writer.commit(UnitOfWork(at=later, effects=Effects(
        updated={"MOCK_a": (done, partial.version)}, trades=[second])))

    assert upstream_rows(postgres_url, "SELECT status, filled_size, avg_fill_price,"
                                       " filled_at IS NOT NULL FROM orders") == [
        ("filled", Decimal("0.02"), Decimal("89900"), True)]
    assert upstream_rows(postgres_url, """
        SELECT t.status, t.size, t.execution_price, t.fees, t.slippage_bps, t.exchange,
               t.exchange_trade_id, o.order_id
        FROM trades t JOIN orders o ON o.id = t.order_id ORDER BY t.id""") == [
        ("partial", Decimal("0.005"), Decimal("89900"), Decimal("0.5"), Decimal("0.25"), "PAPER",
         "MOCK_a-1", "MOCK_a"),
        ("filled", Decimal("0.015"), Decimal("89900"), Decimal("0.5"), Decimal("0.25"), "PAPER",
         "MOCK_a-2", "MOCK_a")]


async def test_values_upstream_cannot_hold_never_fail_the_batch(
    database: Database, postgres_url: str
) -> None:
    writer = BatchWriter(database, upstream_tables="orders")
    await writer.register(NOW)
    rounded_away = replace(limit_buy("MOCK_zero", "0"), status=OrderStatus.REJECTED,
                           error_code=ErrorCode.FILTER_FAILURE,
                           error_message="Filter failure: LOT_SIZE",
                           metadata={"requested_quantity": Decimal("0.000001234567891234")})
    too_large = limit_buy("MOCK_huge", "100000000000")
    await writer.commit(UnitOfWork(at=NOW, effects=Effects(
        created={o.order_id: o for o in (rounded_away, too_large)})))
    # The rejection is there with the quantity asked (at upstream's 8 places); the order
    # too large for DECIMAL(18, 8) is left out, and this service's own rows are committed.
    assert upstream_rows(postgres_url, "SELECT order_id, status, size, rejection_reason"
                                       " FROM public.orders") == [
        ("MOCK_zero", "rejected", Decimal("0.00000123"), "Filter failure: LOT_SIZE")]
    assert upstream_rows(postgres_url, "SELECT count(*) FROM execution.orders") == [(2,)]


async def test_auto_finds_upstream_orders_and_leaves_trades_to_the_db_writer(
    database: Database,
) -> None:
    async with database.transaction() as conn:
        assert await find_upstream_tables(conn, "auto", "public") == UpstreamTables(
            "public", orders=True, trades=False)
        assert await find_upstream_tables(conn, "orders,trades", "public") == UpstreamTables(
            "public", orders=True, trades=True)
        assert await find_upstream_tables(conn, "off", "public") is None


async def test_a_database_without_upstream_tables_is_left_alone_unless_insisted_on(
    postgres_url: str,
) -> None:
    db = database_for(postgres_url)
    await db.migrate()
    async with db.transaction() as conn:
        assert await find_upstream_tables(conn, "auto", "public") is None
        with pytest.raises(ConfigError, match=r"no table public\.orders"):
            await find_upstream_tables(conn, "orders", "public")
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute("CREATE TABLE orders (id SERIAL, order_id TEXT, symbol TEXT)")
    async with db.transaction() as conn:
        with pytest.raises(ConfigError, match="has no column side, order_type"):
            await find_upstream_tables(conn, "orders", "public")
    await db.dispose()
