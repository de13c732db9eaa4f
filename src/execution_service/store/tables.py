"""The schema (SPEC 5), as SQLAlchemy Core tables. Migrations create exactly these."""

from __future__ import annotations

import dataclasses
from datetime import datetime
from decimal import Decimal
from types import UnionType
from typing import Any, Union, get_args, get_origin, get_type_hints

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    text,
)

from execution_service.domain.orders import Order, Trade
from execution_service.store.types import ExactDecimal, UTCDateTime

metadata = MetaData()


def columns_of(entity: type, *declared: Column[Any]) -> list[Column[Any]]:
    """A column per field of the dataclass `entity`, named as the field and in its order:
    the `declared` ones as given (strings need a length, keys and defaults a word), the
    rest by the field's type: a decimal is exact, a date has its time zone, a dict is
    JSON, an int is an integer, other text is unbounded; nullable when the field may be
    None. A new field of an entity is a new column without a word here."""
    by_name = {column.name: column for column in declared}
    fields = [field.name for field in dataclasses.fields(entity)]
    if unknown := set(by_name) - set(fields):
        raise TypeError(f"{entity.__name__} has no field {sorted(unknown)}")
    hints = get_type_hints(entity)
    return [by_name[name] if name in by_name else _column_for(name, hints[name])
            for name in fields]


def _column_for(name: str, hint: Any) -> Column[Any]:
    members = set(get_args(hint)) if get_origin(hint) in (Union, UnionType) else {hint}
    nullable = type(None) in members
    (kind,) = members - {type(None)}
    kind = get_origin(kind) or kind
    column_type = _TYPES.get(kind, Text)
    return Column(name, column_type() if isinstance(column_type, type) else column_type,
                  nullable=nullable)


_TYPES: dict[Any, Any] = {Decimal: ExactDecimal, datetime: UTCDateTime, dict: JSON, int: Integer,
                          bool: Boolean}


def written(table: Table) -> tuple[str, ...]:
    """The columns a row of `table` is written with, in the table's order: all but those
    the database assigns (a serial `id`, an `ASSIGNED` number). Each row is described
    once, here. (Plain `str`: SQLAlchemy's names are a subclass that orjson refuses as
    keys.)"""
    return tuple(str(column.name) for column in table.columns
                 if column.name != "id" and not column.info.get(ASSIGNED))


# Marks a column whose value the database gives each new row: an increasing number, from a
# sequence on PostgreSQL and a trigger on SQLite (migration 0010).
ASSIGNED = "assigned by the database"


def _number() -> Column[int]:
    """The row's number, unique and increasing: Binance's integer ids (`orderId`, `tradeId`)."""
    return Column("number", BigInteger, unique=True, info={ASSIGNED: True})

# The statuses of open orders (`OrderStatus.is_open`), for the partial index on them.
OPEN_STATUSES = "status IN ('PENDING_NEW', 'NEW', 'PARTIALLY_FILLED')"

# Rows written before sub-accounts existed belong to this one (domain.orders.DEFAULT_ACCOUNT).
_DEFAULT_ACCOUNT = "default"


def _account() -> Column[str]:
    return Column("account", String(64), nullable=False, server_default=_DEFAULT_ACCOUNT)


# SQLite autoincrements only an INTEGER PRIMARY KEY.
SerialId = BigInteger().with_variant(Integer(), "sqlite")

orders = Table(
    "orders",
    metadata,
    *columns_of(
        Order,
        Column("order_id", String(64), primary_key=True),
        Column("client_id", String(64)),
        Column("intake_ref", String(200), unique=True),
        Column("symbol", String(20), nullable=False),
        Column("side", String(4), nullable=False),
        Column("order_type", String(24), nullable=False),
        Column("fee_asset", String(16)),
        Column("status", String(20), nullable=False),
        Column("error_code", String(32)),
        Column("error_message", Text),
        Column("strategy_id", String(256)),
        Column("bot_id", String(256)),
        Column("source", String(8), nullable=False),
        Column("time_in_force", String(3)),
        Column("reserved", ExactDecimal(), nullable=False, server_default="0"),
        Column("reserved_asset", String(16)),
        Column("version", Integer, nullable=False, server_default="0"),
        Column("fingerprint", String(16)),  # see codec.fingerprint
        _account(),
        _number(),
    ),
    Index("ix_orders_created_at", "created_at"),
    Index("ix_orders_account_symbol", "account", "symbol", "created_at"),
    Index("ux_orders_client_id_fingerprint", "client_id", "fingerprint", unique=True),
    Index("ix_orders_list_ref", "list_ref"),  # an order list's orders
    # Open orders only (what a restart loads): a filled or rejected order never enters it.
    Index("ix_orders_open", "status", postgresql_where=text(OPEN_STATUSES),
          sqlite_where=text(OPEN_STATUSES)),
)

