"""Binance's WebSocket streams and user data stream on the real process, followed by the
clients bots use, unchanged: ccxt.pro's `watch_*` with its `ws` URLs pointed here, and
a raw socket following Binance's documented procedures (the diff depth stream from a
REST snapshot, a listen key's stream), against what the REST answers say."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import threading
import time
from collections.abc import AsyncIterator, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import ccxt.pro as ccxtpro
import httpx
import pytest
import websockets
from binance import AsyncClient, BinanceSocketManager
from binance.spot import Spot
from binance.websocket.spot.websocket_stream import SpotWebsocketStreamClient

from tests.api.binance_stream_facts import DOCUMENTED_EVENTS
from tests.helpers import Names
from tests.processes import ServiceProcess, starter

KEY, SECRET = "keyStreams0001", "secret-of-the-streams-bot"


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServiceProcess]:
    env = {**Names.new().env(), "MOCK_SUCCESS_RATE": "1", "INITIAL_BALANCES": "USDT=100000",
           "BINANCE_API_KEYS": f"{KEY}:{SECRET}:stream-bot", "SYNTHETIC_TAPE_MS": "200"}
    with starter(env, Path(tmp_path_factory.mktemp("binance-streams"))) as start:
        process = start()
        process.wait_ready()
        yield process


def ws_url(service: ServiceProcess, path: str) -> str:
    return service.url.replace("http://", "ws://") + path


@pytest.fixture
async def exchange(service: ServiceProcess) -> AsyncIterator[Any]:
    """ccxt.pro's binance with every REST and WebSocket URL pointed at the service."""
    api = f"{service.url}/api/v3"
    client = ccxtpro.binance({
        "apiKey": KEY, "secret": SECRET,
        "urls": {"api": {"public": api, "private": api, "sapi": f"{service.url}/sapi/v1",
                         "ws": {"spot": ws_url(service, "/ws"),
                                "ws-api": {"spot": ws_url(service, "/ws-api/v3")}}}},
        "options": {"fetchMarkets": {"types": ["spot"]}, "fetchCurrencies": False,
                    "fetchMargins": False}})
    try:
        yield client
    finally:
        await client.close()


async def test_ccxt_pro_watches_the_market_the_rest_answers_describe(
        exchange: Any, service: ServiceProcess) -> None:
    ticker = await asyncio.wait_for(exchange.watch_ticker("BTC/USDT"), 15)
    assert ticker["symbol"] == "BTC/USDT"
    assert ticker["last"] > 0
    trades = await asyncio.wait_for(exchange.watch_trades("BTC/USDT"), 15)
    assert all(isinstance(t["id"], str) and t["price"] > 0 for t in trades)
    book = await asyncio.wait_for(exchange.watch_order_book("BTC/USDT"), 15)
    assert book["bids"][0][0] < book["asks"][0][0]
    assert isinstance(book["nonce"], int)

    # The stream's candle is the REST one, between what REST said before and after it.
    def rest_candle(opened: int) -> list[Any]:
        return httpx.get(f"{service.url}/api/v3/klines", params={  # type: ignore[no-any-return]
            "symbol": "BTCUSDT", "interval": "1m", "startTime": opened, "limit": 1}).json()[0]

    first = (await asyncio.wait_for(exchange.watch_ohlcv("BTC/USDT", "1m"), 15))[-1]
    before = rest_candle(first[0])
    streamed = (await asyncio.wait_for(exchange.watch_ohlcv("BTC/USDT", "1m"), 15))[-1]
    after = rest_candle(streamed[0])
    assert streamed[0] in (before[0], after[0])
    assert Decimal(str(streamed[1])) == Decimal(after[1])  # the open
    if streamed[0] == before[0]:
        assert Decimal(before[5]) <= Decimal(str(streamed[5]))
    assert Decimal(str(streamed[5])) <= Decimal(after[5])


