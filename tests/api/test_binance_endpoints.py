"""The rest of Binance's spot REST calls a bot makes, in-process: the average price, the
rolling and trading-day tickers, older trades, commissions and rate limits, a test order,
and the `/sapi` calls of ccxt and Freqtrade."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from tests.api.conftest import KEY, Api

HOUR_MS = 3_600_000


async def test_the_average_price_weighs_the_last_five_minutes_by_volume(api: Api) -> None:
    now_ms = api.tape(("90000", "1", 400_000), ("90010", "1", 60_000), ("90040", "3", 1_000))
    average = (await api.http.get("/api/v3/avgPrice", params={"symbol": "BTCUSDT"})).json()
    # (90010 + 3 * 90040) / 4: the trade 400 s ago is outside the five minutes
    assert average == {"mins": 5, "price": "90032.50000000", "closeTime": now_ms - 1_000}


async def test_rolling_and_trading_day_tickers_cover_their_windows(api: Api) -> None:
    now_ms = api.tape(("89000", "2", 2 * HOUR_MS), ("91000", "1", 120_000))
    ticker = "/api/v3/ticker"
    hour = (await api.http.get(ticker, params={"symbol": "BTCUSDT", "windowSize": "1h"})).json()
    assert (hour["openPrice"], hour["highPrice"], hour["volume"], hour["count"]) == (
        "91000.00000000", "91000.00000000", "1.00000000", 1)
    day = (await api.http.get(ticker, params={"symbol": "BTCUSDT"})).json()
    assert (day["openPrice"], day["count"], day["volume"]) == ("89000.00000000", 2, "3.00000000")
    assert day["weightedAvgPrice"] == "89666.66666667"  # 8 places, as Binance's
    mini = (await api.http.get(ticker, params={"symbol": "BTCUSDT", "windowSize": "3h",
                                               "type": "MINI"})).json()
    assert "priceChange" not in mini
    assert mini["count"] == 2
    today = (await api.http.get(f"{ticker}/tradingDay", params={"symbol": "BTCUSDT"})).json()
    assert today["openTime"] >= now_ms - now_ms % (24 * HOUR_MS)
    refused = await api.http.get(ticker, params={"symbol": "BTCUSDT", "windowSize": "8d"})
    assert (refused.status_code, refused.json()["code"]) == (400, -1100)
    missing = await api.http.get(ticker)
    assert (missing.status_code, missing.json()["code"]) == (400, -1102)


async def test_older_trades_page_from_an_id_and_ui_klines_are_the_klines(api: Api) -> None:
    api.tape(*((str(90000 + i), "0.1", 1000 - i) for i in range(5)))
    ids = [t["id"] for t in (await api.http.get("/api/v3/trades",
                                                params={"symbol": "BTCUSDT"})).json()]
    older = (await api.http.get("/api/v3/historicalTrades", params={
        "symbol": "BTCUSDT", "fromId": ids[-3], "limit": 2})).json()
    assert [t["id"] for t in older] == ids[-3:-1]
    params = {"symbol": "BTCUSDT", "interval": "1m"}
    assert (await api.http.get("/api/v3/uiKlines", params=params)).json() == (
        await api.http.get("/api/v3/klines", params=params)).json()


async def test_commissions_rate_limits_and_a_test_order(api: Api) -> None:
    commission = (await api.signed("GET", "account/commission", symbol="BTCUSDT")).json()
    assert commission["standardCommission"]["taker"] == "0.00100000"
    assert commission["discount"]["enabledForAccount"] is False
    assert (await api.signed("GET", "rateLimit/order")).json() == []
    tried = await api.signed("POST", "order/test", symbol="BTCUSDT", side="BUY", type="MARKET",
                             quantity="0.01")
    assert (tried.status_code, tried.json()) == (200, {})
    rates = (await api.signed("POST", "order/test", symbol="BTCUSDT", side="BUY", type="LIMIT",
                              timeInForce="GTC", quantity="0.01", price="80000",
                              computeCommissionRates="true")).json()
    assert rates["standardCommissionForOrder"] == {"maker": "0.00100000", "taker": "0.00100000"}
    off_step = await api.signed("POST", "order/test", symbol="BTCUSDT", side="BUY",
                                type="MARKET", quantity="0.000015")
    assert off_step.json() == {"code": -1013, "msg": "Filter failure: LOT_SIZE"}
    assert (await api.signed("GET", "allOrders", symbol="BTCUSDT")).json() == []  # none sent


async def test_the_sapi_calls_of_ccxt_and_freqtrade(api: Api) -> None:
    assert (await api.http.get("/sapi/v1/system/status")).json() == {"status": 0, "msg": "normal"}
    fees = (await api.signed("GET", "/sapi/v1/asset/tradeFee")).json()
    assert {"symbol": "BTCUSDT", "makerCommission": "0.00100000",
            "takerCommission": "0.00100000"} in fees
    coins = (await api.signed("GET", "/sapi/v1/capital/config/getall")).json()
    btc = next(coin for coin in coins if coin["coin"] == "BTC")
    assert (btc["free"], btc["networkList"], btc["withdrawAllEnable"]) == ("2.00000000", [], False)
    assert (await api.signed("GET", "/sapi/v1/spot/delist-schedule")).json() == []
    unknown = await api.http.get("/sapi/v1/margin/account")
    assert (unknown.status_code, unknown.json()["code"]) == (404, -1020)


async def test_a_quote_quantity_market_order_buys_what_the_book_holds_for_it(api: Api) -> None:
    bought = (await api.signed("POST", "order", symbol="BTCUSDT", side="BUY", type="MARKET",
                               quoteOrderQty="1000")).json()
    spent = Decimal(bought["cummulativeQuoteQty"])
    step = Decimal("0.00001")  # BTCUSDT's lot step: a step more would cost more than 1,000
    assert Decimal(1000) - spent < step * Decimal(bought["fills"][-1]["price"])
    assert spent <= Decimal(1000)
    assert bought["origQuoteOrderQty"] == "1000.00000000"
    found = (await api.signed("GET", "order", symbol="BTCUSDT", orderId=bought["orderId"])).json()
    assert found["origQuoteOrderQty"] == "1000.00000000"
    both = await api.signed("POST", "order", symbol="BTCUSDT", side="BUY", type="MARKET",
                            quoteOrderQty="1000", quantity="0.01")
    assert both.json()["code"] == -1106
    limit = await api.signed("POST", "order", symbol="BTCUSDT", side="BUY", type="LIMIT",
                             timeInForce="GTC", price="80000", quoteOrderQty="1000")
    assert limit.json()["code"] == -1106


async def test_my_trades_refuses_more_than_a_day_between_its_bounds(api: Api) -> None:
    now_ms = int(api.clock.now().timestamp() * 1000)
    refused = await api.signed("GET", "myTrades", symbol="BTCUSDT",
                               startTime=now_ms - 25 * HOUR_MS, endTime=now_ms)
    assert (refused.status_code, refused.json()["code"]) == (400, -1127)


async def test_a_symbol_a_client_asks_about_gets_a_tape_without_a_feed(api: Api) -> None:
    """Without a market-data feed, the random walk trades every symbol a client asked about
    (its candles move), not only those with orders waiting."""
    now = api.clock.now()
    assert api.exchange.synthetic_trades(Decimal(10_000), now) == []
    await api.http.get("/api/v3/klines", params={"symbol": "SOLUSDT", "interval": "1m"})
    await api.http.get("/api/v3/depth", params={"symbol": "ETHUSDT"})
    await api.http.get("/api/v3/ticker/price")  # (every symbol: none of them watched)
    traded = api.exchange.synthetic_trades(Decimal(10_000), now)
    assert sorted(trade.symbol for trade in traded) == ["ETHUSDT", "SOLUSDT"]
    assert all(trade.synthetic for trade in traded)


async def test_cancel_replace_cancels_then_places_and_says_which_step_failed(api: Api) -> None:
    limit = {"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "timeInForce": "GTC",
             "quantity": "0.01"}
    first = (await api.signed("POST", "order", **limit, price="80000")).json()
    replaced = (await api.signed("POST", "order/cancelReplace", **limit, price="80500",
                                 cancelReplaceMode="STOP_ON_FAILURE",
                                 cancelOrderId=first["orderId"])).json()
    assert (replaced["cancelResult"], replaced["newOrderResult"]) == ("SUCCESS", "SUCCESS")
    assert replaced["cancelResponse"]["status"] == "CANCELED"
    assert replaced["newOrderResponse"]["price"] == "80500.00000000"
    open_orders = (await api.signed("GET", "openOrders", symbol="BTCUSDT")).json()
    assert [o["orderId"] for o in open_orders] == [replaced["newOrderResponse"]["orderId"]]

    stopped = await api.signed("POST", "order/cancelReplace", **limit, price="81000",
                               cancelReplaceMode="STOP_ON_FAILURE", cancelOrderId=first["orderId"])
    assert (stopped.status_code, stopped.json()["code"]) == (400, -2022)
    assert stopped.json()["data"] == {"cancelResult": "FAILURE", "newOrderResult": "NOT_ATTEMPTED",
                                      "cancelResponse": {"code": -2011, "msg": "Unknown order sent."},
                                      "newOrderResponse": None}
    anyway = (await api.signed("POST", "order/cancelReplace", **limit, price="81000",
                               cancelReplaceMode="ALLOW_FAILURE",
                               cancelOrderId=first["orderId"])).json()
    assert (anyway["code"], anyway["data"]["newOrderResult"]) == (-2021, "SUCCESS")
    too_big = (await api.signed("POST", "order/cancelReplace", **{**limit, "quantity": "50"},
                                price="81000", cancelReplaceMode="STOP_ON_FAILURE",
                                cancelOrderId=anyway["data"]["newOrderResponse"]["orderId"])).json()
    assert (too_big["code"], too_big["data"]["cancelResult"]) == (-2021, "SUCCESS")
    assert too_big["data"]["newOrderResponse"]["code"] == -2010


async def test_monthly_candles_open_on_the_first_of_the_month(api: Api) -> None:
    now_ms = api.tape(("90000", "1", 60_000))
    [month] = (await api.http.get("/api/v3/klines", params={"symbol": "BTCUSDT",
                                                            "interval": "1M"})).json()
    opened = datetime.fromtimestamp(month[0] / 1000, UTC)
    assert (opened.day, opened.hour, opened.minute) == (1, 0, 0)
    assert month[0] <= now_ms <= month[6]
    assert month[5] == "1.00000000"


async def test_an_oco_is_placed_listed_and_canceled_as_one(api: Api) -> None:
    """A sell OCO (a limit maker above the price, a stop loss below) through Binance's
    order-list endpoints: placed as one, listed, found by id or client id, canceled as
    one; a leg Binance would refuse refuses both."""
    legs = {"symbol": "BTCUSDT", "side": "SELL", "quantity": "0.5",
            "aboveType": "LIMIT_MAKER", "abovePrice": "95000",
            "belowType": "STOP_LOSS", "belowStopPrice": "85000"}
    placed = (await api.signed("POST", "orderList/oco", **legs, listClientOrderId="exit-1")).json()
    assert (placed["contingencyType"], placed["listStatusType"], placed["listOrderStatus"]) == (
        "OCO", "EXEC_STARTED", "EXECUTING")
    numbers = [o["orderId"] for o in placed["orders"]]
    assert placed["orderListId"] == numbers[0]
    assert [r["orderListId"] for r in placed["orderReports"]] == [numbers[0]] * 2
    assert [r["type"] for r in placed["orderReports"]] == ["LIMIT_MAKER", "STOP_LOSS"]
    by_id = (await api.signed("GET", "orderList", orderListId=placed["orderListId"])).json()
    by_client = (await api.signed("GET", "orderList", origClientOrderId="exit-1")).json()
    assert by_id == by_client
    assert [o["orderId"] for o in by_id["orders"]] == numbers
    [listed] = (await api.signed("GET", "openOrderList")).json()
    assert listed["orderListId"] == placed["orderListId"]
    leg = (await api.signed("GET", "order", symbol="BTCUSDT", orderId=numbers[1])).json()
    assert leg["orderListId"] == placed["orderListId"]

    canceled = (await api.signed("DELETE", "orderList", symbol="BTCUSDT",
                                 orderListId=placed["orderListId"])).json()
    assert (canceled["listStatusType"], canceled["listOrderStatus"]) == ("ALL_DONE", "ALL_DONE")
    assert [r["status"] for r in canceled["orderReports"]] == ["CANCELED", "CANCELED"]
    assert (await api.signed("GET", "openOrderList")).json() == []
    assert len((await api.signed("GET", "allOrderList")).json()) == 1

    taking = await api.signed("POST", "orderList/oco", **{**legs, "abovePrice": "80000",
                                                          "belowStopPrice": "79000"})
    assert (taking.status_code, taking.json()) == (
        400, {"code": -2010, "msg": "Order would immediately match and take."})
    unknown = await api.signed("GET", "orderList", orderListId=10**9)
    assert (unknown.status_code, unknown.json()["code"]) == (400, -2013)


async def test_an_otoco_waits_for_its_working_order_then_places_its_oco(api: Api) -> None:
    """A buy limit below the price with a take-profit and a stop-loss waiting: answered as
    Binance's example answers (the pending orders PENDING_NEW, workingTime -1), listed open;
    the tape through the buy places the pair, and through the take-profit ends the list."""
    placed = (await api.signed(
        "POST", "orderList/otoco", symbol="BTCUSDT", workingType="LIMIT", workingSide="BUY",
        workingPrice="89000", workingQuantity="0.5", workingTimeInForce="GTC",
        pendingSide="SELL", pendingQuantity="0.5", pendingAboveType="LIMIT_MAKER",
        pendingAbovePrice="95000", pendingBelowType="STOP_LOSS", pendingBelowStopPrice="85000",
        listClientOrderId="entry-1")).json()
    assert (placed["contingencyType"], placed["listStatusType"], placed["listOrderStatus"]) == (
        "OTO", "EXEC_STARTED", "EXECUTING")
    reports = placed["orderReports"]
    assert [(r["type"], r["status"]) for r in reports] == [
        ("LIMIT", "NEW"), ("LIMIT_MAKER", "PENDING_NEW"), ("STOP_LOSS", "PENDING_NEW")]
    assert [r["workingTime"] == -1 for r in reports] == [False, True, True]
    numbers = [r["orderId"] for r in reports]
    open_now = (await api.signed("GET", "openOrders", symbol="BTCUSDT")).json()
    assert sorted(o["orderId"] for o in open_now) == numbers
    account = (await api.signed("GET", "account")).json()
    assert {b["asset"]: b["locked"] for b in account["balances"]}["BTC"] == "0.00000000"

    await api.trade("88990", "1")
    assert await _statuses(api, numbers, ["FILLED", "NEW", "NEW"])
    await api.trade("95010", "1")
    assert await _statuses(api, numbers, ["FILLED", "FILLED", "EXPIRED"])
    ended = (await api.signed("GET", "orderList", listClientOrderId="entry-1")).json()
    assert (ended["listStatusType"], ended["listOrderStatus"]) == ("ALL_DONE", "ALL_DONE")


async def _statuses(api: Api, numbers: list[int], expected: list[str]) -> list[str]:
    """The orders' statuses once they are `expected` (or after a second, as they are)."""
    for _ in range(100):
        statuses = {o["orderId"]: o["status"] for o in (await api.signed(
            "GET", "allOrders", symbol="BTCUSDT")).json()}
        if [statuses[n] for n in numbers] == expected:
            break
        await asyncio.sleep(0.01)
    assert [statuses[n] for n in numbers] == expected
    return expected


