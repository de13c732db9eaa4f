"""Every served Binance endpoint against Binance's documentation facts (binance_facts.py):
each documented answer field present with its documented JSON type, and each error case
answered with the code and a message Binance documents for it. What still differs is
listed below with its reason; a field or message that starts to differ fails the test."""

from __future__ import annotations

import re
from typing import Any

from tests.api.binance_facts import DOCUMENTED_ANSWERS, DOCUMENTED_ERRORS
from tests.api.conftest import Api

# Fields Binance sends only for some orders or accounts: compared where the answer has them.
_CONDITIONAL = {"icebergQty", "stopPrice", "sors", "sors[].baseAsset", "sors[].symbols"}
# Where the service's answers still differ from the documentation, and why.
KNOWN_GAPS: dict[str, str] = {
    "GET /api/v3/rateLimit/order count": "no unfilled-order limits here: the list is empty",
    "GET /api/v3/rateLimit/order interval": "(the same)",
    "GET /api/v3/rateLimit/order intervalNum": "(the same)",
    "GET /api/v3/rateLimit/order limit": "(the same)",
    "GET /api/v3/rateLimit/order rateLimitType": "(the same)",
}
_JSON_TYPES = {bool: "boolean", int: "number", float: "number", str: "string", list: "array",
               dict: "object", type(None): "null"}


async def _answers(api: Api) -> dict[str, dict[str, Any]]:
    """One answer of each served endpoint (and each variant the documentation shows)."""
    now_ms = api.tape(("89990", "0.5", 5_000), ("90010", "0.2", 1_000))
    market = {"symbol": "BTCUSDT"}
    get = api.http.get
    resting = (await api.signed("POST", "order", symbol="BTCUSDT", side="BUY", type="LIMIT",
                                timeInForce="GTC", quantity="0.01", price="80000")).json()
    answers: dict[str, dict[str, Any]] = {
        "GET /api/v3/ping": {"default": (await get("/api/v3/ping")).json()},
        "GET /api/v3/time": {"default": (await get("/api/v3/time")).json()},
        "GET /api/v3/exchangeInfo": {"default": (await get("/api/v3/exchangeInfo",
                                                           params=market)).json()},
        "GET /api/v3/depth": {"default": (await get("/api/v3/depth", params=market)).json()},
        "GET /api/v3/trades": {"default": (await get("/api/v3/trades", params=market)).json()},
        "GET /api/v3/historicalTrades": {"default": (await get("/api/v3/historicalTrades",
                                                               params=market)).json()},
        "GET /api/v3/aggTrades": {"default": (await get("/api/v3/aggTrades",
                                                        params=market)).json()},
        "GET /api/v3/avgPrice": {"default": (await get("/api/v3/avgPrice", params=market)).json()},
        "GET /api/v3/ticker/price": {"default": (await get("/api/v3/ticker/price",
                                                           params=market)).json()},
        "GET /api/v3/ticker/bookTicker": {"default": (await get("/api/v3/ticker/bookTicker",
                                                                params=market)).json()},
    }
    for path in ("klines", "uiKlines"):
        answers[f"GET /api/v3/{path}"] = {"default": (await get(
            f"/api/v3/{path}", params={**market, "interval": "1m", "endTime": now_ms})).json()}
    for path in ("ticker/24hr", "ticker/tradingDay", "ticker"):
        answers[f"GET /api/v3/{path}"] = {
            kind: (await get(f"/api/v3/{path}", params={**market, "type": kind})).json()
            for kind in ("FULL", "MINI")}
    answers["POST /api/v3/order"] = {kind: (await api.signed(
        "POST", "order", symbol="BTCUSDT", side="BUY", type="MARKET", quantity="0.01",
        newOrderRespType=kind)).json() for kind in ("ACK", "RESULT", "FULL")}
    answers["POST /api/v3/order/test"] = {"default": (await api.signed(
        "POST", "order/test", symbol="BTCUSDT", side="BUY", type="MARKET",
        quantity="0.01")).json()}
    signed_reads = {"account": {}, "order": {"orderId": resting["orderId"], **market},
                    "openOrders": market, "allOrders": market, "myTrades": market,
                    "rateLimit/order": {}, "account/commission": market}
    for path, params in signed_reads.items():
        answers[f"GET /api/v3/{path}"] = {"default": (await api.signed("GET", path,
                                                                       **params)).json()}
    answers["DELETE /api/v3/order"] = {"default": (await api.signed(
        "DELETE", "order", symbol="BTCUSDT", orderId=resting["orderId"])).json()}
    replaced = (await api.signed("POST", "order", symbol="BTCUSDT", side="BUY", type="LIMIT",
                                 timeInForce="GTC", quantity="0.01", price="80000")).json()
    answers["POST /api/v3/order/cancelReplace"] = {"SUCCESS": (await api.signed(
        "POST", "order/cancelReplace", symbol="BTCUSDT", side="BUY", type="LIMIT",
        timeInForce="GTC", quantity="0.01", price="80500", cancelReplaceMode="STOP_ON_FAILURE",
        cancelOrderId=replaced["orderId"])).json()}
    answers["DELETE /api/v3/openOrders"] = {"default": (await api.signed(
        "DELETE", "openOrders", **market)).json()}
    oco = (await api.signed("POST", "orderList/oco", **market, side="BUY", quantity="0.01",
                            aboveType="STOP_LOSS_LIMIT", abovePrice="95000",
                            aboveStopPrice="94000", aboveTimeInForce="GTC",
                            belowType="LIMIT_MAKER", belowPrice="85000")).json()
    answers["POST /api/v3/orderList/oco"] = {"default": oco}
    for path in ("orderList", "openOrderList", "allOrderList"):
        answers[f"GET /api/v3/{path}"] = {"default": (await api.signed(
            "GET", path, orderListId=oco["orderListId"])).json()}
    answers["DELETE /api/v3/orderList"] = {"default": (await api.signed(
        "DELETE", "orderList", **market, orderListId=oco["orderListId"])).json()}
    answers["POST /api/v3/order/oco"] = {"default": (await api.signed(
        "POST", "order/oco", **market, side="SELL", quantity="0.01", price="95000",
        stopPrice="85000", stopLimitPrice="84900", stopLimitTimeInForce="GTC")).json()}
    working = {"workingType": "LIMIT", "workingSide": "BUY", "workingPrice": "89000",
               "workingQuantity": "0.01", "workingTimeInForce": "GTC"}
    answers["POST /api/v3/orderList/oto"] = {"default": (await api.signed(
        "POST", "orderList/oto", **market, **working, pendingType="LIMIT_MAKER",
        pendingSide="SELL", pendingQuantity="0.01", pendingPrice="95000")).json()}
    answers["POST /api/v3/orderList/otoco"] = {"default": (await api.signed(
        "POST", "orderList/otoco", **market, **working, pendingSide="SELL",
        pendingQuantity="0.01", pendingAboveType="LIMIT_MAKER", pendingAbovePrice="95000",
        pendingBelowType="STOP_LOSS_LIMIT", pendingBelowPrice="84900",
        pendingBelowStopPrice="85000", pendingBelowTimeInForce="GTC")).json()}
    return answers