async def test_ccxt_pro_follows_its_orders_trades_and_balance(
        exchange: Any, service: ServiceProcess) -> None:
    await exchange.load_markets()
    orders = asyncio.ensure_future(exchange.watch_orders("BTC/USDT"))
    trades = asyncio.ensure_future(exchange.watch_my_trades("BTC/USDT"))
    balance = asyncio.ensure_future(exchange.watch_balance())
    await asyncio.sleep(1.0)  # (ccxt subscribes through the WebSocket API first)
    placed = await exchange.create_order("BTC/USDT", "market", "buy", 0.01)

    seen = await asyncio.wait_for(orders, 15)
    assert seen[-1]["id"] == placed["id"]
    assert seen[-1]["status"] == "closed"
    fills = await asyncio.wait_for(trades, 15)
    rest_fills = await exchange.fetch_my_trades("BTC/USDT")
    assert {t["id"] for t in fills} <= {t["id"] for t in rest_fills}
    assert all(t["order"] == placed["id"] for t in fills)
    assert {t["fee"]["currency"] for t in fills} == {"BTC"}  # Binance's: the asset received
    held = await asyncio.wait_for(balance, 15)
    account = await exchange.fetch_balance()
    assert held["BTC"]["free"] == pytest.approx(account["BTC"]["free"])


async def test_the_diff_depth_stream_follows_the_book_from_a_rest_snapshot(
        service: ServiceProcess) -> None:
    """Binance's documented procedure: buffer the stream's events, take a snapshot, drop
    the events it covers, apply the rest; each event's U is the last one's u + 1, and the
    local book equals a snapshot taken at the same update id."""
    async def depth() -> Any:
        async with httpx.AsyncClient(base_url=service.url) as rest:
            return (await rest.get("/api/v3/depth",
                                   params={"symbol": "BTCUSDT", "limit": 5000})).json()

    async with websockets.connect(ws_url(service, "/ws/btcusdt@depth@100ms")) as socket:
        first = json.loads(await asyncio.wait_for(socket.recv(), 10))
        snapshot = await depth()
        book = {"b": dict(snapshot["bids"]), "a": dict(snapshot["asks"])}
        last = snapshot["lastUpdateId"]
        events = [first]
        matched = 0
        for _ in range(100):
            events.append(json.loads(await asyncio.wait_for(socket.recv(), 10)))
            for event in events:
                if event["u"] <= last:
                    continue
                assert event["U"] == last + 1, (event["U"], last)
                for side in ("b", "a"):
                    for price, amount in event[side]:
                        if Decimal(amount) == 0:
                            book[side].pop(price, None)
                        else:
                            book[side][price] = amount
                last = event["u"]
            events.clear()
            now = await depth()
            if now["lastUpdateId"] == last:
                assert book == {"b": dict(now["bids"]), "a": dict(now["asks"])}
                matched += 1
                if matched == 3:
                    break
        assert matched == 3


