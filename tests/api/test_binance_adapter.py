"""Binance's `/api/v3` in-process: market data, signed trading on a key's own account, and
every error in Binance's `{"code", "msg"}` shape with Binance's codes."""

from __future__ import annotations

import hashlib
import hmac

from tests.api.conftest import ACCOUNT, AUTH, KEY, SECRET, Api


async def test_market_data_answers_in_binances_shapes(api: Api) -> None:
    assert (await api.http.get("/api/v3/ping")).json() == {}
    assert (await api.http.get("/api/v3/time")).json() == {
        "serverTime": int(api.clock.now().timestamp() * 1000)}
    info = (await api.http.get("/api/v3/exchangeInfo", params={"symbol": "BTCUSDT"})).json()
    (market,) = info["symbols"]
    assert (market["symbol"], market["baseAsset"], market["quoteAsset"]) == ("BTCUSDT", "BTC", "USDT")
    assert {f["filterType"] for f in market["filters"]} >= {"PRICE_FILTER", "LOT_SIZE"}
    depth = (await api.http.get("/api/v3/depth", params={"symbol": "BTCUSDT", "limit": 5})).json()
    assert len(depth["bids"]) == len(depth["asks"]) == 5
    assert float(depth["bids"][0][0]) < 90000 < float(depth["asks"][0][0])
    price = (await api.http.get("/api/v3/ticker/price", params={"symbol": "BTCUSDT"})).json()
    assert price == {"symbol": "BTCUSDT", "price": "90000.00000000"}


async def test_a_market_buy_fills_on_the_keys_own_account(api: Api) -> None:
    placed = await api.signed("POST", "order", symbol="BTCUSDT", side="BUY", type="MARKET",
                              quantity="0.01", newClientOrderId="bn-1")
    assert placed.status_code == 200, placed.text
    order = placed.json()
    assert (order["status"], order["executedQty"], order["clientOrderId"]) == (
        "FILLED", "0.01000000", "bn-1")
    assert sum(float(fill["qty"]) for fill in order["fills"]) == 0.01
    found = (await api.signed("GET", "order", symbol="BTCUSDT", origClientOrderId="bn-1")).json()
    assert found["orderId"] == order["orderId"]
    mine = (await api.signed("GET", "myTrades", symbol="BTCUSDT")).json()
    assert [trade["orderId"] for trade in mine] == [order["orderId"]]
    balances = {b["asset"]: b for b in (await api.signed("GET", "account")).json()["balances"]}
    assert balances["BTC"]["free"] == "2.01000000"
    # The key's account only: the default account's books did not move.
    assert (await api.http.get("/balances")).json()["BTC"]["free"] == 2
    assert (await api.http.get("/balances", params={"account": ACCOUNT})).json()["BTC"]["free"] == 2.01


async def test_a_resting_limit_order_is_listed_open_then_canceled(api: Api) -> None:
    placed = (await api.signed("POST", "order", symbol="BTCUSDT", side="SELL", type="LIMIT",
                               timeInForce="GTC", quantity="0.5", price="95000")).json()
    assert placed["status"] == "NEW"
    open_orders = (await api.signed("GET", "openOrders", symbol="BTCUSDT")).json()
    assert [o["orderId"] for o in open_orders] == [placed["orderId"]]
    canceled = (await api.signed("DELETE", "order", symbol="BTCUSDT",
                                 orderId=placed["orderId"])).json()
    assert canceled["status"] == "CANCELED"
    assert (await api.signed("GET", "openOrders", symbol="BTCUSDT")).json() == []
    every = (await api.signed("GET", "allOrders", symbol="BTCUSDT")).json()
    assert [o["status"] for o in every] == ["CANCELED"]
    gone = await api.signed("DELETE", "order", symbol="BTCUSDT", orderId=placed["orderId"])
    assert (gone.status_code, gone.json()["code"]) == (400, -2011)


async def test_requests_that_binance_refuses_are_refused_with_its_codes(api: Api) -> None:
    def code(response: object) -> tuple[int, int]:
        return response.status_code, response.json()["code"]  # type: ignore[attr-defined]

    assert code(await api.http.get("/api/v3/account")) == (401, -2014)
    assert code(await api.http.get("/api/v3/account", headers={"X-MBX-APIKEY": "unknownKey01"})
                ) == (401, -2015)
    stamp = int(api.clock.now().timestamp() * 1000)
    forged = f"timestamp={stamp}"
    bad = hmac.new(b"not-the-secret", forged.encode(), hashlib.sha256).hexdigest()
    assert code(await api.http.get(f"/api/v3/account?{forged}&signature={bad}",
                                   headers={"X-MBX-APIKEY": KEY})) == (400, -1022)
    old = f"timestamp={stamp - 60_000}"
    late = hmac.new(SECRET.encode(), old.encode(), hashlib.sha256).hexdigest()
    assert code(await api.http.get(f"/api/v3/account?{old}&signature={late}",
                                   headers={"X-MBX-APIKEY": KEY})) == (400, -1021)
    assert code(await api.signed("POST", "order", symbol="NOPEUSDT", side="BUY",
                                 type="MARKET", quantity="1")) == (400, -1121)
    assert code(await api.http.get("/api/v3/nowhere")) == (404, -1020)
    assert code(await api.http.get("/api/v3/depth", params={"symbol": "BTCUSDT",
                                                            "limit": "²"})) == (400, -1100)


async def test_an_order_the_account_cannot_pay_is_rejected_as_binance_words_it(api: Api) -> None:
    refused = await api.signed("POST", "order", symbol="BTCUSDT", side="BUY", type="MARKET",
                               quantity="50")
    assert (refused.status_code, refused.json()["code"]) == (400, -2010)
    assert "insufficient balance" in refused.json()["msg"].lower()
    # The own API with the token still sees the rejection stored.
    assert (await api.http.get("/orders", params={"status": "REJECTED"}, headers=AUTH)).json()
