"""SPEC 6.3 and 6.4: Redis and PostgreSQL go away under load and come back.

The service must stay up, say why it is not ready, acknowledge nothing it has not
committed, publish from the outbox what it committed while Redis was away, and in the end
hold every order exactly once.
"""

from __future__ import annotations

import time

import pytest

from tests.faults.conftest import INITIAL_BALANCES, TOKEN
from tests.faults.counting import (
    STREAM,
    assert_books_balance,
    count,
    queue_orders,
    stored,
    unacknowledged,
    wait_all_handled,
    wait_under_way,
)
from tests.faults.servers import PrivatePostgres, PrivateRedis
from tests.helpers import pg_connect, wait_for_sync
from tests.processes import ServiceProcess, Start


def not_ready_because(service: ServiceProcess, dependency: str) -> bool:
    response = service.get("/ready")
    return response.status_code == 503 and any(
        reason.startswith(f"{dependency} unreachable") for reason in response.json()["reasons"])


def published_order_ids(redis_server: PrivateRedis) -> set[str]:
    entries = redis_server.client().xrange("stream.fills")
    return {fields[b"order_id"].decode() for _, fields in entries}


def stored_order_ids(url: str) -> set[str]:
    with pg_connect(url) as conn:
        return {row[0] for row in conn.execute("SELECT order_id FROM orders")}


@pytest.mark.slow
def test_redis_outage_results_committed_meanwhile_are_published_after_it(
    start: Start, redis_server: PrivateRedis, pg_url: str
) -> None:
    n = count(20_000, 4_000)
    client = redis_server.client()
    queue_orders(client, n, "stream")
    service = start()
    wait_under_way(pg_url, n // 4)

    redis_server.stop()
    wait_for_sync(lambda: not_ready_because(service, "redis"), what="/ready 503 (redis)")
    # Orders still arrive over REST while Redis is away: they are committed and answered.
    rest_orders = [{"client_id": f"rest-{i}", "symbol": "BTCUSDT", "side": "BUY",
                    "quantity": "0.001"} for i in range(20)]
    for order in rest_orders:
        response = service.send("POST", "/orders", TOKEN, json=order)
        assert response.status_code == 201, response.text
        assert response.json()["status"] in ("FILLED", "REJECTED")
    time.sleep(3)  # several reconnection attempts fail meanwhile
    assert service.alive()
    assert not_ready_because(service, "redis")

    redis_server.start()
    service.wait_ready()
    wait_all_handled(pg_url, client, n + len(rest_orders))
    books = stored(pg_url)
    assert books.orders == books.client_ids == n + len(rest_orders)
    # Every result reached the fills stream, those committed during the outage included.
    wait_for_sync(lambda: published_order_ids(redis_server) == stored_order_ids(pg_url),
                  timeout_s=30, what="every result published")
    assert_books_balance(pg_url, INITIAL_BALANCES)
    assert service.alive()


@pytest.mark.slow
def test_database_outage_of_20_s_acknowledges_nothing_and_loses_nothing(
    start: Start, redis_server: PrivateRedis, pg_url: str, postgres_cluster: PrivatePostgres
) -> None:
    n = count(30_000, 6_000)
    client = redis_server.client()
    queue_orders(client, n, "outage")
    service = start()
    wait_under_way(pg_url, n // 5)

    postgres_cluster.stop()
    try:
        wait_for_sync(lambda: not_ready_because(service, "database"), what="/ready 503 (database)")
        time.sleep(1)  # a batch committed just before the stop may still be finishing
        waiting, published = unacknowledged(client, STREAM), client.xlen("stream.fills")
        assert waiting > 0
        outage_ends = time.monotonic() + 20
        while time.monotonic() < outage_ends:
            assert service.alive()
            assert not_ready_because(service, "database")
            assert unacknowledged(client, STREAM) == waiting  # nothing acknowledged
            assert client.xlen("stream.fills") == published  # nothing uncommitted published
            time.sleep(1)
    finally:
        postgres_cluster.start()

    service.wait_ready(timeout_s=60)
    wait_all_handled(pg_url, client, n)
    books = stored(pg_url)
    assert books.orders == books.client_ids == n
    assert books.filled == books.trades
    assert_books_balance(pg_url, INITIAL_BALANCES)
    assert service.alive()