def _differences(endpoint: str, documented: dict[str, object], answer: Any) -> list[str]:
    """The documented fields the answer lacks or types otherwise, as `endpoint field`."""
    sample = answer[0] if isinstance(answer, list) and answer else answer
    found: list[str] = []
    for field, kind in documented.items():
        if field == "<row>":
            types = [_JSON_TYPES[type(value)] for value in sample]
            found += [f"{endpoint} <row>"] if types != kind else []
            continue
        value, present = _value(sample if isinstance(sample, dict) else {}, field)
        if not present and (field in _CONDITIONAL or field.rsplit(".", 1)[-1] in _CONDITIONAL):
            continue
        if not present or _JSON_TYPES[type(value)] != kind:
            found.append(f"{endpoint} {field}")
    return found


def _value(answer: dict[str, Any], field: str) -> tuple[Any, bool]:
    for part in field.replace("[]", "").split("."):
        if isinstance(answer, list):
            if not answer:
                return None, True  # (an empty list: nothing to compare)
            answer = answer[0]
        if not isinstance(answer, dict) or part not in answer:
            return None, False
        answer = answer[part]
    return answer, True


async def test_every_served_answer_has_the_documented_fields_and_types(api: Api) -> None:
    answers = await _answers(api)
    assert set(answers) == set(DOCUMENTED_ANSWERS)  # every served endpoint is compared
    compared, differing = 0, []
    for endpoint, variants in DOCUMENTED_ANSWERS.items():
        for variant, documented in variants.items():
            compared += len(documented)
            differing += _differences(endpoint, documented, answers[endpoint][variant])
    print(f"\n{compared - len(differing)} of {compared} documented fields match")
    assert sorted(differing) == sorted(KNOWN_GAPS), sorted(set(differing) - set(KNOWN_GAPS))


