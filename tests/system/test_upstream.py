"""A drop-in for upstream's execution service: its risk manager's orders execute, the service
starts in upstream's database and shares it, and upstream's readers see the fills.

The real process, default settings (but for private Redis names and no random rejection),
in a PostgreSQL database that holds upstream's tables before the service first starts.
"""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from decimal import ROUND_DOWN, Decimal
from pathlib import Path
from typing import Any

import orjson
import psycopg
import pytest
import redis

from tests.helpers import REDIS_URL, Names, free_port
from tests.processes import Start, clean_environment, starter
from tests.upstream import (
    as_stream_fields,
    create_upstream_tables,
    daily_summary,
    reconciliation_count,
    risk_order,
)

BTC_STEP = Decimal("0.00001")


@pytest.fixture
def start(names: Names, tmp_path: Path) -> Iterator[Start]:
    with starter({**names.env(), "MOCK_SUCCESS_RATE": "1"}, tmp_path) as start:
        yield start


def send_on_both_intakes(client: redis.Redis, names: Names, order: dict[str, Any]) -> None:
    """As upstream's risk manager sends every order: PUBLISH on `orders`, then XADD."""
    client.publish(names.orders_channel, orjson.dumps(order))
    client.xadd(names.orders_stream, as_stream_fields(order))  # type: ignore[arg-type]


def collect(pubsub: Any, count: int, quiet_s: float = 1.5) -> list[dict[str, Any]]:
    """Results until `count` arrived and then nothing more for `quiet_s` (or 30 s pass)."""
    results: list[dict[str, Any]] = []
    deadline = time.monotonic() + 30
    quiet_until = float("inf")
    while time.monotonic() < min(deadline, quiet_until):
        message = pubsub.get_message(timeout=0.2)
        if message is not None:
            results.append(orjson.loads(message["data"]))
        if len(results) >= count and quiet_until == float("inf"):
            quiet_until = time.monotonic() + quiet_s
    return results


def test_risk_manager_orders_execute_once_each_and_upstream_readers_see_them(
    start: Start, names: Names, postgres_url: str
) -> None:
    create_upstream_tables(postgres_url)
    service = start(DATABASE_URL=postgres_url)
    service.wait_ready()
    client = redis.Redis.from_url(REDIS_URL)
    pubsub = client.pubsub(ignore_subscribe_messages=True)
    pubsub.subscribe(names.results_channel)
    # Three allocations sizing a signal in each of four seconds at realistic BTC prices:
    # twelve orders, three under each client id, every quantity an unrounded float.
    orders = [risk_order("BTCUSDT", price, notional, 1764583000 + second, strategy)
              for second, price in enumerate((80_123.45, 87_654.32, 93_210.98, 99_999.99))
              for strategy, notional in (("s20", 2000.0), ("s30", 3000.0), ("s50", 5000.0))]
    invalid = {**risk_order("BTCUSDT", 90_000.0, 1000.0, 1764583009, "s20"), "side": "HOLD"}
    for order in [*orders, invalid]:
        send_on_both_intakes(client, names, order)

    results = collect(pubsub, len(orders) + 1)
    filled = [r for r in results if r["status"] == "FILLED"]
    rejected = [r for r in results if r["status"] == "REJECTED"]
    assert len(results) == len(orders) + 1  # one result per order: none lost, none doubled
    assert len({r["order_id"] for r in filled}) == len(orders)
    assert sorted((r["client_id"], r["strategy_id"]) for r in filled) == sorted(
        (o["client_id"], o["strategy_id"]) for o in orders)
    for result in filled:
        asked = Decimal(repr(next(o["quantity"] for o in orders
                                  if (o["client_id"], o["strategy_id"]) == (
                                      result["client_id"], result["strategy_id"]))))
        assert Decimal(str(result["requested_quantity"])) == asked
        assert Decimal(str(result["quantity"])) == asked.quantize(BTC_STEP, rounding=ROUND_DOWN)
        assert result["filled_quantity"] == result["quantity"]
        assert result["fees"] == result["fee"] > 0
    assert [(r["client_id"], r["symbol"], r["side"], r["error_code"]) for r in rejected] == [
        ("BTCUSDT-1764583009", "BTCUSDT", "HOLD", "INVALID_ORDER")]

    with psycopg.connect(postgres_url) as conn:
        total, filled_count, rejected_count, notional = daily_summary(conn)
        assert (total, filled_count, rejected_count) == (len(orders), len(orders), 0)
        assert notional == sum(Decimal(str(r["quantity"])) * Decimal(str(r["price"])) for r in filled)
        assert reconciliation_count(conn) == len(orders)
        # The origin document's check, in the shared database.
        first = conn.execute("SELECT order_id, status, size, filled_size, approved, submitted_at"
                             " FROM orders ORDER BY id LIMIT 1").fetchone()
        assert first is not None
        assert first[0] in {r["order_id"] for r in filled}
        assert first[1:3] == ("filled", first[3])
        assert first[4] is True
        assert first[5] is not None
        # upstream's db_writer writes trades from order_results: this service leaves them to it.
        assert conn.execute("SELECT count(*) FROM public.trades").fetchone() == (0,)
        tables = {row[0] for row in conn.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'execution'")}
        assert {"orders", "trades", "balances", "outbox", "alembic_version"} <= tables

    metrics = service.get("/metrics").text
    assert _total(metrics, "execution_orders_received_total") == len(orders) + 1
    assert _total(metrics, "execution_order_messages_total") == 2 * (len(orders) + 1)
    assert _total(metrics, "execution_orders_filled_total") == len(orders)
    fills = client.xrange(names.fills_stream)
    assert all(fields.get(b"order_id") != b"" for _, fields in fills)
    assert all(b"" not in fields.values() for _, fields in fills)
    assert service.stop(signal.SIGTERM)[0] == 0


def _total(metrics: str, name: str) -> float:
    return sum(float(value) for value in re.findall(rf"^{name}(?:{{[^}}]*}})? (\S+)$", metrics,
                                                    re.MULTILINE))


def test_upstream_tables_insisted_on_but_missing_stop_the_start(
    postgres_url: str, tmp_path: Path
) -> None:
    env = clean_environment(DATABASE_URL=postgres_url, UPSTREAM_TABLES="orders,trades",
                            REDIS_URL=REDIS_URL, HTTP_PORT=str(free_port()))
    finished = subprocess.run([sys.executable, "-m", "execution_service", "run"], env=env,
                              cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert finished.returncode == 2
    assert finished.stderr.strip().splitlines()[-1] == (
        "execution-service: UPSTREAM_TABLES=orders,trades: no table public.orders")
