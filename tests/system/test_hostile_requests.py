"""No 500 from any request: the cases that answered 500 (a non-ASCII digit, a 5,000-digit
timestamp, a non-ASCII signature, a year beyond 9999, metadata nested 300 deep, a number
with a huge exponent), each sent to the real process, answered with a 4xx in the shape
of the path's API (Binance's `{"code", "msg"}` under /api/v3), the process alive and the
traceback of a cause not written per request."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from tests.helpers import Names
from tests.processes import ServiceProcess, starter

KEY, SECRET = "hostileKey0001", "secret-of-the-hostile-test"
TOKEN = "token-of-the-hostile-test"
SUPERSCRIPT_TWO = quote("²")


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServiceProcess]:
    env = {**Names.new().env(), "MOCK_SUCCESS_RATE": "1", "API_TOKEN": TOKEN,
           "BINANCE_API_KEYS": f"{KEY}:{SECRET}"}
    with starter(env, Path(tmp_path_factory.mktemp("hostile"))) as start:
        process = start()
        process.wait_ready()
        yield process


def signed(query: str, *, signature: str | None = None) -> str:
    """`query` with Binance's HMAC signature appended (or the one given)."""
    mac = hmac.new(SECRET.encode(), query.encode(), hashlib.sha256).hexdigest()
    return f"{query}&signature={signature if signature is not None else mac}"


def now_ms() -> int:
    return int(time.time() * 1000)


PUBLIC_CASES = [
    f"/api/v3/depth?symbol=BTCUSDT&limit={SUPERSCRIPT_TWO}",
    f"/api/v3/klines?symbol=BTCUSDT&interval=1m&limit={SUPERSCRIPT_TWO}",
    f"/api/v3/trades?symbol=BTCUSDT&limit={SUPERSCRIPT_TWO}",
    f"/api/v3/aggTrades?symbol=BTCUSDT&limit={SUPERSCRIPT_TWO}",
    "/api/v3/klines?symbol=BTCUSDT&interval=1m&startTime=99999999999999999",
    "/api/v3/aggTrades?symbol=BTCUSDT&startTime=99999999999999999",
    "/api/v3/aggTrades?symbol=BTCUSDT&startTime=1&endTime=" + SUPERSCRIPT_TWO,
]


@pytest.mark.parametrize("path", PUBLIC_CASES)
def test_public_binance_request_with_hostile_numbers_answers_binance_400(
        service: ServiceProcess, path: str) -> None:
    answer = service.get(path)
    assert answer.status_code == 400, answer.text
    assert answer.json()["code"] == -1100


def signed_cases() -> list[tuple[str, str, str, int]]:
    """(method, path with query, body, Binance's code)."""
    stamp = f"timestamp={now_ms()}"
    return [
        ("GET", f"/api/v3/account?{signed('timestamp=' + SUPERSCRIPT_TWO)}", "", -1102),
        ("GET", "/api/v3/account?timestamp=" + "9" * 5000, "", -1100),
        ("POST", "/api/v3/order", signed("symbol=BTCUSDT&side=BUY&type=MARKET&quantity=0.001"
                                         "&timestamp=" + "9" * 5000), -1102),
        ("GET", f"/api/v3/account?{signed(stamp, signature=quote('é' * 64))}", "", -1022),
        ("GET", f"/api/v3/account?{signed(stamp, signature='z' * 64)}", "", -1022),
        ("GET", f"/api/v3/account?{signed(stamp, signature='ab')}", "", -1022),
        ("GET", f"/api/v3/myTrades?{signed('symbol=BTCUSDT&startTime=99999999999999999&' + stamp)}",
         "", -1100),
        ("GET", f"/api/v3/allOrders?{signed('symbol=BTCUSDT&endTime=' + SUPERSCRIPT_TWO + '&' + stamp)}",
         "", -1100),
        ("GET", f"/api/v3/allOrders?{signed('symbol=BTCUSDT&limit=' + SUPERSCRIPT_TWO + '&' + stamp)}",
         "", -1100),
        ("GET", f"/api/v3/account?{signed(stamp + '&recvWindow=' + quote('٣٠٠٠'))}", "", -1100),
        ("GET", f"/api/v3/account?{signed(stamp + '&recvWindow=1e99999')}", "", -1100),
    ]


def test_signed_binance_request_with_hostile_fields_answers_binance_4xx(
        service: ServiceProcess) -> None:
    for method, path, body, code in signed_cases():
        answer = httpx.request(method, service.url + path, content=body, timeout=15, headers={
            "X-MBX-APIKEY": KEY, "Content-Type": "application/x-www-form-urlencoded"})
        assert 400 <= answer.status_code < 500, (path[:80], answer.text)
        assert answer.json()["code"] == code, (path[:80], answer.text)


@pytest.mark.parametrize(("method", "path", "status"), [
    ("GET", "/api/v3/nothingHere", 404), ("DELETE", "/api/v3/depth", 405),
    ("PUT", "/api/v3/order", 405), ("GET", "/api/v3", 404)])
def test_unknown_binance_paths_and_methods_answer_in_binance_shape(
        service: ServiceProcess, method: str, path: str, status: int) -> None:
    answer = service.send(method, path)
    assert answer.status_code == status
    assert set(answer.json()) == {"code", "msg"}
    assert answer.json()["code"] == -1020


def post_order(service: ServiceProcess, document: dict[str, Any]) -> httpx.Response:
    # (the standard library writes 300 levels; orjson stops at 254)
    return service.send("POST", "/orders", TOKEN, content=json.dumps(document))


def test_orders_with_hostile_fields_answer_at_once_and_the_process_goes_on(
        service: ServiceProcess) -> None:
    base = {"symbol": "BTCUSDT", "side": "BUY", "quantity": "0.001"}
    deep: Any = 1
    for _ in range(300):
        deep = [deep]
    nested = post_order(service, {**base, "client_id": "deep", "metadata": deep})
    assert nested.status_code == 400
    assert "nested deeper than 16 levels" in nested.json()["error_message"]
    huge = post_order(service, {**base, "client_id": "huge", "x": "1e9999999"})
    assert (huge.status_code, huge.json()["status"]) == (201, "FILLED")
    many = post_order(service, {**base, "client_id": "many",
                                **{f"f{i}": "1e999999" for i in range(400)}})
    assert (many.status_code, many.json()["status"]) == (201, "FILLED")
    since = service.get(f"/equity?since={SUPERSCRIPT_TWO}")
    assert since.status_code in (400, 422), since.text
    assert service.alive()
    assert service.get("/health").status_code == 200


def test_no_hostile_request_left_a_traceback(service: ServiceProcess) -> None:
    # (after the tests above, in the module's one process: none of those cases is a bug)
    assert "Traceback" not in service.log.read_text(errors="replace")
