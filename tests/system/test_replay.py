"""A recorded day replayed into the real service: `execution-service replay` publishes a
data.binance.vision trades file on MARKET_DATA_CHANNEL and a resting bid fills from it,
trade by trade, as worked out by hand (the aggressor side decides, FILL_MODE
trade_through, maker fee 0.1 %):

    id    price      qty    buyer maker   bid 89,950 x 0.01
    4001  89,960.00  0.5    yes (a sell)  -: not through its limit
    4002  89,940.00  0.004  no (a buy)    -: a buyer took the asks
    4003  89,940.00  0.004  yes           0.004 @ 89,950, fee 0.3598
    4004  89,930.00  0.02   yes           0.006 @ 89,950, fee 0.5397: FILLED
"""

from __future__ import annotations

import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest

from tests.helpers import REDIS_URL, Names, wait_for_sync
from tests.processes import clean_environment, starter

TOKEN = "replay-token"
DAY = Path(__file__).resolve().parents[1] / "scenarios" / "data" / "BTCUSDT-trades-2024-12-31.csv"


def test_a_replayed_day_fills_a_resting_bid_trade_by_trade(tmp_path: Path) -> None:
    names = Names.new()
    # Only the replayed day's trades: no random walk's before the first of them arrives (under
    # load, the walk's trades filled the bid before the replay had started, once in CI).
    env = {**names.env(), "API_TOKEN": TOKEN, "MOCK_SUCCESS_RATE": "1", "SYNTHETIC_TAPE_MS": "0"}
    with starter(env, tmp_path) as start:
        service = start()
        service.wait_ready()
        bid = service.send("POST", "/orders", TOKEN, json={
            "symbol": "BTCUSDT", "side": "BUY", "quantity": "0.01", "order_type": "LIMIT",
            "price": "89950.00"}).json()
        assert bid["status"] == "NEW"
        done = subprocess.run(
            [sys.executable, "-m", "execution_service", "replay", str(DAY), "--speed", "max"],
            env=clean_environment(**names.env(), REDIS_URL=REDIS_URL), capture_output=True,
            text=True, timeout=60, check=False)
        assert done.returncode == 0, done.stderr
        assert done.stdout.strip() == f"published 4 trades on {names.market_data_channel}"
        order = wait_for_sync(lambda: (o := service.get(f"/orders/{bid['order_id']}").json())
                              ["status"] == "FILLED" and o, what="the bid filled")
        assert [(Decimal(str(t["quantity"])), Decimal(str(t["price"])), Decimal(str(t["fee"])),
                 t["liquidity"]) for t in order["trades"]] == [
            (Decimal("0.004"), Decimal("89950"), Decimal("0.3598"), "maker"),
            (Decimal("0.006"), Decimal("89950"), Decimal("0.5397"), "maker")]
        # The tape kept them with their sides, as Binance's trades endpoint shows them.
        tape = service.get("/api/v3/trades?symbol=BTCUSDT").json()
        assert [(t["price"], t["isBuyerMaker"]) for t in tape[-4:]] == [
            ("89960.00000000", True), ("89940.00000000", False), ("89940.00000000", True),
            ("89930.00000000", True)]


@pytest.mark.parametrize("speed", ["10", "x10"])
def test_a_paced_replay_takes_the_recorded_time_over_the_speed(tmp_path: Path, speed: str) -> None:
    names = Names.new()
    done = subprocess.run(
        [sys.executable, "-m", "execution_service", "replay", str(DAY), "--speed", speed],
        env=clean_environment(**names.env(), REDIS_URL=REDIS_URL), capture_output=True,
        text=True, timeout=60, check=False, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("published 4 trades")
