"""Sending load, and counting afterwards: what is stored, what is pending, whether the books balance."""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from decimal import Context, Decimal, localcontext

import orjson
import psycopg
import redis

from execution_service.config import parse_decimal_map
from execution_service.domain.symbols import split_symbol
from tests.helpers import pg_connect, wait_for_sync

FULL = os.environ.get("FULL_FAULTS") == "1"
GROUP = "execution-service"
STREAM = "stream.orders"

# A mix that fills most orders and lets some sells run out of the asset (INSUFFICIENT_BALANCE).
_PATTERN = (("BTCUSDT", "BUY", "0.001"), ("BTCUSDT", "SELL", "0.001"),
            ("ETHUSDT", "BUY", "0.01"), ("ETHUSDT", "SELL", "0.02"))


def count(full: int, quick: int) -> int:
    """The issue's figure with FULL_FAULTS=1 (as CI runs), a smaller one otherwise."""
    return full if FULL else quick


def orders(n: int, prefix: str, start: int = 0) -> Iterator[dict[str, str]]:
    for i in range(start, start + n):
        symbol, side, quantity = _PATTERN[i % len(_PATTERN)]
        yield {"client_id": f"{prefix}-{i}", "symbol": symbol, "side": side, "quantity": quantity}


def add_to_stream(client: redis.Redis, stream: str, entries: Iterable[dict[str, str]],
                  chunk: int = 2000) -> int:
    """XADD every entry, `chunk` per round trip; returns how many were added."""
    added = 0
    pipe = client.pipeline(transaction=False)
    for entry in entries:
        pipe.xadd(stream, entry)  # type: ignore[arg-type]
        added += 1
        if added % chunk == 0:
            pipe.execute()
    pipe.execute()
    return added


def publish(client: redis.Redis, channel: str, entries: Iterable[dict[str, str]],
            chunk: int = 2000) -> int:
    """PUBLISH every entry as JSON; returns how many deliveries Redis reported."""
    delivered = 0
    pipe = client.pipeline(transaction=False)
    for queued, entry in enumerate(entries, start=1):
        pipe.publish(channel, orjson.dumps(entry))
        if queued % chunk == 0:
            delivered += sum(pipe.execute())
    return delivered + sum(pipe.execute())


def create_group(client: redis.Redis, stream: str) -> None:
    """The consumer group at the stream's start, so that nothing sent before the service is up is skipped."""
    client.xgroup_create(stream, GROUP, id="0", mkstream=True)


def queue_orders(client: redis.Redis, n: int, prefix: str) -> None:
    """`n` orders waiting on `stream.orders` for a service to start."""
    create_group(client, STREAM)
    add_to_stream(client, STREAM, orders(n, prefix))


def wait_under_way(url: str, stored_at_least: int) -> None:
    wait_for_sync(lambda: order_count(url) >= stored_at_least, timeout_s=120,
                  what=f"{stored_at_least} orders stored")


def wait_all_handled(url: str, client: redis.Redis, n: int, stream: str = STREAM,
                     *also: str) -> None:
    """Until every entry of `stream` (and of the streams `also` names) is acknowledged (so
    committed); then `n` orders must be stored."""
    streams = (stream, *also)
    wait_for_sync(lambda: sum(unacknowledged(client, name) for name in streams) == 0,
                  timeout_s=60 + n / 250, what=f"every entry of {', '.join(streams)} acknowledged")
    assert order_count(url) == n


def unacknowledged(client: redis.Redis, stream: str) -> int:
    """Entries of `stream` not yet acknowledged by the group: pending plus never delivered."""
    group = next(g for g in client.xinfo_groups(stream) if g["name"] == GROUP.encode())
    return int(group["pending"]) + int(group["lag"] or 0)


@dataclass(frozen=True)
class Stored:
    orders: int
    client_ids: int
    filled: int
    trades: int
    filled_without_trade: int
    rejected_messages: int


def stored(url: str) -> Stored:
    with pg_connect(url) as conn:
        row = conn.execute("""
            SELECT (SELECT count(*) FROM orders),
                   (SELECT count(DISTINCT client_id) FROM orders),
                   (SELECT count(*) FROM orders WHERE status = 'FILLED'),
                   (SELECT count(*) FROM trades),
                   (SELECT count(*) FROM orders o WHERE status = 'FILLED'
                      AND NOT EXISTS (SELECT 1 FROM trades t WHERE t.order_id = o.order_id)),
                   (SELECT count(*) FROM rejected_messages)""").fetchone()
    assert row is not None
    return Stored(*row)


def order_count(url: str) -> int:
    try:
        with pg_connect(url, connect_timeout=2) as conn:
            row = conn.execute("SELECT count(*) FROM orders").fetchone()
    except psycopg.Error:
        return -1  # not migrated yet, or the database is away
    return int(row[0]) if row else 0


def expected_balances(url: str, initial: str) -> dict[str, Decimal]:
    """Initial balances plus every fill minus every fee (SPEC 6.7), summed exactly by PostgreSQL."""
    expected: dict[str, Decimal] = dict(parse_decimal_map(initial))
    with pg_connect(url) as conn:
        rows = conn.execute("""
            SELECT symbol, side, fee_asset, sum(quantity), sum(quantity * price), sum(fee)
            FROM trades GROUP BY symbol, side, fee_asset""").fetchall()
    with localcontext(Context(prec=80)):  # exact: no sum here comes near 80 digits
        for symbol, side, fee_asset, quantity, notional, fee in rows:
            pair = split_symbol(symbol)
            assert pair is not None
            assert fee_asset == pair.quote
            sign = 1 if side == "BUY" else -1
            expected[pair.base] = expected.get(pair.base, Decimal(0)) + sign * quantity
            expected[pair.quote] = expected.get(pair.quote, Decimal(0)) - sign * notional - fee
    return expected


def balances(url: str) -> dict[str, Decimal]:
    with pg_connect(url) as conn:
        return {asset: free + locked for asset, free, locked in
                conn.execute("SELECT asset, free, locked FROM balances").fetchall()}


def assert_books_balance(url: str, initial: str) -> None:
    expected = expected_balances(url, initial)
    actual = balances(url)
    assert {a: v.normalize() for a, v in actual.items() if v} == \
        {a: v.normalize() for a, v in expected.items() if v}
    assert all(value >= 0 for value in actual.values())