async def test_a_listen_keys_stream_reports_an_order_as_the_rest_answers_it(
        service: ServiceProcess) -> None:
    headers = {"X-MBX-APIKEY": KEY}
    async with httpx.AsyncClient(base_url=service.url, headers=headers) as rest:
        key = (await rest.post("/api/v3/userDataStream")).json()["listenKey"]
        assert (await rest.post("/api/v3/userDataStream")).json()["listenKey"] == key
        assert (await rest.put("/api/v3/userDataStream", params={"listenKey": key})).json() == {}
        unknown = await rest.put("/api/v3/userDataStream", params={"listenKey": "x" * 60})
        assert (unknown.status_code, unknown.json()["code"]) == (400, -1125)
        async with websockets.connect(ws_url(service, f"/ws/{key}")) as socket:
            await asyncio.sleep(0.3)
            placed = await _signed(rest, "POST", "/api/v3/order", symbol="BTCUSDT",
                                   side="BUY", type="MARKET", quantity="0.02")
            events = []
            while not events or events[-1]["e"] != "outboundAccountPosition":
                events.append(json.loads(await asyncio.wait_for(socket.recv(), 10)))
            reports = [e for e in events if e["e"] == "executionReport"]
            assert (reports[0]["x"], reports[0]["X"]) == ("NEW", "NEW")
            assert reports[-1]["X"] == "FILLED"
            assert {r["i"] for r in reports} == {placed["orderId"]}
            trades = await _signed(rest, "GET", "/api/v3/myTrades", symbol="BTCUSDT",
                                   orderId=placed["orderId"])
            assert [r["t"] for r in reports if r["x"] == "TRADE"] == [t["id"] for t in trades]
            assert reports[-1]["z"] == placed["executedQty"]
            account = await _signed(rest, "GET", "/api/v3/account")
            free = {b["asset"]: b["free"] for b in account["balances"]}
            pushed = {b["a"]: b["f"] for b in events[-1]["B"]}
            assert pushed["BTC"] == free["BTC"]

            assert (await rest.delete("/api/v3/userDataStream",
                                      params={"listenKey": key})).json() == {}
            expired = json.loads(await asyncio.wait_for(socket.recv(), 10))
            assert expired == {"e": "listenKeyExpired", "E": expired["E"], "listenKey": key}
            with pytest.raises(websockets.ConnectionClosed):
                await asyncio.wait_for(socket.recv(), 10)


async def test_the_socket_methods_answer_as_binance_answers_them(
        service: ServiceProcess) -> None:
    async with websockets.connect(ws_url(service, "/stream?streams=btcusdt@trade")) as socket:
        async def call(message: object) -> Any:
            await socket.send(message if isinstance(message, str) else json.dumps(message))
            while True:  # (events of the stream come in between)
                answer = json.loads(await asyncio.wait_for(socket.recv(), 10))
                if "stream" not in answer:
                    return answer

        assert await call({"method": "SUBSCRIBE", "params": ["BTCUSDT@kline_1m"], "id": 1}) == {
            "result": None, "id": 1}
        assert await call({"method": "LIST_SUBSCRIPTIONS", "id": 2}) == {
            "result": ["btcusdt@kline_1m", "btcusdt@trade"], "id": 2}
        assert await call({"method": "GET_PROPERTY", "params": ["combined"], "id": 3}) == {
            "result": True, "id": 3}
        assert (await call("{nope"))["error"]["code"] == 3
        assert (await call({"method": "TRADE", "id": 4}))["error"]["code"] == 2
        assert (await call({"method": "SUBSCRIBE", "params": [], "id": -1}))["error"] == {
            "code": 2, "msg": "Invalid request: request ID must be an unsigned integer"}
        streamed = json.loads(await asyncio.wait_for(socket.recv(), 10))
        assert streamed["stream"] in ("btcusdt@trade", "btcusdt@kline_1m")
    async with websockets.connect(ws_url(service, "/ws")) as flooding:
        for n in range(50):  # (Binance's limit: 5 a second; bursts of 10 are let through)
            await flooding.send(json.dumps({"method": "LIST_SUBSCRIPTIONS", "id": n}))
        answered = await _until_closed(flooding)
        assert answered == [{"result": [], "id": n} for n in range(10)]
        assert flooding.close_code == 1008
    async with websockets.connect(ws_url(service, "/ws")) as huge:
        await huge.send("x" * 70_000)
        assert await _until_closed(huge) == []
        assert huge.close_code == 1009  # message too big


