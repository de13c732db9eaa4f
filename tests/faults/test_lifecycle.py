"""SPEC 6.1, 6.6 and 4.4 across the life of the process: SIGTERM under load, a SIGKILL
right after pub/sub messages were read, and the kill switch across restarts."""

from __future__ import annotations

import signal
import time

import pytest

from tests.faults.conftest import INITIAL_BALANCES, TOKEN
from tests.faults.counting import (
    STREAM,
    assert_books_balance,
    count,
    order_count,
    orders,
    publish,
    queue_orders,
    stored,
    unacknowledged,
    wait_all_handled,
    wait_under_way,
)
from tests.faults.servers import PrivatePostgres, PrivateRedis
from tests.helpers import wait_for_sync
from tests.processes import ServiceProcess, Start


@pytest.mark.slow
def test_sigterm_under_load_exits_0_within_10_s_and_a_restart_finishes_the_rest(
    start: Start, redis_server: PrivateRedis, pg_url: str
) -> None:
    n = count(50_000, 8_000)
    client = redis_server.client()
    queue_orders(client, n, "term")
    service = start()
    wait_under_way(pg_url, n // 4)

    code, took_s = service.stop(signal.SIGTERM)
    assert code == 0, service.output()
    assert took_s < 10
    # The process acknowledged exactly what it committed: the rest waits in the group.
    stored_at_exit = order_count(pg_url)
    assert stored_at_exit < n
    assert unacknowledged(client, STREAM) == n - stored_at_exit

    service = start()
    wait_all_handled(pg_url, client, n)
    books = stored(pg_url)
    assert books.orders == books.client_ids == n
    assert_books_balance(pg_url, INITIAL_BALANCES)


def test_pubsub_messages_read_before_a_sigkill_are_executed_after_the_restart(
    start: Start, redis_server: PrivateRedis, pg_url: str, postgres_cluster: PrivatePostgres
) -> None:
    n = 2_000
    client = redis_server.client()
    service = start()
    service.wait_ready()
    postgres_cluster.stop()  # nothing can be committed: every message is in the crash window
    try:
        wait_for_sync(lambda: service.get("/ready").status_code == 503, what="database down")
        assert publish(client, "orders", orders(n, "window")) == n
        # Read and journaled: the service's own stream holds them, none is executed yet.
        wait_for_sync(lambda: client.xlen("execution.journal") == n, what="messages journaled")
        service.kill()
    finally:
        postgres_cluster.start()

    service = start()
    wait_all_handled(pg_url, client, n, stream="execution.journal")
    books = stored(pg_url)
    assert books.orders == books.client_ids == n
    assert client.xlen("execution.journal") == 0  # executed entries are deleted from the journal


def engage_through_control_stream(redis_server: PrivateRedis, service: ServiceProcess) -> None:
    redis_server.client().xadd("stream.bot_shutdown", {"reason": "drawdown limit"})
    wait_for_sync(lambda: service.get("/kill-switch").json()["active"], what="kill switch on")


def submit(service: ServiceProcess, client_id: str) -> dict[str, object]:
    response = service.send("POST", "/orders", TOKEN, json={
        "client_id": client_id, "symbol": "BTCUSDT", "side": "BUY", "quantity": "0.001"})
    assert response.status_code == 201, response.text
    return dict(response.json())


def test_kill_switch_persists_across_a_crash_and_old_entries_never_trigger_it_again(
    start: Start, redis_server: PrivateRedis, pg_url: str
) -> None:
    service = start(MOCK_SUCCESS_RATE="1")  # no random rejections
    service.wait_ready()
    assert submit(service, "before")["status"] == "FILLED"
    engage_through_control_stream(redis_server, service)
    refused = submit(service, "during")
    assert (refused["status"], refused["error_code"]) == ("REJECTED", "KILL_SWITCH")

    service.kill()
    service = start(MOCK_SUCCESS_RATE="1")  # no random rejections
    service.wait_ready()
    state = service.get("/kill-switch").json()
    assert (state["active"], state["reason"]) == (True, "drawdown limit")
    assert submit(service, "after-crash")["error_code"] == "KILL_SWITCH"

    assert service.send("DELETE", "/kill-switch").status_code == 401
    released = service.send("DELETE", "/kill-switch", TOKEN)
    assert released.status_code == 200
    assert released.json()["active"] is False
    assert submit(service, "released")["status"] == "FILLED"

    # The entry that engaged it is still on the stream; neither a restart nor time replays it.
    service.stop()
    service = start(MOCK_SUCCESS_RATE="1")  # no random rejections
    service.wait_ready()
    time.sleep(2)
    assert service.get("/kill-switch").json()["active"] is False
    assert submit(service, "after-restart")["status"] == "FILLED"

    # A new entry engages it again.
    engage_through_control_stream(redis_server, service)
    assert submit(service, "again")["error_code"] == "KILL_SWITCH"
    assert stored(pg_url).orders == 6