trades = Table(
    "trades",
    metadata,
    *columns_of(
        Trade,
        Column("trade_id", String(80), primary_key=True),
        Column("order_id", String(64), ForeignKey("orders.order_id"), nullable=False),
        Column("symbol", String(20), nullable=False),
        Column("side", String(4), nullable=False),
        Column("fee_asset", String(16), nullable=False),
        Column("liquidity", String(8), nullable=False),
        _account(),
        _number(),
    ),
    Index("ix_trades_order_id", "order_id"),
    Index("ix_trades_account_symbol", "account", "symbol", "executed_at"),
    Index("ix_trades_executed_at", "executed_at"),
)

order_events = Table(
    "order_events",
    metadata,
    Column("order_id", String(64), ForeignKey("orders.order_id"), primary_key=True),
    Column("seq", Integer, primary_key=True),
    Column("status", String(20), nullable=False),
    Column("detail", Text),
    Column("at", UTCDateTime(), nullable=False),
)

balances = Table(
    "balances",
    metadata,
    Column("asset", String(16), nullable=False),
    Column("free", ExactDecimal(), nullable=False),
    Column("locked", ExactDecimal(), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
    _account(),
    PrimaryKeyConstraint("account", "asset", name="pk_balances_account_asset"),
    CheckConstraint("CAST(free AS NUMERIC) >= 0", name="ck_balances_free_non_negative"),
    CheckConstraint("CAST(locked AS NUMERIC) >= 0", name="ck_balances_locked_non_negative"),
)

# Append-only: each instance's rows are published in `id` order (its batches commit one
# after the other), and `outbox_marks` holds how far they are published. Nothing here is
# updated per result.
outbox = Table(
    "outbox",
    metadata,
    Column("id", SerialId, primary_key=True, autoincrement=True),
    Column("instance", String(200), nullable=False, server_default=""),
    Column("event_id", String(100), nullable=False),
    Column("order_id", String(64)),
    Column("payload", Text, nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Index("ix_outbox_instance_id", "instance", "id"),
)

outbox_marks = Table(
    "outbox_marks",
    metadata,
    Column("instance", String(200), primary_key=True),
    Column("published_through", BigInteger, nullable=False),  # every row of it up to this id
    Column("updated_at", UTCDateTime(), nullable=False),
)

rejected_messages = Table(
    "rejected_messages",
    metadata,
    Column("id", SerialId, primary_key=True, autoincrement=True),
    Column("source", String(8), nullable=False),
    Column("intake_ref", String(200)),
    Column("client_id", String(64)),
    Column("payload", LargeBinary, nullable=False),
    Column("payload_bytes", Integer, nullable=False),
    Column("reason", Text, nullable=False),
    Column("received_at", UTCDateTime(), nullable=False),
    Column("fingerprint", String(16)),
    Index("ux_rejected_messages_client_id_fingerprint", "client_id", "fingerprint", unique=True),
    Index("ux_rejected_messages_intake_ref", "intake_ref", unique=True),  # once per entry
)

control_state = Table(
    "control_state",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("value", JSON, nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
)

positions = Table(
    "positions",
    metadata,
    Column("symbol", String(20), nullable=False),
    Column("quantity", ExactDecimal(), nullable=False),
    Column("avg_entry_price", ExactDecimal(), nullable=False),
    Column("realized_pnl", ExactDecimal(), nullable=False),
    Column("fees", ExactDecimal(), nullable=False),
    Column("quote_asset", String(16), nullable=False),
    Column("version", Integer, nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
    _account(),
    PrimaryKeyConstraint("account", "symbol", name="pk_positions_account_symbol"),
)

equity_snapshots = Table(
    "equity_snapshots",
    metadata,
    Column("id", SerialId, primary_key=True, autoincrement=True),
    Column("at", UTCDateTime(), nullable=False),
    Column("quote_asset", String(16), nullable=False),
    Column("equity", ExactDecimal(), nullable=False),
    Column("unpriced", JSON, nullable=False),  # assets held that have no price
    Column("detail", JSON, nullable=False),  # per asset: amount, price, value
    _account(),
    Index("ix_equity_snapshots_at", "at"),
    Index("ix_equity_snapshots_account_at", "account", "at"),
)