# (request, the code Binance answers it with)
ERROR_CASES: list[tuple[str, str, dict[str, Any], int]] = [
    ("GET", "depth", {}, -1102),
    ("GET", "depth", {"symbol": "NOPEUSDT"}, -1121),
    ("GET", "depth", {"symbol": "BTCUSDT", "limit": "x"}, -1100),
    ("GET", "klines", {"symbol": "BTCUSDT"}, -1102),
    ("GET", "klines", {"symbol": "BTCUSDT", "interval": "2m"}, -1120),
    ("GET", "ticker", {}, -1102),
    ("GET", "ticker", {"symbol": "BTCUSDT", "windowSize": "0m"}, -1100),
    ("GET", "ticker/24hr", {"symbol": "BTCUSDT", "symbols": '["BTCUSDT"]'}, -1128),
    ("GET", "nowhere", {}, -1020),
]
SIGNED_ERROR_CASES: list[tuple[str, str, dict[str, Any], int]] = [
    ("POST", "order", {"symbol": "BTCUSDT", "side": "BUY", "type": "MARKET"}, -1102),
    ("POST", "order", {"symbol": "BTCUSDT", "side": "UP", "type": "MARKET", "quantity": "1"},
     -1117),
    ("POST", "order", {"symbol": "BTCUSDT", "side": "BUY", "type": "BEST", "quantity": "1"},
     -1116),
    ("POST", "order", {"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "quantity": "0.01",
                       "price": "80000", "timeInForce": "DAY"}, -1115),
    ("POST", "order", {"symbol": "BTCUSDT", "side": "BUY", "type": "MARKET", "quantity": "0.01",
                       "price": "80000"}, -1106),
    ("POST", "order", {"symbol": "BTCUSDT", "side": "BUY", "type": "MARKET",
                       "quantity": "0.000015"}, -1013),
    ("POST", "order", {"symbol": "BTCUSDT", "side": "BUY", "type": "MARKET",
                       "quantity": "0.000010001"}, -1111),
    ("POST", "order", {"symbol": "BTCUSDT", "side": "BUY", "type": "MARKET", "quantity": "50"},
     -2010),
    ("POST", "order", {"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT_MAKER",
                       "quantity": "0.01", "price": "99000"}, -2010),
    ("POST", "order", {"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "quantity": "0.01",
                       "price": "80000", "timeInForce": "GTC", "icebergQty": "0.001"}, -2010),
    ("POST", "order", {"symbol": "NOPEUSDT", "side": "BUY", "type": "MARKET", "quantity": "1"},
     -1121),
    ("GET", "order", {"symbol": "BTCUSDT", "orderId": "123456789"}, -2013),
    ("GET", "order", {"symbol": "BTCUSDT"}, -1102),
    ("DELETE", "order", {"symbol": "BTCUSDT", "orderId": "123456789"}, -2011),
    ("DELETE", "openOrders", {"symbol": "BTCUSDT"}, -2011),
    ("GET", "myTrades", {"symbol": "BTCUSDT", "startTime": "0", "endTime": str(2 * 86_400_000)},
     -1127),
    ("POST", "order/cancelReplace", {"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT",
                                     "timeInForce": "GTC", "quantity": "0.01", "price": "80000",
                                     "cancelReplaceMode": "STOP_ON_FAILURE",
                                     "cancelOrderId": "123456789"}, -2022),
    ("POST", "order/cancelReplace", {"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT",
                                     "timeInForce": "GTC", "quantity": "0.01", "price": "80000",
                                     "cancelReplaceMode": "ALLOW_FAILURE",
                                     "cancelOrderId": "123456789"}, -2021),
]


def _documented(code: int, message: str) -> bool:
    templates = DOCUMENTED_ERRORS.get(code)
    assert templates is not None, f"{code} is not one of the codes the facts cover"
    # (compared without a final period: some headings give the message without one)
    return any(re.fullmatch(re.escape(t.rstrip(".")).replace("%s", ".+"), message.rstrip("."))
               for t in templates)


async def test_each_error_case_answers_binances_code_and_a_documented_message(api: Api) -> None:
    answered: list[tuple[str, int, str]] = []
    for method, path, params, _ in ERROR_CASES:
        body = (await api.http.request(method, f"/api/v3/{path}", params=params)).json()
        answered.append((path, body.get("code"), body.get("msg", "")))
    for method, path, params, _ in SIGNED_ERROR_CASES:
        body = (await api.signed(method, path, **params)).json()
        answered.append((path, body.get("code"), body.get("msg", "")))
    expected = [code for *_, code in ERROR_CASES + SIGNED_ERROR_CASES]
    assert [code for _, code, _ in answered] == expected
    undocumented = [(path, code, msg) for path, code, msg in answered
                    if not _documented(code, msg)]
    print(f"\n{len(answered) - len(undocumented)} of {len(answered)} error cases answer a"
          " documented message")
    assert undocumented == [], undocumented