async def test_the_websocket_api_follows_an_account_after_a_logon(
        service: ServiceProcess) -> None:
    """Binance's WebSocket API: answers by id with a status; userDataStream.subscribe needs
    a session.logon (signed as every request, the sorted parameters' HMAC); then the
    account's events come wrapped with the subscription's id."""
    def signed(**params: Any) -> dict[str, Any]:
        params = {**params, "apiKey": KEY, "timestamp": int(time.time() * 1000)}
        payload = urlencode(sorted(params.items()))
        return {**params, "signature": hmac.new(SECRET.encode(), payload.encode(),
                                                hashlib.sha256).hexdigest()}

    async with websockets.connect(ws_url(service, "/ws-api/v3")) as socket:
        async def call(method: str, params: dict[str, Any] | None = None) -> Any:
            await socket.send(json.dumps({"id": method, "method": method,
                                          **({"params": params} if params else {})}))
            while True:
                answer = json.loads(await asyncio.wait_for(socket.recv(), 10))
                if answer.get("id") == method:
                    return answer

        assert (await call("ping"))["status"] == 200
        refused = await call("userDataStream.subscribe")
        assert (refused["status"], refused["error"]["code"]) == (401, -1002)
        forged = {**signed(), "signature": "0" * 64}
        assert (await call("session.logon", forged))["error"]["code"] == -1022
        logged = await call("session.logon", signed())
        assert logged["result"]["apiKey"] == KEY
        assert (await call("userDataStream.subscribe"))["result"] == {"subscriptionId": 0}
        assert (await call("order.place"))["error"] == {
            "code": -1020, "msg": "This operation is not supported."}
        async with httpx.AsyncClient(base_url=service.url,
                                     headers={"X-MBX-APIKEY": KEY}) as rest:
            placed = await _signed(rest, "POST", "/api/v3/order", symbol="BTCUSDT",
                                   side="BUY", type="MARKET", quantity="0.001")
        event = json.loads(await asyncio.wait_for(socket.recv(), 10))
        assert event["subscriptionId"] == 0
        assert (event["event"]["e"], event["event"]["i"]) == ("executionReport",
                                                             placed["orderId"])
        await socket.send(json.dumps({"id": "out", "method": "session.logout"}))
        while (ended := json.loads(await asyncio.wait_for(socket.recv(), 10))).get(
                "event", {}).get("e") != "eventStreamTerminated":
            pass
        assert ended["subscriptionId"] == 0
        assert (await call("session.subscriptions"))["result"] == []


# Each stream, with the documented event it must answer to (tests/api/binance_stream_facts.py).
STREAMS = {"btcusdt@trade": "trade", "btcusdt@aggTrade": "aggTrade",
           "btcusdt@kline_1m": "kline", "btcusdt@miniTicker": "24hrMiniTicker",
           "btcusdt@ticker": "24hrTicker", "btcusdt@ticker_1h": "1hTicker",
           "btcusdt@avgPrice": "avgPrice", "btcusdt@bookTicker": "bookTicker",
           "btcusdt@depth5": "partialDepth", "btcusdt@depth@100ms": "depthUpdate"}
_JSON_TYPES = {str: "string", int: "number", float: "number", bool: "boolean", list: "array",
               dict: "object", type(None): "null"}


def _differences(kind: str, event: dict[str, Any]) -> list[str]:
    """The documented fields the event lacks or types otherwise (`v`, sent only after a
    self-trade prevention, aside; a null documented may be a string when it has a value)."""
    found = []
    for field, documented in DOCUMENTED_EVENTS[kind].items():
        value: Any = event
        for part in field.replace("[]", "").split("."):
            value = value[0] if isinstance(value, list) and value else value
            value = value.get(part, KeyError) if isinstance(value, dict) else KeyError
        if value is KeyError:
            if field != "v":
                found.append(f"{kind} {field} missing")
        elif _JSON_TYPES[type(value)] != documented and not (
                documented == "null" and isinstance(value, str)):
            found.append(f"{kind} {field} is {_JSON_TYPES[type(value)]}, not {documented}")
    return found


