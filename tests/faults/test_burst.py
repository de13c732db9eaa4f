"""SPEC 6.1: a burst of 300,000 orders is processed completely, on either intake."""

from __future__ import annotations

import pytest

from tests.faults.counting import add_to_stream, count, order_count, orders, publish, stored
from tests.faults.servers import PrivateRedis
from tests.helpers import wait_for_sync
from tests.processes import Start


@pytest.mark.slow
@pytest.mark.parametrize("intake", ["stream", "pubsub"])
def test_a_burst_sent_as_fast_as_one_client_can_is_stored_completely(
    start: Start, redis_server: PrivateRedis, pg_url: str, intake: str
) -> None:
    n = count(300_000, 30_000)
    service = start()
    service.wait_ready()
    client = redis_server.client()

    if intake == "stream":
        add_to_stream(client, "stream.orders", orders(n, "burst"))
    else:
        assert publish(client, "orders", orders(n, "burst")) == n  # one subscriber got each

    wait_for_sync(lambda: order_count(pg_url) == n, timeout_s=60 + n / 500,
                  what=f"{n} orders stored")
    books = stored(pg_url)
    assert books.client_ids == n
    assert books.rejected_messages == 0
    # Redis never dropped the subscriber for reading too slowly (its pubsub buffer limit).
    assert "output buffer limits" not in redis_server.log()
    assert service.alive()
