"""Request weights: Binance's per endpoint under /api/v3, the service's own by rows asked
for; per client address per minute, 429 beyond the limit before any work, the used weight
on every Binance answer."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from starlette.types import Receive, Scope, Send

from execution_service.api.weights import RequestWeights, weight
from execution_service.clock import ManualClock


@pytest.mark.parametrize(("method", "path", "query", "expected"), [
    ("GET", "/api/v3/depth", b"symbol=BTCUSDT", 5),
    ("GET", "/api/v3/depth", b"symbol=BTCUSDT&limit=500", 25),
    ("GET", "/api/v3/depth", b"symbol=BTCUSDT&limit=1000", 50),
    ("GET", "/api/v3/depth", b"symbol=BTCUSDT&limit=5000", 250),
    ("GET", "/api/v3/depth", b"symbol=BTCUSDT&limit=%C2%B2", 5),
    ("GET", "/api/v3/klines", b"symbol=BTCUSDT&interval=1s&limit=1000", 2),
    ("GET", "/api/v3/trades", b"symbol=BTCUSDT", 25),
    ("GET", "/api/v3/exchangeInfo", b"", 20),
    ("GET", "/api/v3/ticker/price", b"", 4),
    ("GET", "/api/v3/ticker/price", b"symbol=BTCUSDT", 2),
    ("GET", "/api/v3/ticker/24hr", b"", 80),
    ("GET", "/api/v3/openOrders", b"timestamp=1", 80),
    ("GET", "/api/v3/openOrders", b"symbol=BTCUSDT&timestamp=1", 6),
    ("GET", "/api/v3/account", b"timestamp=1", 20),
    ("POST", "/api/v3/order", b"", 1),
    ("GET", "/api/v3/noSuchThing", b"", 1),
    ("GET", "/orders", b"", 1),
    ("GET", "/orders", b"limit=1000", 11),
    ("GET", "/equity", b"", 6),
    ("GET", "/fill-quality", b"", 10),
    ("GET", "/health", b"", 0),
    ("GET", "/ready", b"", 0),
    ("GET", "/metrics", b"", 0),
    ("POST", "/orders", b"", 0),
    ("DELETE", "/kill-switch", b"", 0),
])
def test_weight_of_each_endpoint(method: str, path: str, query: bytes, expected: int) -> None:
    assert weight(method, path, query) == expected


def Clock() -> ManualClock:  # noqa: N802 (a clock at a minute's start)
    return ManualClock(datetime.fromtimestamp(1_800_000_000, UTC))


async def answering(scope: Scope, receive: Receive, send: Send) -> None:
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"application/json")]})
    await send({"type": "http.response.body", "body": b"{}"})


def client(limit: int, clock: ManualClock, refused: list[int]) -> httpx.AsyncClient:
    app: Any = RequestWeights(answering, limit=limit, clock=clock,
                              refused=lambda: refused.append(1))
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app, client=("10.0.0.1", 1)),
                             base_url="http://test")


async def test_weight_beyond_the_limit_is_refused_until_the_next_minute() -> None:
    clock, refused = Clock(), []
    async with client(100, clock, refused) as http:
        answers = [await http.get("/api/v3/exchangeInfo") for _ in range(6)]  # 20 each
        assert [a.status_code for a in answers] == [200] * 5 + [429]
        assert [a.headers.get("x-mbx-used-weight-1m") for a in answers] == [
            "20", "40", "60", "80", "100", "100"]
        assert answers[-1].json()["code"] == -1003
        assert answers[-1].headers["retry-after"] == "60"
        assert (await http.get("/orders")).status_code == 429  # the same address's budget
        assert (await http.get("/health")).status_code == 200  # probes cost nothing
        clock.advance(45)
        own = await http.get("/orders")
        assert own.status_code == 429
        assert own.headers["retry-after"] == "15"
        assert "detail" in own.json()
        clock.advance(15)
        assert (await http.get("/api/v3/exchangeInfo")).status_code == 200
    assert len(refused) == 3


async def test_each_address_has_its_own_budget() -> None:
    clock, refused = Clock(), []
    app: Any = RequestWeights(answering, limit=20, clock=clock, refused=lambda: refused.append(1))
    for address in ("10.0.0.1", "10.0.0.2"):
        transport = httpx.ASGITransport(app=app, client=(address, 1))
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
            assert (await http.get("/api/v3/account?timestamp=1")).status_code == 200
            assert (await http.get("/api/v3/account?timestamp=1")).status_code == 429
    assert app.used("10.0.0.1") == app.used("10.0.0.2") == 20
