"""Binance's SIGNED endpoints, driven by the real clients as their users run them: ccxt's
`binance` class and python-binance's `Client` with keys of this service, trading against
the real process. Two keys, two sub-accounts, each with its own balances; every error
raises the exception class the client raises against Binance."""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import ccxt
import httpx
import pytest
import redis
from binance.client import Client
from binance.exceptions import BinanceAPIException

from tests.helpers import REDIS_URL, Names
from tests.processes import ServiceProcess, starter
from tests.system.test_binance_market import Recorded

KEY_A, SECRET_A = "keyA1234567890", "secret-of-bot-a"
KEY_B, SECRET_B = "keyB1234567890", "secret-of-bot-b"
KEY_DEFAULT, SECRET_DEFAULT = "keyDefault0001", "secret-of-the-default-account"


@pytest.fixture(scope="module")
def names() -> Names:
    return Names.new()


@pytest.fixture(scope="module")
def service(names: Names, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServiceProcess]:
    env = {**names.env(), "MOCK_SUCCESS_RATE": "1", "INITIAL_BALANCES": "USDT=100000",
           "BINANCE_API_KEYS": f"{KEY_A}:{SECRET_A}:bot-a,{KEY_B}:{SECRET_B}:bot-b,"
                               f"{KEY_DEFAULT}:{SECRET_DEFAULT}"}
    with starter(env, Path(tmp_path_factory.mktemp("binance-trading"))) as start:
        process = start()
        process.wait_ready()
        yield process


def ccxt_client(service: ServiceProcess, key: str = KEY_A, secret: str = SECRET_A) -> Recorded:
    api = f"{service.url}/api/v3"
    client = Recorded({"apiKey": key, "secret": secret,
                       "urls": {"api": {"public": api, "private": api}},
                       "options": {"fetchMarkets": {"types": ["spot"]},
                                   "fetchCurrencies": False, "fetchMargins": False}})
    client.requested = []
    client.load_markets()
    return client


def python_binance(service: ServiceProcess, key: str, secret: str) -> Client:
    client = Client(key, secret, requests_params={"timeout": 10}, ping=False)
    client.API_URL = f"{service.url}/api"
    return client


def test_ccxt_trades_a_limit_order_and_a_market_order_in_its_own_account(
        service: ServiceProcess, names: Names) -> None:
    client = ccxt_client(service)
    fills = redis.Redis.from_url(REDIS_URL)
    assert client.fetch_balance()["USDT"] == {"free": 100000.0, "used": 0.0, "total": 100000.0}

    last = client.fetch_ticker("BTC/USDT")["last"]
    resting = client.create_order("BTC/USDT", "limit", "buy", 0.001, round(last * 0.9, 2))
    assert resting["status"] == "open"
    assert [o["id"] for o in client.fetch_open_orders("BTC/USDT")] == [resting["id"]]
    locked = client.fetch_balance()["USDT"]["used"]
    # (a buy's commission is paid in the base asset it receives: the quote locked is the price)
    assert locked == pytest.approx(0.001 * round(last * 0.9, 2), abs=0.01)
    canceled = client.cancel_order(resting["id"], "BTC/USDT")
    assert canceled["status"] == "canceled"
    assert client.fetch_order(resting["id"], "BTC/USDT")["status"] == "canceled"
    assert client.fetch_balance()["USDT"] == {"free": 100000.0, "used": 0.0, "total": 100000.0}

    # 0.2 BTC walks two levels of the book: two fills, each with its fee.
    bought = client.create_order("BTC/USDT", "market", "buy", 0.2)
    assert bought["status"] == "closed"
    assert bought["filled"] == 0.2
    levels = bought["info"]["fills"]
    assert len(levels) >= 2
    assert sum(Decimal(f["qty"]) for f in levels) == Decimal("0.2")
    assert [Decimal(f["price"]) for f in levels] == sorted(Decimal(f["price"]) for f in levels)
    for level in levels:  # Binance's commission: in the asset received, each level's own
        assert level["commissionAsset"] == "BTC"
        assert Decimal(level["commission"]) == (Decimal(level["qty"]) * Decimal("0.001")).quantize(
            Decimal("1e-8"), rounding="ROUND_UP")
    commission = sum(Decimal(level["commission"]) for level in levels)
    mine = client.fetch_my_trades("BTC/USDT")
    assert [t["id"] for t in mine] == [str(f["tradeId"]) for f in levels]  # (ccxt: text)
    assert all(t["order"] == bought["id"] and t["side"] == "buy" for t in mine)
    assert Decimal(str(client.fetch_balance()["BTC"]["free"])) == Decimal("0.2") - commission
    assert [o["id"] for o in client.fetch_orders("BTC/USDT")] == [resting["id"], bought["id"]]
    # One pipeline: the order is published like one from Redis, under the service's own id
    # (the own API shows both).
    assert bought["id"].isdigit()  # Binance's integer orderId
    [own] = [o for o in httpx.get(f"{service.url}/orders", params={"account": "bot-a"}).json()
             if str(o["number"]) == bought["id"]]
    published = [fields for _, fields in fills.xrange(names.fills_stream)
                 if fields[b"order_id"] == own["order_id"].encode()]
    assert [fields[b"status"] for fields in published] == [b"FILLED"]
    assert published[0][b"account"] == b"bot-a"
    assert all(url.startswith(service.url) for url in client.requested)


