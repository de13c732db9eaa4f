"""SPEC 6.1, 6.2 and 6.7 under SIGKILL: nothing lost, nothing doubled, the books balance."""

from __future__ import annotations

import pytest

from tests.faults.conftest import INITIAL_BALANCES, Start
from tests.faults.counting import (
    add_to_stream,
    assert_books_balance,
    count,
    create_group,
    order_count,
    orders,
    stored,
    unacknowledged,
)
from tests.faults.servers import PrivateRedis
from tests.helpers import wait_for_sync

STREAM = "stream.orders"


@pytest.mark.slow
def test_sigkill_twice_while_executing_loses_and_doubles_nothing(
    start: Start, redis_server: PrivateRedis, pg_url: str
) -> None:
    n = count(50_000, 5_000)
    client = redis_server.client()
    create_group(client, STREAM)
    add_to_stream(client, STREAM, orders(n, "crash"))

    service = start()
    for share in (0.2, 0.6):
        wait_for_sync(lambda share=share: order_count(pg_url) >= n * share, timeout_s=120,  # type: ignore[misc]
                      what=f"{share:.0%} of the orders stored")
        service.kill()
        service = start()

    wait_for_sync(lambda: order_count(pg_url) == n and unacknowledged(client, STREAM) == 0,
                  timeout_s=120 + n / 500, what="every order stored and acknowledged")
    service.wait_ready()
    books = stored(pg_url)
    assert books.orders == books.client_ids == n
    assert books.filled == books.trades
    assert books.filled_without_trade == 0
    assert books.rejected_messages == 0
    assert_books_balance(pg_url, INITIAL_BALANCES)
    assert service.alive()
