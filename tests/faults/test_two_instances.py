"""SPEC 6.2 with two instances in one consumer group on one database, every order sent twice."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal

import orjson
import pytest

from tests.faults.conftest import INITIAL_BALANCES, TOKEN
from tests.faults.counting import (
    STREAM,
    add_to_stream,
    assert_books_balance,
    count,
    create_group,
    orders,
    stored,
    wait_all_handled,
)
from tests.faults.servers import PrivateRedis
from tests.helpers import pg_connect, wait_for_sync
from tests.processes import Start

# Tight balances, so the two instances compete for the same funds and many orders are refused.
SCARCE = "USDT=50000,BTC=0.5,ETH=5"


def each_twice(n: int, chunk: int = 500) -> Iterator[dict[str, str]]:
    """Every order, then the same ones again in reverse, chunk by chunk: the copies land in
    the same batch, in another batch, or at the other instance."""
    for first in range(0, n, chunk):
        batch = list(orders(min(chunk, n - first), "twice", start=first))
        yield from batch
        yield from reversed(batch)


@pytest.mark.slow
def test_two_instances_execute_every_client_id_once_and_never_overdraw(
    start: Start, redis_server: PrivateRedis, pg_url: str
) -> None:
    n = count(100_000, 6_000)
    client = redis_server.client()
    create_group(client, STREAM)
    first = start(INITIAL_BALANCES=SCARCE)
    second = start(INITIAL_BALANCES=SCARCE)
    first.wait_ready()
    second.wait_ready()

    assert add_to_stream(client, STREAM, each_twice(n)) == 2 * n
    wait_all_handled(pg_url, client, n)

    books = stored(pg_url)
    assert books.orders == books.client_ids == n
    assert books.rejected_messages == 0
    statuses = [service.get("/status").json()["stats"] for service in (first, second)]
    assert sum(s["duplicates"] for s in statuses) == n
    assert all(s["orders_received"] > 0 for s in statuses)  # both did their share
    # Balances never go negative: the database refuses it (CHECK constraint) and the books
    # balance exactly, so no refused write was papered over.
    assert_books_balance(pg_url, SCARCE)
    assert first.alive()
    assert second.alive()


def tape_trade(quantity: str) -> bytes:
    """Upstream's market-data message: a seller taking the bids at 88,000."""
    return orjson.dumps({"symbol": "BTCUSDT", "price": "88000", "trade_qty": quantity,
                         "ts_ms": int(time.time() * 1000), "side": "sell"})


def maker_fills(url: str, after: datetime | None = None) -> list[tuple[str, Decimal]]:
    with pg_connect(url) as conn:
        return conn.execute(
            "SELECT order_id, quantity FROM trades WHERE liquidity = 'maker'"
            " AND executed_at > %s ORDER BY executed_at",
            (after or datetime(2000, 1, 1, tzinfo=UTC),)).fetchall()


@pytest.mark.slow
def test_one_instance_matches_the_tape_and_another_takes_over_when_it_is_killed(
    start: Start, redis_server: PrivateRedis, pg_url: str
) -> None:
    """Resting orders accepted by both instances; a tape through them; SIGKILL of the one
    matching it, mid-tape. The fills never exceed what traded, the survivor goes on with
    the dead one's orders, nothing is lost and the books balance."""
    services = [start(SYNTHETIC_TAPE_MS="0", MOCK_SUCCESS_RATE="1") for _ in range(2)]
    for service in services:
        service.wait_ready()
    accepted: dict[int, set[str]] = {0: set(), 1: set()}
    for i in range(40):  # 0.4 BTC of bids at 89,000, accepted in turn by each instance
        response = services[i % 2].send("POST", "/orders", TOKEN, json={
            "client_id": f"bid-{i}", "symbol": "BTCUSDT", "side": "BUY", "quantity": "0.01",
            "order_type": "LIMIT", "price": "89000"})
        assert response.status_code == 201, response.text
        assert response.json()["status"] == "NEW"
        accepted[i % 2].add(response.json()["order_id"])
    holder = next(i for i, service in enumerate(services) if service.matching())
    assert not services[1 - holder].matching()
    time.sleep(1)  # the holder has taken the other's bids (every 0.5 s)

    client = redis_server.client()
    quantity, sent = Decimal("0.0005"), 0

    def send_tape(trades: int) -> None:
        nonlocal sent
        for _ in range(trades):
            client.publish("market_data", tape_trade(str(quantity)))
            sent += 1
            time.sleep(0.02)

    send_tape(100)
    wait_for_sync(lambda: sum(q for _, q in maker_fills(pg_url)) > 0, what="fills from the tape")
    services[holder].kill()
    killed_at = datetime.now(UTC)
    survivor = services[1 - holder]
    while not survivor.matching():  # its lease expires in MATCHER_LEASE_MS (3 s)
        send_tape(10)
    send_tape(100)
    time.sleep(1)

    fills = maker_fills(pg_url)
    traded = sent * quantity
    filled = sum(q for _, q in fills)
    # Never more than traded: one instance at a time took each trade's quantity (without
    # the lease both did, each for its own bids: twice what traded).
    assert 0 < filled <= traded
    assert filled >= 200 * quantity * Decimal("0.9")  # (the trades nobody matched: while the lease lapsed)
    # The survivor filled after the kill, bids the dead instance had accepted among them.
    after_kill = {order_id for order_id, _ in maker_fills(pg_url, killed_at)}
    assert after_kill & accepted[holder]
    with pg_connect(pg_url) as conn:
        orders = conn.execute("SELECT o.order_id, o.quantity, o.filled_quantity,"
                              " (SELECT coalesce(sum(t.quantity), 0) FROM trades t"
                              "  WHERE t.order_id = o.order_id) FROM orders o").fetchall()
    assert {order_id for order_id, *_ in orders} == accepted[0] | accepted[1]  # nothing lost
    assert all(in_trades == filled_quantity <= quantity
               for _, quantity, filled_quantity, in_trades in orders)
    assert_books_balance(pg_url, INITIAL_BALANCES)
    assert survivor.alive()
