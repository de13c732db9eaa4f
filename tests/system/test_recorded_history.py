"""The real process started with HISTORY_FILES: a strategy's startup candles are the
recorded ones, just before now, and the price goes on from the last recorded close."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import httpx

from tests.helpers import Names
from tests.processes import starter
from tests.unit.test_recorded import klines_zip


def test_klines_start_with_the_recorded_minutes(tmp_path: Path) -> None:
    klines_zip(tmp_path, [("93000", "93100", "92900", "93050", "1.5"),
                          ("93050", "93200", "93000", "93150", "2")])
    env = {**Names.new().env(), "HISTORY_FILES": str(tmp_path / "*.zip"),
           "SYNTHETIC_TAPE_MS": "0"}
    with starter(env, tmp_path) as start:
        service = start()
        service.wait_ready()
        candles = httpx.get(f"{service.url}/api/v3/klines",
                            params={"symbol": "BTCUSDT", "interval": "1m", "limit": 5}).json()
        price = httpx.get(f"{service.url}/api/v3/ticker/price",
                          params={"symbol": "BTCUSDT"}).json()
    recorded = [(c[1], c[4], c[5]) for c in candles if Decimal(c[5])]
    assert recorded == [("93000.00000000", "93050.00000000", "1.50000000"),
                        ("93050.00000000", "93150.00000000", "2.00000000")]
    assert abs(Decimal(price["price"]) - Decimal("93150")) < Decimal("93150") * Decimal("0.01")