async def test_every_event_has_the_fields_and_types_binance_documents(
        service: ServiceProcess) -> None:
    """One event of every market stream, and an account's executionReport,
    outboundAccountPosition and listStatus (an OCO placed and filled), against the fields
    of Binance's documented examples."""
    seen: dict[str, dict[str, Any]] = {}
    path = "/stream?streams=" + "/".join(STREAMS)
    async with websockets.connect(ws_url(service, path)) as socket:
        while len(seen) < len(STREAMS):
            message = json.loads(await asyncio.wait_for(socket.recv(), 15))
            seen.setdefault(STREAMS[message["stream"]], message["data"])
    async with httpx.AsyncClient(base_url=service.url, headers={"X-MBX-APIKEY": KEY}) as rest:
        key = (await rest.post("/api/v3/userDataStream")).json()["listenKey"]
        async with websockets.connect(ws_url(service, f"/ws/{key}")) as socket:
            await asyncio.sleep(0.3)
            await _signed(rest, "POST", "/api/v3/order", symbol="BTCUSDT", side="BUY",
                          type="MARKET", quantity="0.01")
            await _signed(rest, "POST", "/api/v3/orderList/oco", symbol="BTCUSDT",
                          side="SELL", quantity="0.005", aboveType="LIMIT_MAKER",
                          abovePrice="200000", belowType="STOP_LOSS", belowStopPrice="1000")
            while not {"executionReport", "outboundAccountPosition", "listStatus"} <= set(seen):
                event = json.loads(await asyncio.wait_for(socket.recv(), 15))
                seen.setdefault(event["e"], event)
    differing = [d for kind in DOCUMENTED_EVENTS for d in _differences(kind, seen[kind])]
    fields = sum(len(documented) for documented in DOCUMENTED_EVENTS.values())
    print(f"\n{fields - len(differing)} of {fields} documented event fields match (`v` of"
          " executionReport, sent only after a self-trade prevention, counted as matching)")
    assert differing == []


HOSTILE = ["[" * 30_000 + "]" * 30_000, '{"method": "SUBSCRIBE", "params": [], "id": 1e9999999}',
           '{"method": "SUBSCRIBE", "params": [], "id": 99999999999999999999999}',
           '{"method": "SUBSCRIBE", "params": [{"a": [1, 2]}], "id": 1}',
           '{"method": "SUBSCRIBE", "params": ["' + "é" * 20_000 + '"], "id": 1}',
           '{"method": ' + '"x' * 100 + '}', "\x00\x01\x02", '"just a string"', "null"]
HOSTILE_API = [{"id": "a", "method": "session.logon", "params": {
    "apiKey": KEY, "timestamp": "١٢٣٤", "signature": "0" * 64}},
    {"id": "b", "method": "session.logon", "params": {"apiKey": [KEY], "timestamp": 1e300}},
    {"id": "c" * 5000, "method": "ping"}, {"id": "d", "method": {"nested": True}},
    {"id": "e", "method": "userDataStream.subscribe.signature", "params": "x" * 1000}]


async def test_hostile_messages_get_binances_errors_and_the_socket_stays_up(
        service: ServiceProcess) -> None:
    async with websockets.connect(ws_url(service, "/ws")) as socket:
        for message in HOSTILE:
            await socket.send(message)
            answer = json.loads(await asyncio.wait_for(socket.recv(), 10))
            assert answer.get("error", {}).get("code") in (0, 1, 2, 3), (message[:80], answer)
            await asyncio.sleep(0.25)  # (within Binance's 5 messages a second)
        await socket.send(json.dumps({"method": "LIST_SUBSCRIPTIONS", "id": 7}))
        assert json.loads(await asyncio.wait_for(socket.recv(), 10)) == {"result": [], "id": 7}
    async with websockets.connect(ws_url(service, "/ws-api/v3")) as socket:
        for call in HOSTILE_API:
            await socket.send(json.dumps(call))
            answer = json.loads(await asyncio.wait_for(socket.recv(), 10))
            assert answer["status"] >= 400 or answer["id"] is None, (call, answer)
            assert isinstance(answer.get("error", {}).get("code", 0), int)
            await asyncio.sleep(0.25)
        await socket.send(json.dumps({"id": 1, "method": "ping"}))
        assert json.loads(await asyncio.wait_for(socket.recv(), 10)) == {
            "id": 1, "status": 200, "result": {}}