async def test_an_oto_is_canceled_as_one_and_refused_as_binance_refuses_it(api: Api) -> None:
    oto = {"symbol": "BTCUSDT", "workingType": "LIMIT", "workingSide": "BUY",
           "workingPrice": "89000", "workingQuantity": "0.1", "workingTimeInForce": "GTC",
           "pendingType": "MARKET", "pendingSide": "SELL", "pendingQuantity": "0.1"}
    placed = (await api.signed("POST", "orderList/oto", **oto)).json()
    pending = placed["orderReports"][1]
    gone = (await api.signed("DELETE", "order", symbol="BTCUSDT",
                             orderId=pending["orderId"])).json()
    assert gone["status"] == "CANCELED"
    assert (await api.signed("GET", "openOrders", symbol="BTCUSDT")).json() == []
    for changed, code in ((("workingType", "MARKET"),), -1116), (
            (("pendingQuantity", "0.1000001"),), -1013), ((("pendingSide", ""),), -1102):
        refused = await api.signed("POST", "orderList/oto", **{**oto, **dict(changed)})
        assert (refused.status_code, refused.json()["code"]) == (400, code), changed
    legacy = (await api.signed("POST", "order/oco", symbol="BTCUSDT", side="SELL",
                               quantity="0.1", price="95000", stopPrice="85000")).json()
    assert [(r["type"], r["status"]) for r in legacy["orderReports"]] == [
        ("STOP_LOSS", "NEW"), ("LIMIT_MAKER", "NEW")]
    assert legacy["contingencyType"] == "OCO"


