"""Request weights: what each request costs its client address, per minute, as Binance counts.

Under `/api/v3` a request costs Binance's weight for its endpoint (rest-api.md: `depth` by
its limit, `klines` 2, `account` 20, ...), and every answer says what the address has used
this minute (`X-MBX-USED-WEIGHT-1M`, as Binance's clients read it). The service's own reads
cost by the rows they may return (1 per 100 asked for, at least 1); health checks,
metrics and the bearer token's writes (`POST /orders`, the pipeline's REST intake) cost
nothing. A request that would take its address past `limit` is answered 429
(`-1003` under `/api/v3`) with `Retry-After`, before any work is done for it.

This is what keeps readers from taking the pipeline's time: eight clients flooding
`/api/v3/klines?limit=1000` and `/orders?limit=1000` took a REST order from 6.9 to 62.7 ms.
Counted per address in fixed one-minute windows, as Binance does; at most `_ADDRESSES`
addresses are counted apart in a minute, the rest together (memory stays bounded).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from execution_service.clock import Clock, SystemClock
from execution_service.domain.codec import whole_number

BINANCE_PREFIX = "/api/v3"
DEFAULT_LIMIT = 6000  # Binance's REQUEST_WEIGHT per minute
_ADDRESSES = 100_000
_OTHERS = "(others)"

# Binance's weights by method and path; those that depend on parameters are functions below.
_BINANCE: dict[tuple[str, str], int] = {
    ("GET", "/ping"): 1, ("GET", "/time"): 1, ("GET", "/exchangeInfo"): 20,
    ("GET", "/trades"): 25, ("GET", "/historicalTrades"): 25, ("GET", "/aggTrades"): 4,
    ("GET", "/klines"): 2, ("GET", "/uiKlines"): 2, ("GET", "/avgPrice"): 2,
    ("POST", "/order"): 1, ("DELETE", "/order"): 1, ("GET", "/order"): 4,
    ("DELETE", "/openOrders"): 1, ("GET", "/allOrders"): 20, ("GET", "/account"): 20,
    ("GET", "/myTrades"): 20, ("POST", "/order/test"): 1, ("GET", "/account/commission"): 20,
    ("GET", "/rateLimit/order"): 40, ("POST", "/order/cancelReplace"): 1,
    ("POST", "/orderList/oco"): 1, ("DELETE", "/orderList"): 1, ("GET", "/orderList"): 4,
    ("GET", "/openOrderList"): 6, ("GET", "/allOrderList"): 20,
}
# The service's own endpoints that cost nothing: a supervisor's probes must always answer.
_FREE = frozenset({"/health", "/ready", "/metrics"})


def weight(method: str, path: str, query: bytes) -> int:
    """What one request costs: Binance's weight under /api/v3, else the service's own."""
    if path.startswith(BINANCE_PREFIX + "/"):
        return _binance_weight(method, path[len(BINANCE_PREFIX):], query)
    if path in _FREE or method not in ("GET", "HEAD"):
        return 0  # probes, and the token's writes (the pipeline's REST intake)
    if method == "GET" and path in ("/orders", "/trades", "/equity"):
        return 1 + _limit(query, 500 if path == "/equity" else 20) // 100
    if path == "/fill-quality":
        return 10  # the newest 10,000 orders and 1,000 fills
    return 1


def _binance_weight(method: str, path: str, query: bytes) -> int:
    fixed = _BINANCE.get((method, path))
    if fixed is not None:
        return fixed
    if path == "/depth":
        limit = _limit(query, 100)
        return 5 if limit <= 100 else 25 if limit <= 500 else 50 if limit <= 1000 else 250
    if path in ("/ticker/price", "/ticker/bookTicker"):
        return 2 if _has(query, b"symbol=") else 4
    if path == "/ticker/24hr":
        return 2 if _has(query, b"symbol=") else 80
    if path in ("/ticker", "/ticker/tradingDay"):  # 4 a symbol, 200 at most
        listed = query.count(b"%2C") + query.count(b",") + 1
        return 4 if _has(query, b"symbol=") else min(200, 4 * listed)
    if path == "/openOrders":
        return 6 if _has(query, b"symbol=") else 80
    return 1


def _has(query: bytes, name: bytes) -> bool:
    return query.startswith(name) or b"&" + name in query


def _limit(query: bytes, default: int) -> int:
    """The `limit` asked for (`default` when absent or unreadable: the endpoint refuses it)."""
    if b"limit=" not in query:
        return default
    for name, value in parse_qsl(query.decode("latin-1"), max_num_fields=100):
        if name == "limit":
            number = whole_number(value, 6)
            return default if number is None else number
    return default


class RequestWeights:
    """ASGI middleware: counts each request's weight against its client address."""

    def __init__(self, app: ASGIApp, *, limit: int = DEFAULT_LIMIT,
                 refused: Callable[[], None] = lambda: None,
                 clock: Clock | None = None) -> None:
        self._app = app
        self.limit = limit
        self._refused = refused
        self._clock = clock or SystemClock()
        self._minute = 0
        self._used: dict[str, int] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        cost = weight(scope["method"], scope["path"], scope.get("query_string", b""))
        address = self._address(scope)
        used = self._count(address, cost)
        binance = scope["path"].startswith(BINANCE_PREFIX + "/")
        if cost and used > self.limit:
            self._used[address] -= cost  # a refused request costs nothing more
            self._refused()
            await self._too_many(send, binance, used - cost)
            return
        if not binance:
            await self._app(scope, receive, send)
            return
        headers = _weight_headers(used)

        async def with_weight(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", ()), *headers]
            await send(message)

        await self._app(scope, receive, with_weight)

    def used(self, address: str) -> int:
        """What `address` has used this minute."""
        return self._used.get(address, 0) if self._minute == self._current_minute() else 0

    def _current_minute(self) -> int:
        return int(self._clock.now().timestamp() // 60)

    def _count(self, address: str, cost: int) -> int:
        minute = self._current_minute()
        if minute != self._minute:
            self._minute, self._used = minute, {}
        used = self._used.get(address, 0) + cost
        self._used[address] = used
        return used

    def _address(self, scope: Scope) -> str:
        client = scope.get("client")
        address = str(client[0]) if client else _OTHERS
        if address not in self._used and len(self._used) >= _ADDRESSES:
            return _OTHERS
        return address

    async def _too_many(self, send: Send, binance: bool, used: int) -> None:
        retry_after = str(60 - int(self._clock.now().timestamp()) % 60)
        if binance:
            body: dict[str, Any] = {"code": -1003, "msg": (
                f"Too much request weight used; current limit is {self.limit} request weight "
                "per 1 MINUTE. Please use WebSocket Streams for live updates to avoid polling "
                "the API.")}
        else:
            body = {"detail": f"too much request weight used: {self.limit} per minute per "
                              f"client address; retry in {retry_after} s"}
        content = orjson.dumps(body)
        headers = [(b"content-type", b"application/json"),
                   (b"content-length", str(len(content)).encode()),
                   (b"retry-after", retry_after.encode()),
                   *(_weight_headers(used) if binance else [])]
        await send({"type": "http.response.start", "status": 429, "headers": headers})
        await send({"type": "http.response.body", "body": content})


def _weight_headers(used: int) -> list[tuple[bytes, bytes]]:
    text = str(used).encode()
    return [(b"x-mbx-used-weight", text), (b"x-mbx-used-weight-1m", text)]


def rate_limits(limit: int) -> list[dict[str, Any]]:
    """exchangeInfo's `rateLimits`: the one this service enforces."""
    return [{"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1,
             "limit": limit}]
