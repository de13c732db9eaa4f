"""SPEC 6.2 with two instances in one consumer group on one database, every order sent twice."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

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