def test_two_keys_trade_separate_balances(service: ServiceProcess) -> None:
    buyer = python_binance(service, KEY_B, SECRET_B)
    order = buyer.create_order(symbol="ETHUSDT", side="BUY", type="MARKET", quantity="0.5")
    assert order["status"] == "FILLED"
    assert Decimal(order["executedQty"]) == Decimal("0.5")
    assert order["fills"]
    balances = {b["asset"]: b for b in buyer.get_account()["balances"]}
    commission = sum(Decimal(f["commission"]) for f in order["fills"])  # in ETH, as Binance's
    assert {f["commissionAsset"] for f in order["fills"]} == {"ETH"}
    assert Decimal(balances["ETH"]["free"]) == Decimal("0.5") - commission
    spent = Decimal(100000) - Decimal(balances["USDT"]["free"])
    assert spent == sum(Decimal(f["price"]) * Decimal(f["qty"]) for f in order["fills"])
    # The default account's key sees none of it.
    other = python_binance(service, KEY_DEFAULT, SECRET_DEFAULT)
    assert other.get_asset_balance(asset="ETH") is None or Decimal(
        other.get_asset_balance(asset="ETH")["free"]) == 0
    assert Decimal(other.get_asset_balance(asset="USDT")["free"]) == Decimal(100000)
    assert other.get_my_trades(symbol="ETHUSDT") == []
    with pytest.raises(BinanceAPIException) as unknown:  # bot-b's order is not the default's
        other.get_order(symbol="ETHUSDT", orderId=order["orderId"])
    assert (unknown.value.code, unknown.value.message) == (-2013, "Order does not exist.")
    # The service's own read endpoints filter by account.
    rest = httpx.get(f"{service.url}/balances", params={"account": "bot-b"}).json()
    assert Decimal(str(rest["ETH"]["free"])) == Decimal("0.5") - commission
    assert httpx.get(f"{service.url}/balances", params={"account": "nobody"}).status_code == 404
    orders = httpx.get(f"{service.url}/orders", params={"account": "bot-b"}).json()
    assert [o["number"] for o in orders] == [order["orderId"]]


def test_each_error_raises_the_exception_class_ccxt_raises_against_binance(
        service: ServiceProcess) -> None:
    client = ccxt_client(service)
    with pytest.raises(ccxt.InsufficientFunds):
        client.create_order("BTC/USDT", "market", "buy", 5)  # 450,000 USDT of 100,000
    with pytest.raises(ccxt.InvalidOrder):  # below LOT_SIZE's step: -1013
        client.private_post_order({"symbol": "BTCUSDT", "side": "BUY", "type": "MARKET",
                                   "quantity": "0.000001"})
    last = client.fetch_ticker("BTC/USDT")["last"]
    with pytest.raises(ccxt.InvalidOrder):  # a post-only order that would take: -2010
        client.create_order("BTC/USDT", "limit", "buy", 0.001, round(last * 1.01, 2),
                            {"postOnly": True})
    with pytest.raises(ccxt.OrderNotFound):
        client.fetch_order("999999999", "BTC/USDT")
    with pytest.raises(ccxt.OrderNotFound):
        client.cancel_order("999999999", "BTC/USDT")
    with pytest.raises(ccxt.BadSymbol):
        client.private_post_order({"symbol": "NOPEUSDT", "side": "BUY", "type": "MARKET",
                                   "quantity": "1"})
    with pytest.raises(ccxt.AuthenticationError):  # a wrong secret: -1022
        ccxt_client(service, KEY_A, "not-the-secret").fetch_balance()
    with pytest.raises(ccxt.AuthenticationError):  # a malformed key: -2014
        ccxt_client(service, "unknownKey0000", SECRET_A).fetch_balance()
    with pytest.raises(ccxt.AuthenticationError):  # an unknown key: -2015
        ccxt_client(service, "u" * 64, SECRET_A).fetch_balance()
    late = ccxt_client(service)
    late.options["timeDifference"] = 10_000  # the client's clock 10 s behind: -1021
    with pytest.raises(ccxt.InvalidNonce):
        late.fetch_balance()


