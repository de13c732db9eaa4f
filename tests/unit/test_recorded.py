"""Recorded history at start (HISTORY_FILES): data.binance.vision's one-minute klines and
trades files, as Binance publishes them, loaded into the tape the market endpoints read."""

from __future__ import annotations

import zipfile
from decimal import Decimal
from pathlib import Path

import pytest

from execution_service.engine.tape import MINUTE_MS
from execution_service.errors import ConfigError
from execution_service.recorded import load

DAY_START_US = 1_735_689_600_000_000  # 2025-01-01T00:00Z in microseconds, as 2025's files
NOW_MS = 1_800_000_000_000


def klines_zip(folder: Path, rows: list[tuple[str, str, str, str, str]]) -> Path:
    """A one-minute klines file: open time, OHLC, volume, close time, quote volume, trades,
    taker volumes and an unused column, one row a minute from 2025-01-01."""
    lines = []
    for minute, (open_, high, low, close, volume) in enumerate(rows):
        opened = DAY_START_US + minute * 60_000_000
        quote = Decimal(volume) * Decimal(close)
        lines.append(f"{opened},{open_},{high},{low},{close},{volume},{opened + 59_999_999},"
                     f"{quote},{minute + 10},0,0,0")
    path = folder / "BTCUSDT-1m-2025-01-01.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("BTCUSDT-1m-2025-01-01.csv", "\n".join(lines) + "\n")
    return path


def test_klines_end_when_the_service_starts_and_set_the_reference_price(tmp_path: Path) -> None:
    klines_zip(tmp_path, [("93000", "93100", "92900", "93050", "1.5"),
                          ("93050", "93200", "93000", "93150", "2"),
                          ("93150", "93160", "93010", "93020", "0.5")])
    history = load(str(tmp_path / "*-1m-*.zip"), NOW_MS)
    *candles, now = history.tape.candles("BTCUSDT", MINUTE_MS, 0, NOW_MS, 10)
    assert [(c.open, c.close, c.volume) for c in candles] == [
        (Decimal("93000"), Decimal("93050"), Decimal("1.5")),
        (Decimal("93050"), Decimal("93150"), Decimal("2")),
        (Decimal("93150"), Decimal("93020"), Decimal("0.5"))]
    assert candles[-1].close_ms < NOW_MS <= candles[-1].close_ms + MINUTE_MS  # just before now
    assert (now.open_ms, now.close, now.volume) == (candles[-1].close_ms + 1, Decimal("93020"), 0)
    assert candles[0].open_ms % MINUTE_MS == 0  # (moved by whole minutes)
    assert history.last_prices == {"BTCUSDT": Decimal("93020")}


def test_unshifted_history_keeps_its_recorded_times(tmp_path: Path) -> None:
    klines_zip(tmp_path, [("93000", "93100", "92900", "93050", "1.5")])
    history = load(str(tmp_path / "BTCUSDT-1m-2025-01-01.zip"), NOW_MS, shift=False)
    [candle] = history.tape.candles("BTCUSDT", MINUTE_MS, 0, DAY_START_US // 1000 + 1, 10)
    assert candle.open_ms == DAY_START_US // 1000


def test_trades_files_give_the_recent_trades_and_their_candles(tmp_path: Path) -> None:
    path = tmp_path / "ETHUSDT-trades-2024-12-31.csv"  # (milliseconds before 2025)
    path.write_text("1,3400.10,0.5,1700.05,1735603200000,true,true\n"
                    "2,3401.00,1.0,3401.00,1735603230000,false,true\n")
    history = load(str(path), NOW_MS)
    trades = history.tape.recent("ETHUSDT", 10)
    assert [(t.price, t.buyer_maker) for t in trades] == [(Decimal("3400.10"), True),
                                                          (Decimal("3401.00"), False)]
    assert trades[-1].time_ms - trades[0].time_ms == 30_000
    assert history.last_prices == {"ETHUSDT": Decimal("3401.00")}


def test_a_file_that_cannot_be_read_stops_the_start_naming_it(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no file matches"):
        load(str(tmp_path / "nothing-*.zip"), NOW_MS)
    (tmp_path / "BTCUSDT-1h-2025-01-01.csv").write_text("1,2,3\n")
    with pytest.raises(ConfigError, match="a row of 3 columns"):
        load(str(tmp_path / "BTCUSDT-1h-2025-01-01.csv"), NOW_MS)