async def _until_closed(socket: Any) -> list[Any]:
    """What the socket is sent until the service closes it."""
    received = []
    with contextlib.suppress(websockets.ConnectionClosed):
        while True:
            received.append(json.loads(await asyncio.wait_for(socket.recv(), 10)))
    return received


async def _signed(rest: httpx.AsyncClient, method: str, path: str, **params: Any) -> Any:
    query = urlencode({**params, "timestamp": int(time.time() * 1000)})
    signature = hmac.new(SECRET.encode(), query.encode(), hashlib.sha256).hexdigest()
    answer = await rest.request(method, f"{path}?{query}&signature={signature}")
    assert answer.status_code == 200, answer.text
    return answer.json()


async def test_python_binances_socket_manager_follows_the_market_and_the_account(
        service: ServiceProcess) -> None:
    """python-binance as its users point it elsewhere: the client's `API_URL` and
    `WS_API_URL` (its user socket subscribes through the WebSocket API), the manager's
    `STREAM_URL`."""
    class Here(AsyncClient):  # type: ignore[misc]
        API_URL = f"{service.url}/api"
        WS_API_URL = ws_url(service, "/ws-api/v3")

    client = await Here.create(KEY, SECRET)
    try:
        manager = BinanceSocketManager(client)
        manager.STREAM_URL = ws_url(service, "/")
        async with manager.kline_socket("BTCUSDT", interval="1m") as klines:
            kline = await asyncio.wait_for(klines.recv(), 15)
        assert (kline["e"], kline["s"], kline["k"]["i"]) == ("kline", "BTCUSDT", "1m")
        async with manager.user_socket() as user:
            placed = await client.create_order(symbol="BTCUSDT", side="BUY", type="MARKET",
                                               quantity="0.01")
            reports = []
            while not reports or reports[-1]["X"] != "FILLED":
                event = await asyncio.wait_for(user.recv(), 15)
                if event["e"] == "executionReport":
                    reports.append(event)
        assert {r["i"] for r in reports} == {placed["orderId"]}
        assert reports[-1]["c"] == placed["clientOrderId"]
    finally:
        await client.close_connection()


def test_binances_connector_follows_a_listen_key_and_a_kline_stream(
        service: ServiceProcess) -> None:
    """binance-connector's own stream client: it subscribes to the listen key and to the
    kline stream on one socket with SUBSCRIBE, and gets both."""
    spot = Spot(api_key=KEY, api_secret=SECRET, base_url=service.url)
    key = spot.new_listen_key()["listenKey"]
    received: list[dict[str, Any]] = []
    done = threading.Event()

    def on_message(_socket: object, message: str) -> None:
        event = json.loads(message)
        received.append(event)
        kinds = {e.get("e") for e in received}
        if {"kline", "executionReport", "outboundAccountPosition"} <= kinds:
            done.set()

    stream = SpotWebsocketStreamClient(stream_url=ws_url(service, ""), on_message=on_message)
    try:
        stream.user_data(listen_key=key, id=1)
        stream.kline(symbol="btcusdt", interval="1s", id=2)
        time.sleep(1.0)
        placed = spot.new_order(symbol="BTCUSDT", side="SELL", type="MARKET",
                                quantity="0.005") if _holds_btc(spot) else spot.new_order(
            symbol="BTCUSDT", side="BUY", type="MARKET", quantity="0.005")
        assert done.wait(15), received
    finally:
        stream.stop()
    assert spot.renew_listen_key(key) == {}
    reports = [e for e in received if e.get("e") == "executionReport"]
    assert {r["i"] for r in reports} == {placed["orderId"]}
    assert {"result": None, "id": 1} in received


def _holds_btc(spot: Spot) -> bool:
    balances = {b["asset"]: Decimal(b["free"]) for b in spot.account()["balances"]}
    return balances.get("BTC", Decimal(0)) >= Decimal("0.005")
