"""Binance's public market data, asked by the real clients as their users run them: ccxt's
`binance` class and python-binance's `Client`, pointed at the service (the real process),
with nothing asked of any other host."""

from __future__ import annotations

import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import ccxt
import httpx
import orjson
import pytest
import redis
from binance.client import Client
from binance.exceptions import BinanceAPIException

from tests.helpers import REDIS_URL, Names, wait_for_sync
from tests.processes import ServiceProcess, starter


@pytest.fixture(scope="module")
def names() -> Names:
    return Names.new()


@pytest.fixture(scope="module")
def service(names: Names, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServiceProcess]:
    env = {**names.env(), "MOCK_SUCCESS_RATE": "1", "INITIAL_BALANCES": "USDT=10000"}
    with starter(env, Path(tmp_path_factory.mktemp("binance"))) as start:
        process = start()
        process.wait_ready()
        yield process


class Recorded(ccxt.binance):  # type: ignore[misc]
    """ccxt's binance, every URL it requests kept."""

    requested: list[str]

    def fetch(self, url: str, *args: Any, **kwargs: Any) -> Any:
        self.requested.append(url)
        return super().fetch(url, *args, **kwargs)


def ccxt_client(service: ServiceProcess) -> Recorded:
    api = f"{service.url}/api/v3"
    client = Recorded({"urls": {"api": {"public": api, "private": api}},
                       "options": {"fetchMarkets": {"types": ["spot"]},
                                   "fetchCurrencies": False, "fetchMargins": False}})
    client.requested = []
    return client


def test_ccxt_loads_the_markets_with_the_services_own_filters(service: ServiceProcess) -> None:
    client = ccxt_client(service)
    markets = client.load_markets()
    btc = markets["BTC/USDT"]
    assert (btc["id"], btc["base"], btc["quote"], btc["spot"], btc["active"]) == (
        "BTCUSDT", "BTC", "USDT", True, True)
    # The service's BTCUSDT filters: tick 0.01, step 0.00001, minimum value 5 USDT.
    assert (btc["precision"]["price"], btc["precision"]["amount"]) == (0.01, 0.00001)
    assert (btc["limits"]["amount"]["min"], btc["limits"]["cost"]["min"]) == (0.00001, 5.0)
    assert {"ETH/BTC", "DOGE/USDT", "PEPE/USDT"} <= set(markets)
    assert client.requested
    assert all(url.startswith(service.url) for url in client.requested)


def test_ccxt_reads_prices_and_the_book_the_service_fills_against(
        service: ServiceProcess) -> None:
    client = ccxt_client(service)
    last = client.fetch_last_prices(["BTC/USDT"])["BTC/USDT"]["price"]
    book = client.fetch_order_book("BTC/USDT", limit=5)
    assert len(book["bids"]) == len(book["asks"]) == 5
    best_bid, best_ask = book["bids"][0][0], book["asks"][0][0]
    assert best_bid < last < best_ask  # the synthetic book around the last price
    bids, asks = [price for price, _ in book["bids"]], [price for price, _ in book["asks"]]
    assert (bids, asks) == (sorted(bids, reverse=True), sorted(asks))  # best first
    assert all(quantity > 0 for _, quantity in book["bids"] + book["asks"])
    top = client.fetch_bids_asks(["BTC/USDT"])["BTC/USDT"]
    assert (top["bid"], top["ask"]) == (best_bid, best_ask)
    with pytest.raises(ccxt.BadSymbol):  # from the service's -1121
        client.public_get_ticker_price({"symbol": "NOPEUSDT"})
    assert all(url.startswith(service.url) for url in client.requested)


