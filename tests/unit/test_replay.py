"""Reading Binance's public trade files and replaying them at a chosen pace."""

from __future__ import annotations

import zipfile
from decimal import Decimal
from pathlib import Path

import orjson
import pytest

from execution_service.bus.market_data import parse_trade
from execution_service.domain.commands import MarketTrade
from execution_service.domain.orders import Side
from execution_service.replay import RecordedTrade, merged, read, replay

DATA = Path(__file__).resolve().parents[1] / "scenarios" / "data"
TRADES = DATA / "BTCUSDT-trades-2024-12-31.csv"  # spot layout before 2025: ms, no header
AGG_TRADES = DATA / "BTCUSDT-aggTrades-2025-01-01.csv"  # from 2025: µs (and a header here)


def test_a_trades_file_is_read_in_id_order_with_its_side() -> None:
    trades = read(TRADES)
    assert [(t.id, t.price, t.quantity, t.time_ms, t.buyer_maker) for t in trades] == [
        (4001, Decimal("89960.00"), Decimal("0.50000000"), 1735689599000, True),
        (4002, Decimal("89940.00"), Decimal("0.00400000"), 1735689599100, False),
        (4003, Decimal("89940.00"), Decimal("0.00400000"), 1735689599200, True),
        (4004, Decimal("89930.00"), Decimal("0.02000000"), 1735689599300, True)]
    assert {t.symbol for t in trades} == {"BTCUSDT"}


def test_an_agg_trades_file_in_microseconds_with_a_header() -> None:
    trades = read(AGG_TRADES)
    assert [(t.id, t.time_ms, t.buyer_maker) for t in trades] == [
        (7001, 1735689600000, True), (7002, 1735689600500, False)]


def test_a_zip_as_data_binance_vision_serves_it(tmp_path: Path) -> None:
    archive = tmp_path / "BTCUSDT-trades-2024-12-31.zip"
    with zipfile.ZipFile(archive, "w") as zipped:
        zipped.write(TRADES, TRADES.name)
    assert read(archive) == read(TRADES)


def test_files_merge_by_time_and_each_trade_reads_back_as_the_service_reads_it() -> None:
    tape = list(merged([read(AGG_TRADES), read(TRADES)]))
    assert [t.id for t in tape] == [4001, 4002, 4003, 4004, 7001, 7002]
    assert parse_trade(tape[0].event()) == MarketTrade(
        "BTCUSDT", Decimal("89960.00"), Decimal("0.50000000"), 1735689599000,
        aggressor=Side.SELL)  # the buyer was the maker: the seller took liquidity


def test_a_file_of_another_layout_is_refused_by_name(tmp_path: Path) -> None:
    odd = tmp_path / "ETHUSDT-klines.csv"
    odd.write_text("1,2,3\n")
    with pytest.raises(ValueError, match="neither a trades row"):
        read(odd)
    with pytest.raises(ValueError, match="no symbol"):
        read(tmp_path / "??-trades.csv")


def test_replay_keeps_the_recorded_pace_scaled_or_goes_flat_out() -> None:
    tape = read(TRADES)  # at 0, 100, 200, 300 ms
    published: list[list[bytes]] = []
    slept: list[float] = []
    now = [0.0]

    def sleep(seconds: float) -> None:
        slept.append(round(seconds, 6))
        now[0] += seconds

    assert replay(tape, published.append, 10.0, sleep, lambda: now[0]) == 4
    assert slept == [0.01, 0.01, 0.01]  # 100 ms apart, ten times faster
    assert [orjson.loads(batch[0])["t"] for batch in published] == [4001, 4002, 4003, 4004]
    published.clear()
    slept.clear()
    assert replay(tape, published.append, None, sleep, lambda: now[0]) == 4
    assert (slept, len(published), len(published[0])) == ([], 1, 4)  # one pipelined batch


def test_an_event_is_binances_trade_event() -> None:
    event = orjson.loads(RecordedTrade("ETHBTC", 7, Decimal("0.05"), Decimal("2"), 1, False).event())
    assert event == {"e": "trade", "E": 1, "s": "ETHBTC", "t": 7, "p": "0.05", "q": "2", "T": 1,
                     "m": False, "M": True}