def test_signing_and_timing_are_checked_as_binance_checks_them(service: ServiceProcess) -> None:
    def ask(params: dict[str, Any], *, key: str | None = KEY_A, secret: str = SECRET_A,
            sign: bool = True) -> tuple[int, dict[str, Any]]:
        query = urlencode(params)
        if sign:
            query += "&signature=" + hmac.new(secret.encode(), query.encode(),
                                              hashlib.sha256).hexdigest()
        headers = {"X-MBX-APIKEY": key} if key else {}
        response = httpx.get(f"{service.url}/api/v3/account?{query}", headers=headers)
        return response.status_code, response.json()

    now = int(time.time() * 1000)
    assert ask({"timestamp": now})[0] == 200
    assert ask({"timestamp": now * 1000})[0] == 200  # microseconds
    assert ask({"timestamp": now}, key=None) == (
        401, {"code": -2014, "msg": "API-key format invalid."})
    assert ask({"timestamp": now}, key="nope") == (
        401, {"code": -2014, "msg": "API-key format invalid."})
    assert ask({"timestamp": now}, key="N0pe" * 16) == (
        401, {"code": -2015, "msg": "Invalid API-key, IP, or permissions for action."})
    assert ask({"timestamp": now}, secret="wrong") == (
        400, {"code": -1022, "msg": "Signature for this request is not valid."})
    assert ask({"timestamp": now}, sign=False)[1]["code"] == -1102
    assert ask({})[1] == {"code": -1102, "msg": "Mandatory parameter 'timestamp' was not sent,"
                                                " was empty/null, or malformed."}
    assert ask({"timestamp": now - 6000})[1] == {
        "code": -1021, "msg": "Timestamp for this request is outside of the recvWindow."}
    assert ask({"timestamp": now - 6000, "recvWindow": 10000})[0] == 200
    assert ask({"timestamp": now + 5000})[1]["code"] == -1021
    assert ask({"timestamp": now, "recvWindow": 70000})[1] == {
        "code": -1131, "msg": "recvWindow must be less than 60000"}
    # A secret is never in an answer or the log.
    assert SECRET_A not in service.output()


def test_resting_orders_of_one_symbol_are_canceled_together(service: ServiceProcess) -> None:
    client = python_binance(service, KEY_A, SECRET_A)
    price = Decimal(client.get_symbol_ticker(symbol="ETHUSDT")["price"])
    placed = [client.order_limit_buy(symbol="ETHUSDT", quantity="0.01",
                                     price=str((price * Decimal(f"0.{n}")).quantize(
                                         Decimal("0.01"))), newOrderRespType="ACK",
                                     newClientOrderId=f"rest-{n}")
              for n in (7, 8)]
    assert all(set(p) == {"symbol", "orderId", "orderListId", "clientOrderId", "transactTime"}
               for p in placed)
    # Named by client id (not only the newest), or by both, which must agree.
    first = client.get_order(symbol="ETHUSDT", origClientOrderId="rest-7")
    assert (first["orderId"], first["status"]) == (placed[0]["orderId"], "NEW")
    with pytest.raises(BinanceAPIException) as mismatched:
        client.get_order(symbol="ETHUSDT", orderId=placed[0]["orderId"],
                         origClientOrderId="rest-8")
    assert mismatched.value.code == -2013
    with pytest.raises(BinanceAPIException) as reused:  # a client id of an open order
        client.order_limit_buy(symbol="ETHUSDT", quantity="0.01", price=first["price"],
                               newClientOrderId="rest-7")
    assert (reused.value.code, reused.value.message) == (-2010, "Duplicate order sent.")
    assert len(client.get_open_orders(symbol="ETHUSDT")) == 2
    canceled = client._delete("openOrders", True, data={"symbol": "ETHUSDT"})
    assert sorted(c["orderId"] for c in canceled) == sorted(p["orderId"] for p in placed)
    assert {c["status"] for c in canceled} == {"CANCELED"}
    assert client.get_open_orders(symbol="ETHUSDT") == []
    with pytest.raises(BinanceAPIException) as none_left:
        client._delete("openOrders", True, data={"symbol": "ETHUSDT"})
    assert (none_left.value.code, none_left.value.message) == (-2011, "Unknown order sent.")


def test_ccxt_with_its_api_and_sapi_urls_here_makes_freqtrades_calls_on_this_host(
        service: ServiceProcess) -> None:
    """ccxt's binance with its defaults (currencies fetched from /sapi) and the URLs of both
    API families pointed here: the calls Freqtrade makes at start and while it trades
    (markets, currencies, trading fees, system status, balance, an order) all answer, and
    no request goes anywhere else."""
    urls = {"public": f"{service.url}/api/v3", "private": f"{service.url}/api/v3",
            **{name: f"{service.url}/sapi/{version}" for name, version in (
                ("sapi", "v1"), ("sapiV2", "v2"), ("sapiV3", "v3"), ("sapiV4", "v4"))}}
    client = Recorded({"apiKey": KEY_A, "secret": SECRET_A, "urls": {"api": urls},
                       "options": {"fetchMarkets": {"types": ["spot"]}, "fetchMargins": False}})
    client.requested = []
    client.load_markets()
    assert client.currencies["BTC"]["active"] is not False
    fees = client.fetch_trading_fees()
    assert fees["BTC/USDT"]["taker"] == 0.001
    assert client.fetch_status()["status"] == "ok"
    assert client.fetch_balance()["USDT"]["free"] > 0
    bought = client.create_order("ETH/USDT", "market", "buy", None, None, {"quoteOrderQty": 100})
    assert bought["status"] == "closed"
    assert all(url.startswith(service.url) for url in client.requested), [
        url for url in client.requested if not url.startswith(service.url)]
    assert any("/sapi/v1/capital/config/getall" in url for url in client.requested)
