"""The bounds per client, in the real process with small limits: viewers beyond
EVENTS_MAX_VIEWERS answered 503, a request head that never completes cut off after
HTTP_HEAD_TIMEOUT_S, connections beyond HTTP_MAX_CONNECTIONS refused, Binance's request
weight counted and enforced per address, the used weight on every /api/v3 answer."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.helpers import Names
from tests.processes import ServiceProcess, starter


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServiceProcess]:
    env = {**Names.new().env(), "EVENTS_MAX_VIEWERS": "2", "HTTP_HEAD_TIMEOUT_S": "0.5",
           "HTTP_MAX_CONNECTIONS": "40", "HTTP_WEIGHT_LIMIT": "100"}
    with starter(env, Path(tmp_path_factory.mktemp("bounds"))) as start:
        process = start()
        process.wait_ready()
        yield process


def test_viewers_beyond_the_cap_are_answered_503(service: ServiceProcess) -> None:
    with httpx.Client(base_url=service.url, timeout=5) as first, \
            httpx.Client(base_url=service.url, timeout=5) as second, \
            first.stream("GET", "/events") as one, second.stream("GET", "/events") as two:
        assert (one.status_code, two.status_code) == (200, 200)
        third = httpx.get(service.url + "/events", timeout=5)
        assert third.status_code == 503
        assert third.headers["retry-after"] == "10"
        assert "EVENTS_MAX_VIEWERS" in third.json()["detail"]
    # They left: a place is free again (within the feed's next turn).
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        with httpx.Client(base_url=service.url, timeout=5) as client, \
                client.stream("GET", "/events") as again:
            if again.status_code == 200:
                break
        time.sleep(0.1)
    else:
        raise AssertionError("no viewer's place came free")


def test_a_head_that_never_completes_is_cut_off(service: ServiceProcess) -> None:
    with socket.create_connection(("127.0.0.1", service.port), timeout=5) as slow:
        slow.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n")  # and never the blank line
        started = time.monotonic()
        assert slow.recv(100) == b""  # closed by the service
        assert time.monotonic() - started < 3
    assert service.get("/health").status_code == 200


def test_connections_beyond_the_cap_are_refused_at_once(service: ServiceProcess) -> None:
    idle = [socket.create_connection(("127.0.0.1", service.port), timeout=5) for _ in range(40)]
    try:
        with socket.create_connection(("127.0.0.1", service.port), timeout=5) as extra:
            assert extra.recv(200).startswith(b"HTTP/1.1 503 ")
    finally:
        for connection in idle:
            connection.close()
    time.sleep(0.2)
    assert service.get("/health").status_code == 200


def test_binance_request_weight_is_counted_and_enforced(service: ServiceProcess) -> None:
    info = service.get("/api/v3/exchangeInfo")
    assert info.json()["rateLimits"] == [{"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE",
                                          "intervalNum": 1, "limit": 100}]
    used = int(info.headers["x-mbx-used-weight-1m"])
    # (twelve: six in one minute exceed the limit, even if the minute turns meanwhile)
    answers = [service.get("/api/v3/exchangeInfo") for _ in range(12)]
    refused = [a for a in answers if a.status_code == 429]
    assert refused, [a.headers.get("x-mbx-used-weight-1m") for a in answers]
    assert refused[0].json()["code"] == -1003
    assert 0 < int(refused[0].headers["retry-after"]) <= 60
    assert used >= 20
    assert service.get("/health").status_code == 200  # a probe costs nothing
