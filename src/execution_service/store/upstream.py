"""Upstream's tables: each order this service executes, also written where upstream's readers
look for it, in the same transaction as the service's own rows.

Upstream's execution service (Claire de Binare, `services/execution/database.py`) wrote
every result into its `orders` table (`save_order`) and every fill into `trades`
(`save_trade`); its reports, its validation collectors and its reconciliation script read
those tables. Upstream's `db_writer` writes `trades` rows itself, one per FILLED message on
`order_results`, and `orders` rows with status `pending` for the risk manager's messages on
`orders`. So by default (`UPSTREAM_TABLES=auto`) this service writes only upstream's
`orders`, where the table is found, and `trades` only when asked to (`orders,trades`, for a
pipeline without a db_writer): nothing is counted twice.

Upstream's columns are `DECIMAL(18, 8)` and checked (`size > 0`, `filled_size <= size`,
lower-case vocabularies); values are brought into that shape, and an order whose quantity
cannot be written there (zero after rounding, or beyond 10^10) is left out rather than
failing the batch.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import ROUND_DOWN, ROUND_HALF_EVEN, Decimal
from typing import Any

from psycopg.types.json import Json
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from execution_service.domain.codec import dumps, plain
from execution_service.domain.orders import REQUESTED_QUANTITY, Order, OrderStatus, OrderType, Trade
from execution_service.errors import ConfigError

_PLACES = Decimal("1e-8")  # DECIMAL(18, 8)
_LIMIT = Decimal("1e10")  # the first value DECIMAL(18, 8) cannot hold
_BPS_PLACES = Decimal("0.01")  # trades.slippage_bps DECIMAL(10, 2)
_BPS_LIMIT = Decimal("1e8")

_STATUS = {
    OrderStatus.PENDING_NEW: "submitted", OrderStatus.NEW: "submitted",
    OrderStatus.PARTIALLY_FILLED: "partial", OrderStatus.FILLED: "filled",
    OrderStatus.CANCELED: "cancelled", OrderStatus.EXPIRED: "cancelled",
    OrderStatus.REJECTED: "rejected",
}
_ORDER_TYPE = {
    OrderType.MARKET: "market", OrderType.LIMIT: "limit", OrderType.LIMIT_MAKER: "limit",
    OrderType.STOP_LOSS: "stop", OrderType.TAKE_PROFIT: "stop",
    OrderType.STOP_LOSS_LIMIT: "stop_limit", OrderType.TAKE_PROFIT_LIMIT: "stop_limit",
}
# The columns of upstream's `orders` this service writes; the table must have each of them.
_ORDER_COLUMNS = ("order_id", "symbol", "side", "order_type", "price", "size", "approved",
                  "rejection_reason", "status", "filled_size", "avg_fill_price", "created_at",
                  "submitted_at", "filled_at", "metadata")
_TRADE_COLUMNS = ("order_id", "symbol", "side", "price", "size", "status", "execution_price",
                  "slippage_bps", "fees", "timestamp", "exchange", "exchange_trade_id",
                  "metadata")
Statement = tuple[str, tuple[Any, ...]]


@dataclass(frozen=True, slots=True)
class UpstreamTables:
    """Which of upstream's tables are written, in which schema."""

    schema: str
    orders: bool = True
    trades: bool = False

    def statements(self, orders: Iterable[Order], trades: Iterable[Trade]) -> list[Statement]:
        """Upserts of the orders this batch created or changed, then inserts of its fills."""
        statements: list[Statement] = []
        written: dict[str, Order] = {}
        for order in orders:
            row = _order_row(order)
            if row is not None:
                statements.append((self._upsert_order, row))
                written[order.order_id] = order
        if self.trades:
            statements.extend((self._insert_trade, _trade_row(trade, written[trade.order_id]))
                              for trade in trades if trade.order_id in written)
        return statements

    @property
    def _upsert_order(self) -> str:
        changing = ("status", "filled_size", "avg_fill_price", "filled_at", "rejection_reason")
        return (f'INSERT INTO "{self.schema}".orders ({", ".join(_ORDER_COLUMNS)})'
                f" VALUES ({', '.join(['%s'] * len(_ORDER_COLUMNS))})"
                " ON CONFLICT (order_id) DO UPDATE SET "
                + ", ".join(f"{column} = EXCLUDED.{column}" for column in changing))

    @property
    def _insert_trade(self) -> str:
        values = ["%s"] * len(_TRADE_COLUMNS)
        values[0] = f'(SELECT id FROM "{self.schema}".orders WHERE order_id = %s)'
        return (f'INSERT INTO "{self.schema}".trades ({", ".join(_TRADE_COLUMNS)})'
                f" VALUES ({', '.join(values)})")


