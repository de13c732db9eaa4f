"""Redis answers but refuses: out of memory, a key of the wrong type, read-only after a failover.

Handled like Redis being away (issue 16): the service stays up, /ready says which part
Redis refuses and why, what is committed waits in the outbox and goes out once Redis
takes writes again, and in the end every order is stored once and its result published.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.faults.conftest import INITIAL_BALANCES, TOKEN
from tests.faults.counting import (
    STREAM,
    add_to_stream,
    assert_books_balance,
    count,
    create_group,
    orders,
    publish,
    stored,
    wait_all_handled,
    wait_under_way,
)
from tests.faults.servers import PrivateRedis, private_redis
from tests.faults.test_outages import published_order_ids, stored_order_ids
from tests.helpers import wait_for_sync
from tests.processes import ServiceProcess, Start, starter


@pytest.fixture
def volatile_redis(workdir: Path) -> Iterator[PrivateRedis]:
    """A private Redis without persistence, evicting nothing (Redis's default policy)."""
    (workdir / "redis").mkdir()
    with private_redis(workdir / "redis") as server:
        yield server


@pytest.fixture
def start_on(pg_url: str, workdir: Path) -> Iterator[Callable[[str], Start]]:
    """`start_on(url)(**env)`: the real service on the Redis at `url`."""
    defaults = {"DATABASE_URL": pg_url, "API_TOKEN": TOKEN, "LOG_FORMAT": "json",
                "INITIAL_BALANCES": INITIAL_BALANCES, "CLAIM_IDLE_MS": "2000"}
    with contextlib.ExitStack() as stack:
        yield lambda url: stack.enter_context(starter(defaults, workdir, redis_url=url))


def refusal_reasons(service: ServiceProcess) -> list[str]:
    response = service.get("/ready")
    if response.status_code != 503:
        return []
    return [reason for reason in response.json()["reasons"] if reason.startswith("redis refuses")]


def rest_orders(service: ServiceProcess, prefix: str, n: int) -> None:
    for i in range(n):
        response = service.send("POST", "/orders", TOKEN, json={
            "client_id": f"{prefix}-{i}", "symbol": "BTCUSDT", "side": "BUY", "quantity": "0.001"})
        assert response.status_code == 201, response.text


@pytest.mark.slow
def test_out_of_memory_for_20_s_loses_nothing_and_resumes_by_itself(
    start_on: Callable[[str], Start], volatile_redis: PrivateRedis, pg_url: str
) -> None:
    n = count(20_000, 4_000)
    client = volatile_redis.client()
    service = start_on(volatile_redis.url)()
    service.wait_ready()
    add_to_stream(client, STREAM, orders(n, "oom"))
    wait_under_way(pg_url, n // 4)

    # Below what Redis holds already: every write that may grow memory is refused (OOM).
    used = int(client.info("memory")["used_memory"])
    client.config_set("maxmemory", str(used // 2))
    reasons = wait_for_sync(lambda: refusal_reasons(service), what="/ready 503 naming the refusal")
    assert any("OutOfMemoryError" in reason for reason in reasons), reasons
    # Meanwhile orders still come: over REST (committed and answered), over pub/sub (held
    # by the reader until the journal takes them).
    rest_orders(service, "rest", 20)
    pubsub_orders = 200
    assert publish(client, "orders", orders(pubsub_orders, "pubsub")) == pubsub_orders
    outage_ends = time.monotonic() + 20
    while time.monotonic() < outage_ends:
        assert service.alive(), service.output()
        assert refusal_reasons(service)
        time.sleep(1)
    assert client.xlen("stream.fills") < n  # the results wait

    client.config_set("maxmemory", "0")
    service.wait_ready(timeout_s=30)
    total = n + 20 + pubsub_orders
    # (both at once: the pub/sub orders may still wait in the journal when the stream is done)
    wait_all_handled(pg_url, client, total, STREAM, "execution.journal")
    books = stored(pg_url)
    assert books.orders == books.client_ids == total
    assert books.rejected_messages == 0
    wait_for_sync(lambda: published_order_ids(volatile_redis) == stored_order_ids(pg_url),
                  timeout_s=30, what="every result published")
    assert_books_balance(pg_url, INITIAL_BALANCES)
    assert '"level": "ERROR"' not in service.log.read_text()


def test_a_key_of_the_wrong_type_is_named_and_publishing_resumes_once_it_is_gone(
    start_on: Callable[[str], Start], volatile_redis: PrivateRedis, pg_url: str
) -> None:
    client = volatile_redis.client()
    service = start_on(volatile_redis.url)()
    service.wait_ready()
    client.delete("stream.fills")
    client.set("stream.fills", "something else wrote here")

    rest_orders(service, "wrongtype", 5)
    reasons = wait_for_sync(lambda: refusal_reasons(service), what="/ready 503 naming the refusal")
    assert any("result publisher" in r and "WRONGTYPE" in r for r in reasons), reasons
    assert service.get("/status").json()["redis"]["refusing"]["result publisher"].startswith(
        "WRONGTYPE")

    client.delete("stream.fills")
    service.wait_ready(timeout_s=30)
    wait_for_sync(lambda: published_order_ids(volatile_redis) == stored_order_ids(pg_url),
                  timeout_s=30, what="every result published")
    assert stored(pg_url).orders == 5


def test_a_replica_promoted_after_a_failover_is_worked_from_once_it_takes_writes(
    start_on: Callable[[str], Start], workdir: Path, pg_url: str
) -> None:
    """The service reaches a replica (READONLY to every write) until it is promoted."""
    n = 1_000
    (workdir / "primary").mkdir()
    (workdir / "replica").mkdir()
    with private_redis(workdir / "primary") as primary, private_redis(workdir / "replica") as replica:
        create_group(primary.client(), STREAM)
        add_to_stream(primary.client(), STREAM, orders(n, "failover"))
        client = replica.client()
        client.replicaof("127.0.0.1", str(primary.port))
        wait_for_sync(lambda: client.xlen(STREAM) == n, what="the replica in sync")

        service = start_on(replica.url)()
        service.wait_answering()
        reasons = wait_for_sync(lambda: refusal_reasons(service), what="/ready naming READONLY")
        assert any("ReadOnlyError" in reason for reason in reasons), reasons
        time.sleep(2)
        assert service.alive(), service.output()
        assert stored(pg_url).orders == 0

        primary.stop()
        client.replicaof("NO", "ONE")  # the failover: the replica is the primary now
        service.wait_ready(timeout_s=30)
        wait_all_handled(pg_url, client, n)
        wait_for_sync(lambda: published_order_ids(replica) == stored_order_ids(pg_url),
                      timeout_s=30, what="every result published")
        assert_books_balance(pg_url, INITIAL_BALANCES)


def test_an_eviction_policy_that_can_drop_orders_is_warned_about(
    start_on: Callable[[str], Start], workdir: Path
) -> None:
    """Upstream's compose runs Redis with 256 MB and allkeys-lru."""
    (workdir / "lru").mkdir()
    with private_redis(workdir / "lru", maxmemory="256mb", maxmemory_policy="allkeys-lru") as lru:
        service = start_on(lru.url)()
        service.wait_ready()
        warning = service.get("/status").json()["redis"]["eviction_warning"]
        assert warning.startswith("maxmemory-policy allkeys-lru with maxmemory 268435456 bytes")
        assert "set maxmemory-policy noeviction" in warning
        wait_for_sync(lambda: "maxmemory-policy allkeys-lru" in service.log.read_text(),
                      what="the warning in the log")