def test_python_binance_reads_time_symbols_prices_and_depth(service: ServiceProcess) -> None:
    client = Client("", "", base_endpoint="", requests_params={"timeout": 10},
                    ping=False)
    client.API_URL = f"{service.url}/api"
    assert abs(client.get_server_time()["serverTime"]) > 0
    info = client.get_symbol_info("ETHBTC")
    assert info is not None
    assert (info["baseAsset"], info["quoteAsset"], info["status"]) == ("ETH", "BTC", "TRADING")
    lot = next(f for f in info["filters"] if f["filterType"] == "LOT_SIZE")
    assert Decimal(lot["stepSize"]) == Decimal("0.0001")
    price = Decimal(client.get_symbol_ticker(symbol="ETHBTC")["price"])
    depth = client.get_order_book(symbol="ETHBTC", limit=3)
    assert Decimal(depth["bids"][0][0]) < price < Decimal(depth["asks"][0][0])
    with pytest.raises(BinanceAPIException) as refused:
        client.get_symbol_ticker(symbol="NOPEBTC")
    assert (refused.value.code, refused.value.message) == (-1121, "Invalid symbol.")


def test_errors_are_binances_codes_and_texts(service: ServiceProcess) -> None:
    def ask(path: str) -> tuple[int, dict[str, Any]]:
        response = httpx.get(f"{service.url}/api/v3/{path}")
        return response.status_code, response.json()

    assert ask("depth") == (400, {"code": -1102, "msg": "Mandatory parameter 'symbol' was not "
                                                        "sent, was empty/null, or malformed."})
    assert ask("depth?symbol=BTCUSDT&limit=x")[1]["code"] == -1100
    assert ask("exchangeInfo?symbol=BTCUSDT&symbols=%5B%22ETHBTC%22%5D")[1]["code"] == -1128
    assert ask("exchangeInfo?symbols=%5Bnot-json")[1]["code"] == -1100
    status, info = ask('exchangeInfo?symbols=["ETHBTC","BTCUSDT"]')
    assert status == 200
    assert [s["symbol"] for s in info["symbols"]] == ["ETHBTC", "BTCUSDT"]
    assert ask("ping") == (200, {})


def test_the_history_is_the_tape_the_service_saw(service: ServiceProcess, names: Names) -> None:
    minute = int(time.time() * 1000) // 60_000 * 60_000 - 120_000
    tape = [(minute + 1_000, "3000.5", "1"), (minute + 2_000, "3002", "0.5"),
            (minute + 61_000, "2999", "2")]
    publisher = redis.Redis.from_url(REDIS_URL)
    for ts_ms, price, quantity in tape:
        publisher.publish(names.market_data_channel, orjson.dumps({
            "symbol": "ETHUSDT", "ts_ms": ts_ms, "price": price, "trade_qty": quantity}))
    wait_for_sync(lambda: len(httpx.get(f"{service.url}/api/v3/trades?symbol=ETHUSDT").json()) == 3,
                  what="the three trades on the tape")
    client = ccxt_client(service)
    client.load_markets()
    trades = client.fetch_trades("ETH/USDT")
    assert [(t["timestamp"], t["price"], t["amount"]) for t in trades] == [
        (minute + 1_000, 3000.5, 1.0), (minute + 2_000, 3002.0, 0.5), (minute + 61_000, 2999.0, 2.0)]
    candles = client.fetch_ohlcv("ETH/USDT", "1m", since=minute)
    assert candles[:2] == [[minute, 3000.5, 3002.0, 3000.5, 3002.0, 1.5],
                           [minute + 60_000, 2999.0, 2999.0, 2999.0, 2999.0, 2.0]]
    # The minutes since, up to now, without a trade: the last close, as Binance has them.
    assert candles[2:] == [[minute + n * 60_000, 2999.0, 2999.0, 2999.0, 2999.0, 0.0]
                           for n in range(2, len(candles))]
    assert len(candles) >= 3
    ticker = client.fetch_ticker("ETH/USDT")
    assert (ticker["open"], ticker["high"], ticker["low"], ticker["last"]) == (
        3000.5, 3002.0, 2999.0, 2999.0)
    assert (ticker["baseVolume"], ticker["info"]["count"]) == (3.5, 3)
    assert ticker["bid"] < ticker["last"] < ticker["ask"]
    with pytest.raises(ccxt.BadRequest):  # -1120
        client.public_get_klines({"symbol": "ETHUSDT", "interval": "7m"})
    assert all(url.startswith(service.url) for url in client.requested)