def _order_row(order: Order) -> tuple[Any, ...] | None:
    requested = order.metadata.get(REQUESTED_QUANTITY)
    size = _fit(order.quantity) or _fit(requested if isinstance(requested, Decimal) else None)
    if not size:
        return None
    filled = min(_fit(order.filled_quantity) or Decimal(0), size)
    status = _STATUS[order.status]
    metadata = {"source": "execution_service", "order_id": order.order_id,
                "client_id": order.client_id, "strategy_id": order.strategy_id,
                "bot_id": order.bot_id, "fee": plain(order.fee), "fee_asset": order.fee_asset}
    return (order.order_id, order.symbol, order.side.value.lower(), _ORDER_TYPE[order.order_type],
            _fit(order.price), size, True,
            order.error_message if status == "rejected" else None, status, filled,
            _fit(order.avg_fill_price), order.created_at, order.created_at,
            order.updated_at if status == "filled" else None, _json(metadata))


def _trade_row(trade: Trade, order: Order) -> tuple[Any, ...]:
    bps = trade.slippage_bps.quantize(_BPS_PLACES, rounding=ROUND_HALF_EVEN)
    return (trade.order_id, trade.symbol, trade.side.value.lower(), _fit(trade.price),
            _fit(trade.quantity), "filled" if order.status is OrderStatus.FILLED else "partial",
            _fit(trade.price), bps if abs(bps) < _BPS_LIMIT else None, _fit(trade.fee),
            trade.executed_at, "PAPER", trade.trade_id,
            _json({"order_id": trade.order_id, "liquidity": trade.liquidity.value,
                   "fee_asset": trade.fee_asset}))


def _fit(value: Decimal | None) -> Decimal | None:
    """`value` as DECIMAL(18, 8) holds it (8 places, rounded down), or None if it cannot."""
    if value is None:
        return None
    fitted = value.quantize(_PLACES, rounding=ROUND_DOWN)
    return fitted if abs(fitted) < _LIMIT else None


def _json(value: dict[str, Any]) -> Json:
    return Json(value, dumps=lambda v: dumps(v).decode())


async def find_upstream_tables(conn: AsyncConnection, setting: str, schema: str) -> UpstreamTables | None:
    """Upstream's tables to write as `UPSTREAM_TABLES` says: `auto` writes `orders` where a
    table shaped like upstream's is found, `off` none; `orders` or `orders,trades` insist
    (a ConfigError when the table is missing or shaped otherwise)."""
    wanted = {part.strip() for part in setting.lower().split(",") if part.strip()}
    if conn.dialect.name != "postgresql" or wanted == {"off"}:
        return None
    problem = await _shape_problem(conn, schema, "orders", _ORDER_COLUMNS)
    if "trades" in wanted and problem is None:
        problem = await _shape_problem(conn, schema, "trades", (*_TRADE_COLUMNS, "id"))
    if problem is None:
        return UpstreamTables(schema, orders=True, trades="trades" in wanted)
    if wanted == {"auto"}:
        return None
    raise ConfigError(f"UPSTREAM_TABLES={setting}: {problem}")


async def _shape_problem(
    conn: AsyncConnection, schema: str, table: str, columns: Iterable[str]
) -> str | None:
    found = {row[0] for row in await conn.execute(text(
        "SELECT column_name FROM information_schema.columns"
        " WHERE table_schema = :schema AND table_name = :table"),
        {"schema": schema, "table": table})}
    if not found:
        return f"no table {schema}.{table}"
    missing = [column for column in columns if column not in found]
    if missing:
        return f"{schema}.{table} has no column {', '.join(missing)}"
    if table == "orders" and not await conn.scalar(text(
            "SELECT EXISTS (SELECT 1 FROM pg_index i JOIN pg_attribute a"
            " ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0]"
            " WHERE i.indrelid = to_regclass(:name) AND i.indisunique"
            " AND i.indnatts = 1 AND a.attname = 'order_id')"),
            {"name": f'"{schema}".orders'}):
        return f"{schema}.orders.order_id is not unique"
    return None