HOSTILE = ["1e9999999", "²", "٣", "9" * 5000, "0." + "0" * 5000 + "1", "-1", "NaN"]


@pytest.mark.parametrize("value", HOSTILE, ids=["exponent", "superscript", "arabic-indic",
                                                "5000-digits", "5000-decimals", "negative", "nan"])
async def test_hostile_values_in_the_new_parameters_are_refused_with_binances_codes(
    api: Api, value: str
) -> None:
    """quoteOrderQty with a huge exponent overflowed a decimal (a 500): every decimal
    parameter is now held to Binance's legal range, every id to 19 ASCII digits."""
    limit = {"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "timeInForce": "GTC",
             "quantity": "0.01", "price": "80000"}
    sent = [("POST", "order", {"symbol": "BTCUSDT", "side": "BUY", "type": "MARKET",
                               "quoteOrderQty": value}),
            ("POST", "order/test", {**limit, "price": value}),
            ("GET", "myTrades", {"symbol": "BTCUSDT", "fromId": value}),
            ("GET", "allOrders", {"symbol": "BTCUSDT", "orderId": value}),
            ("GET", "orderList", {"orderListId": value}),
            ("POST", "order/cancelReplace", {**limit, "cancelReplaceMode": "STOP_ON_FAILURE",
                                             "cancelOrderId": value}),
            ("POST", "orderList/oco", {"symbol": "BTCUSDT", "side": "SELL", "quantity": "0.01",
                                       "aboveType": "LIMIT_MAKER", "abovePrice": value,
                                       "belowType": "STOP_LOSS", "belowStopPrice": "85000"})]
    working = {"symbol": "BTCUSDT", "workingType": "LIMIT", "workingSide": "BUY",
               "workingPrice": "89000", "workingQuantity": "0.01", "workingTimeInForce": "GTC"}
    sent += [("POST", "orderList/oto", {**working, "workingPrice": value, "pendingType": "MARKET",
                                        "pendingSide": "SELL", "pendingQuantity": "0.01"}),
             ("POST", "orderList/oto", {**working, "pendingType": "LIMIT_MAKER",
                                        "pendingSide": "SELL", "pendingQuantity": value,
                                        "pendingPrice": "95000"}),
             ("POST", "orderList/otoco", {**working, "pendingSide": "SELL",
                                          "pendingQuantity": "0.01",
                                          "pendingAboveType": "LIMIT_MAKER",
                                          "pendingAbovePrice": value,
                                          "pendingBelowType": "STOP_LOSS",
                                          "pendingBelowStopPrice": "85000"}),
             ("POST", "order/oco", {"symbol": "BTCUSDT", "side": "SELL", "quantity": "0.01",
                                    "price": "95000", "stopPrice": "85000",
                                    "stopLimitPrice": value, "stopLimitTimeInForce": "GTC"})]
    for method in ("PUT", "DELETE"):  # (an unknown listen key, whatever it holds)
        answer = await api.http.request(method, "/api/v3/userDataStream",
                                        params={"listenKey": value},
                                        headers={"X-MBX-APIKEY": KEY})
        assert (answer.status_code, answer.json()["code"]) == (400, -1125)
    if not value.isascii() or len(value) > 36:  # (as a client id: not one Binance allows)
        sent += [("POST", "orderList/oco", {
            "symbol": "BTCUSDT", "side": "SELL", "quantity": "0.01", "aboveType": "LIMIT_MAKER",
            "abovePrice": "95000", "belowType": "STOP_LOSS", "belowStopPrice": "85000",
            "listClientOrderId": value})]
    for method, path, params in sent:
        answer = await api.signed(method, path, **params)
        assert 400 <= answer.status_code < 500, (path, answer.text[:200])
        assert answer.json()["code"] < 0
        assert len(answer.content) < 2000
    zone = value if value != "-1" else "-13"  # ("-1" is a time zone: UTC-1)
    for path, params in (("ticker", {"symbol": "BTCUSDT", "windowSize": value}),
                         ("ticker/tradingDay", {"symbol": "BTCUSDT", "timeZone": zone}),
                         ("historicalTrades", {"symbol": "BTCUSDT", "fromId": value})):
        answer = await api.http.get(f"/api/v3/{path}", params=params)
        assert 400 <= answer.status_code < 500, (path, answer.text[:200])
    assert (await api.signed("GET", "allOrders", symbol="BTCUSDT")).json() == []  # none placed
