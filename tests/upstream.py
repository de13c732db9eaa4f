"""Upstream's facts, in this project's words: the tables of the Claire de Binare database the
service shares, the orders its risk manager sends, and the queries its readers run.

Shapes taken from upstream's `infrastructure/database/schema.sql` (with migrations 002 and
003 applied), `services/risk/service.py` and its readers (`services/reports`,
`services/validation`, `scripts/baseline_reconciliation.sh`); written here, not copied.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import psycopg

# Upstream's tables as its schema leaves them in the public schema: an `orders` table
# whose `order_id` is unique, `trades` pointing at `orders.id`, `positions` per symbol.
UPSTREAM_DDL = """
CREATE TABLE orders (
    id SERIAL PRIMARY KEY,
    order_id VARCHAR(100) UNIQUE,
    signal_id INTEGER,
    symbol VARCHAR(20) NOT NULL,
    side VARCHAR(10) NOT NULL CHECK (side IN ('buy', 'sell', 'long', 'short')),
    order_type VARCHAR(20) NOT NULL DEFAULT 'market'
        CHECK (order_type IN ('market', 'limit', 'stop', 'stop_limit')),
    price DECIMAL(18, 8),
    size DECIMAL(18, 8) NOT NULL CHECK (size > 0),
    approved BOOLEAN NOT NULL DEFAULT FALSE,
    rejection_reason TEXT,
    status VARCHAR(20) NOT NULL DEFAULT 'pending'
        CHECK (status IN ('pending', 'submitted', 'filled', 'partial', 'cancelled', 'rejected')),
    filled_size DECIMAL(18, 8) DEFAULT 0.0,
    avg_fill_price DECIMAL(18, 8),
    created_at TIMESTAMPTZ NOT NULL DEFAULT CURRENT_TIMESTAMP,
    submitted_at TIMESTAMPTZ,
    filled_at TIMESTAMPTZ,
    metadata JSONB,
    CHECK (filled_size >= 0 AND filled_size <= size)
);
CREATE TABLE trades (
    id SERIAL PRIMARY KEY,
    order_id INTEGER REFERENCES orders(id) ON DELETE SET NULL,
    symbol VARCHAR(20) NOT NULL,
    side VARCHAR(10) NOT NULL CHECK (side IN ('buy', 'sell')),
    price DECIMAL(18, 8) NOT NULL CHECK (price > 0),
    size DECIMAL(18, 8) NOT NULL CHECK (size > 0),
    status VARCHAR(20) NOT NULL DEFAULT 'filled' CHECK (status IN ('filled', 'partial', 'cancelled')),
    execution_price DECIMAL(18, 8) NOT NULL CHECK (execution_price > 0),
    slippage_bps DECIMAL(10, 2),
    fees DECIMAL(18, 8) DEFAULT 0.0,
    timestamp TIMESTAMPTZ NOT NULL DEFAULT CURRENT_TIMESTAMP,
    exchange VARCHAR(20) DEFAULT 'MEXC',
    exchange_trade_id VARCHAR(100),
    metadata JSONB
);
CREATE TABLE positions (
    id SERIAL PRIMARY KEY,
    symbol VARCHAR(20) NOT NULL UNIQUE,
    side VARCHAR(10) NOT NULL,
    size DECIMAL(18, 8) NOT NULL DEFAULT 0.0,
    updated_at TIMESTAMPTZ NOT NULL DEFAULT CURRENT_TIMESTAMP
);
"""


def create_upstream_tables(url: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(UPSTREAM_DDL)  # type: ignore[arg-type]


def risk_order(symbol: str, price: float, notional: float, second: int, strategy: str,
               side: str = "BUY") -> dict[str, Any]:
    """An order as upstream's risk manager builds it: the quantity `notional / price` as an
    unrounded float, the client id made of the symbol and the signal's whole second."""
    return {"type": "order", "symbol": symbol, "side": side, "quantity": notional / price,
            "stop_loss_pct": 0.02, "signal_id": second, "reason": "momentum",
            "timestamp": second, "strategy_id": strategy, "client_id": f"{symbol}-{second}",
            "price": price}


def as_stream_fields(order: dict[str, Any]) -> dict[str, str]:
    """The same order as redis-py's XADD writes the dict: str() of each value, floats as
    repr(), None left out."""
    return {key: repr(value) if isinstance(value, float) else str(value)
            for key, value in order.items() if value is not None}


def daily_summary(conn: psycopg.Connection[Any]) -> tuple[int, int, int, Decimal]:
    """What upstream's daily orders report counts: orders, filled, rejected, notional."""
    row = conn.execute("""
        SELECT count(*), count(*) FILTER (WHERE status = 'filled'),
               count(*) FILTER (WHERE status = 'rejected'),
               coalesce(sum(size * coalesce(avg_fill_price, price, 0)), 0)
        FROM public.orders WHERE created_at >= now() - interval '24 hours'""").fetchone()
    assert row is not None
    return row[0], row[1], row[2], row[3]


def reconciliation_count(conn: psycopg.Connection[Any]) -> int:
    """What upstream's reconciliation script compares with XLEN stream.fills."""
    row = conn.execute(
        "SELECT count(*) FROM public.orders WHERE status IN ('filled', 'rejected')").fetchone()
    assert row is not None
    return int(row[0])
