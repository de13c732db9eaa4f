"""Binance's connector (binance-connector, `binance.spot.Spot`) against the real process,
unchanged: every spot market and trade call it has for what the service serves answers
(avgPrice, the rolling and trading-day tickers, order/test, cancelReplace and commission
rates were not served before), and an error raises its `ClientError` with Binance's code."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
from binance.error import ClientError
from binance.spot import Spot

from tests.helpers import Names
from tests.processes import ServiceProcess, starter

KEY, SECRET = "keyConnector0001", "secret-of-the-connector-bot"


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServiceProcess]:
    env = {**Names.new().env(), "MOCK_SUCCESS_RATE": "1", "INITIAL_BALANCES": "USDT=100000",
           "BINANCE_API_KEYS": f"{KEY}:{SECRET}:connector-bot"}
    with starter(env, Path(tmp_path_factory.mktemp("binance-connector"))) as start:
        process = start()
        process.wait_ready()
        yield process


def test_the_connectors_market_calls(service: ServiceProcess) -> None:
    spot = Spot(base_url=service.url)
    assert spot.ping() == {}
    assert spot.exchange_info(symbol="BTCUSDT")["symbols"][0]["symbol"] == "BTCUSDT"
    assert len(spot.depth("BTCUSDT", limit=5)["bids"]) == 5
    assert Decimal(spot.ticker_price("BTCUSDT")["price"]) > 0
    assert spot.book_ticker("BTCUSDT")["symbol"] == "BTCUSDT"
    assert Decimal(spot.avg_price("BTCUSDT")["price"]) > 0
    for ticker in (spot.ticker_24hr("BTCUSDT"), spot.rolling_window_ticker("BTCUSDT"),
                   spot.trading_day_ticker("BTCUSDT")):
        assert ticker["symbol"] == "BTCUSDT"
    for candles in (spot.klines("BTCUSDT", "1m"), spot.ui_klines("BTCUSDT", "1m")):
        assert isinstance(candles, list)
    assert isinstance(spot.trades("BTCUSDT"), list)
    assert isinstance(spot.historical_trades("BTCUSDT"), list)
    assert isinstance(spot.agg_trades("BTCUSDT"), list)


def test_the_connectors_trade_calls_and_errors(service: ServiceProcess) -> None:
    spot = Spot(api_key=KEY, api_secret=SECRET, base_url=service.url)
    assert spot.new_order_test("BTCUSDT", "BUY", "MARKET", quantity="0.01") == {}
    bought = spot.new_order("BTCUSDT", "BUY", "MARKET", quantity="0.01")
    assert (bought["status"], type(bought["orderId"])) == ("FILLED", int)
    resting = spot.new_order("BTCUSDT", "BUY", "LIMIT", quantity="0.01", price="50000",
                             timeInForce="GTC")
    assert spot.get_order("BTCUSDT", orderId=resting["orderId"])["status"] == "NEW"
    assert [o["orderId"] for o in spot.get_open_orders("BTCUSDT")] == [resting["orderId"]]
    replaced = spot.cancel_and_replace("BTCUSDT", "BUY", "LIMIT", "STOP_ON_FAILURE",
                                       cancelOrderId=resting["orderId"], quantity="0.01",
                                       price="51000", timeInForce="GTC")
    assert replaced["cancelResult"] == "SUCCESS"
    newer = replaced["newOrderResponse"]["orderId"]
    assert spot.cancel_order("BTCUSDT", orderId=newer)["status"] == "CANCELED"
    assert [o["orderId"] for o in spot.get_orders("BTCUSDT")] == [
        bought["orderId"], resting["orderId"], newer]
    assert [t["orderId"] for t in spot.my_trades("BTCUSDT")] == [
        bought["orderId"]] * len(bought["fills"])
    assert spot.query_commission_rates("BTCUSDT")["symbol"] == "BTCUSDT"
    assert spot.get_order_rate_limit() == []
    assert any(b["asset"] == "BTC" for b in spot.account()["balances"])
    with pytest.raises(ClientError) as unknown:
        spot.get_order("BTCUSDT", orderId=987654321)
    assert (unknown.value.status_code, unknown.value.error_code) == (400, -2013)
    assert spot.get_oco_open_orders() == []  # (order lists: OCOs are served)
    with pytest.raises(ClientError) as unserved:  # prevented matches: not served
        spot.query_prevented_matches("BTCUSDT", preventedMatchId=1)
    assert (unserved.value.status_code, unserved.value.error_code) == (404, -1020)
