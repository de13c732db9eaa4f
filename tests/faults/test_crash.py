"""SPEC 6.1, 6.2 and 6.7 under SIGKILL: nothing lost, nothing doubled, the books balance."""

from __future__ import annotations

import pytest

from tests.faults.conftest import INITIAL_BALANCES
from tests.faults.counting import (
    assert_books_balance,
    count,
    queue_orders,
    stored,
    wait_all_handled,
    wait_under_way,
)
from tests.faults.servers import PrivateRedis
from tests.processes import Start


@pytest.mark.slow
def test_sigkill_twice_while_executing_loses_and_doubles_nothing(
    start: Start, redis_server: PrivateRedis, pg_url: str
) -> None:
    n = count(50_000, 5_000)
    client = redis_server.client()
    queue_orders(client, n, "crash")

    service = start()
    for share in (0.2, 0.6):
        wait_under_way(pg_url, int(n * share))
        service.kill()
        service = start()

    wait_all_handled(pg_url, client, n)
    service.wait_ready()
    books = stored(pg_url)
    assert books.orders == books.client_ids == n
    assert books.filled == books.trades
    assert books.filled_without_trade == 0
    assert books.rejected_messages == 0
    assert_books_balance(pg_url, INITIAL_BALANCES)
    assert service.alive()
