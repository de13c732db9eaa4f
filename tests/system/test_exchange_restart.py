"""The exchange across a crash of the real process: resting orders, their locks and the
positions survive SIGKILL and resume matching; trades published on `market_data` while the
service is down are never turned into fills."""

from __future__ import annotations

import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import orjson
import pytest
import redis

from tests.helpers import REDIS_URL, Names
from tests.processes import ServiceProcess, Start, starter

TOKEN = "exchange-restart-token"


@pytest.fixture
def start(names: Names, tmp_path: Path) -> Iterator[Start]:
    env = {**names.env(), "MOCK_SUCCESS_RATE": "1", "API_TOKEN": TOKEN,
           "INITIAL_BALANCES": "USDT=10000,BTC=1", "MAKER_FEE": "0.0002"}
    with starter(env, tmp_path) as start:
        yield start


def trade(names: Names, price: str, quantity: str) -> None:
    message = {"schema_version": "v1.0", "source": "test", "symbol": "BTCUSDT",
               "ts_ms": int(time.time() * 1000), "price": price, "trade_qty": quantity,
               "side": "sell"}
    redis.Redis.from_url(REDIS_URL).publish(names.market_data_channel, orjson.dumps(message))


def order_of(service: ServiceProcess, order_id: str) -> dict[str, object]:
    return dict(service.get(f"/orders/{order_id}").json())


def wait_until(what: str, check: object, timeout_s: float = 15) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if check():  # type: ignore[operator]
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def balances(service: ServiceProcess) -> dict[str, dict[str, Decimal]]:
    return {asset: {k: Decimal(str(v)) for k, v in amounts.items()}
            for asset, amounts in service.get("/balances").json().items()}


def test_resting_orders_survive_a_crash_and_the_tape_while_down_is_not_invented(
        start: Start, names: Names, postgres_url: str) -> None:
    service = start(DATABASE_URL=postgres_url)
    service.wait_ready()
    trade(names, "90000.00", "1")
    wait_until("the price", lambda: service.get("/positions").status_code == 200 and
               service.get("/equity").json()["current"]["assets"].get("BTC", {}).get("price")
               == 90000)
    bid = service.send("POST", "/orders", TOKEN, json={
        "symbol": "BTCUSDT", "side": "BUY", "quantity": "0.02", "order_type": "LIMIT",
        "price": "89000.00", "client_id": "bid-1"})
    assert bid.status_code == 201, bid.text
    assert bid.json()["status"] == "NEW"
    order_id = bid.json()["order_id"]
    # 0.02 * 89,000 * 1.001 locked
    assert balances(service)["USDT"] == {"free": Decimal("8218.22"), "locked": Decimal("1781.78")}

    service.kill()
    trade(names, "88000.00", "5")  # through the bid, while nobody listens: never a fill

    service = start(DATABASE_URL=postgres_url)
    service.wait_ready()
    service.wait_matching()  # the killed process's lease runs out first
    trade(names, "89500.00", "1")  # the price after the restart, not through the bid
    wait_until("the new price", lambda: service.get("/equity").json()["current"]["assets"]
               ["BTC"]["price"] == 89500)
    resumed = order_of(service, order_id)
    assert (resumed["status"], resumed["filled_quantity"]) == ("NEW", 0)
    assert balances(service)["USDT"]["locked"] == Decimal("1781.78")

    trade(names, "88999.99", "0.015")  # through the bid, for 0.015 of its 0.02
    wait_until("a partial fill", lambda: order_of(service, order_id)["status"] == "PARTIALLY_FILLED")
    service.kill()  # again, with the order half filled

    service = start(DATABASE_URL=postgres_url)
    service.wait_ready()
    service.wait_matching()
    trade(names, "88990.00", "1")
    wait_until("the fill", lambda: order_of(service, order_id)["status"] == "FILLED")
    filled = order_of(service, order_id)
    trades = filled["trades"]
    assert isinstance(trades, list)
    assert [(t["quantity"], t["price"], t["liquidity"]) for t in trades] == [
        (0.015, 89000, "maker"), (0.005, 89000, "maker")]
    assert [e["status"] for e in filled["events"]] == ["NEW", "PARTIALLY_FILLED", "FILLED"]
    # Paid 0.02 * 89,000 = 1,780 plus the maker fee 0.356; the rest of the lock came back.
    assert balances(service) == {
        "USDT": {"free": Decimal("10000") - Decimal("1780") - Decimal("0.356"), "locked": 0},
        "BTC": {"free": Decimal("1.02"), "locked": 0}}
    [position] = service.get("/positions").json()
    assert (position["symbol"], position["quantity"], position["avg_entry_price"]) == (
        "BTCUSDT", 0.02, 89000)
    assert position["last_price"] == 88990
    assert Decimal(str(position["unrealized_pnl"])) == Decimal("-0.2")  # (88,990 - 89,000) * 0.02
    assert service.stop()[0] == 0
