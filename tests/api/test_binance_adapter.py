"""Binance's `/api/v3` in-process: market data, signed trading on a key's own account, and
every error in Binance's `{"code", "msg"}` shape with Binance's codes."""

from __future__ import annotations

import hashlib
import hmac
from decimal import Decimal

import pytest

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
    # Binance's commission: in the asset received, a buy's in the base asset.
    assert {fill["commissionAsset"] for fill in order["fills"]} == {"BTC"}
    assert sum(Decimal(fill["commission"]) for fill in order["fills"]) == Decimal("0.00001")
    found = (await api.signed("GET", "order", symbol="BTCUSDT", origClientOrderId="bn-1")).json()
    assert found["orderId"] == order["orderId"]
    mine = (await api.signed("GET", "myTrades", symbol="BTCUSDT")).json()
    assert [trade["orderId"] for trade in mine] == [order["orderId"]]
    balances = {b["asset"]: b for b in (await api.signed("GET", "account")).json()["balances"]}
    assert balances["BTC"]["free"] == "2.00999000"  # 2 + 0.01 - 0.00001
    # The key's account only: the default account's books did not move.
    assert (await api.http.get("/balances")).json()["BTC"]["free"] == 2
    assert (await api.http.get("/balances", params={"account": ACCOUNT})).json()["BTC"]["free"] == (
        2.00999)


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
    for malformed in ("unknownKey01", "k" * 63 + "-", "k" * 65):
        assert code(await api.http.get("/api/v3/account", headers={"X-MBX-APIKEY": malformed})
                    ) == (401, -2014), malformed
    well_formed = "vmPUZE6mv9SD5VNHk4HlWFsOr6aKE2zvsw0MuIgwCIPy6utIco14y7Ju91duEh8A"
    assert code(await api.http.get("/api/v3/account", headers={"X-MBX-APIKEY": well_formed})
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


async def test_ids_are_integers_and_page_as_binance_pages_them(api: Api) -> None:
    """orderId and tradeId are the numbers the store gives (increasing, never reused);
    allOrders' orderId and myTrades' fromId start from them, myTrades' orderId picks one."""
    placed = [(await api.signed("POST", "order", symbol="BTCUSDT", side="BUY", type="MARKET",
                                quantity="0.01")).json() for _ in range(3)]
    numbers = [order["orderId"] for order in placed]
    assert all(isinstance(number, int) for number in numbers)
    assert numbers == sorted(set(numbers))  # increasing, none twice
    fills = [fill["tradeId"] for order in placed for fill in order["fills"]]
    assert all(isinstance(trade_id, int) for trade_id in fills)

    from_second = (await api.signed("GET", "allOrders", symbol="BTCUSDT",
                                    orderId=numbers[1])).json()
    assert [o["orderId"] for o in from_second] == numbers[1:]
    mine = (await api.signed("GET", "myTrades", symbol="BTCUSDT")).json()
    assert [t["id"] for t in mine] == fills
    assert [t["orderId"] for t in mine] == [o["orderId"] for o in placed for _ in o["fills"]]
    later = (await api.signed("GET", "myTrades", symbol="BTCUSDT", fromId=fills[-1])).json()
    assert [t["id"] for t in later] == fills[-1:]
    of_first = (await api.signed("GET", "myTrades", symbol="BTCUSDT", orderId=numbers[0])).json()
    assert {t["orderId"] for t in of_first} == {numbers[0]}
    found = (await api.signed("GET", "order", symbol="BTCUSDT", orderId=numbers[2])).json()
    assert found["orderId"] == numbers[2]
    # The service's own API shows both ids; its results keep the pipeline's own.
    own = (await api.http.get("/orders", params={"account": ACCOUNT, "limit": 3})).json()
    assert sorted(o["number"] for o in own) == numbers
    assert all(o["order_id"].startswith("MOCK_") for o in own)

    refused = await api.signed("GET", "order", symbol="BTCUSDT", orderId="MOCK_x")
    assert (refused.status_code, refused.json()["code"]) == (400, -1100)
    unknown = await api.signed("GET", "order", symbol="BTCUSDT", orderId=10**9)
    assert (unknown.status_code, unknown.json()["code"]) == (400, -2013)


@pytest.mark.exchange(success_rate=0.0, round_down=True)
async def test_binances_paths_keep_binances_rules_whatever_the_pipeline_is_set_to(api: Api) -> None:
    """With every order rejected at random and quantities rounded down to the step (as the
    pipeline's intakes are set here), an order through /api/v3 is still refused off the
    step and never rejected at random; the same order through the own API is."""
    off_step = await api.signed("POST", "order", symbol="BTCUSDT", side="BUY", type="MARKET",
                                quantity="0.000015")
    assert (off_step.status_code, off_step.json()) == (
        400, {"code": -1013, "msg": "Filter failure: LOT_SIZE"})
    too_fine = await api.signed("POST", "order", symbol="BTCUSDT", side="BUY", type="MARKET",
                                quantity="0.000010001")
    assert (too_fine.status_code, too_fine.json()["code"]) == (400, -1111)
    filled = await api.signed("POST", "order", symbol="BTCUSDT", side="BUY", type="MARKET",
                              quantity="0.01")
    assert filled.json()["status"] == "FILLED"
    # The pipeline's own intake, the same minute: rounded, then rejected at random.
    own = (await api.http.post("/orders", json={"symbol": "BTCUSDT", "side": "BUY",
                                                "quantity": "0.0100015"}, headers=AUTH)).json()
    assert (own["status"], own["error_code"], Decimal(str(own["quantity"]))) == (
        "REJECTED", "MOCK_REJECTION", Decimal("0.01"))
    # Binance keeps no order it rejected: its lists show the filled one only.
    listed = (await api.signed("GET", "allOrders", symbol="BTCUSDT")).json()
    assert [o["status"] for o in listed] == ["FILLED"]


@pytest.mark.exchange(binance_success_rate=0.0)
async def test_random_rejection_on_binances_paths_is_configured_apart_and_worded_as_binance(
        api: Api) -> None:
    """BINANCE_SUCCESS_RATE rejects orders to /api/v3 as Binance answers an order its
    backend failed, keeps none of them, and leaves the pipeline's orders alone."""
    for _ in range(3):
        refused = await api.signed("POST", "order", symbol="BTCUSDT", side="BUY",
                                   type="MARKET", quantity="0.01")
        assert (refused.status_code, refused.json()) == (400, {
            "code": -1001,
            "msg": "Internal error; unable to process your request. Please try again."})
    assert (await api.signed("GET", "allOrders", symbol="BTCUSDT")).json() == []
    balances = {b["asset"]: b["free"] for b in (await api.signed("GET", "account")).json()[
        "balances"]}
    assert (balances["USDT"], balances["BTC"]) == ("100000.00000000", "2.00000000")
    own = (await api.http.post("/orders", json={"symbol": "BTCUSDT", "side": "BUY",
                                                "quantity": "0.01"}, headers=AUTH)).json()
    assert own["status"] == "FILLED"
