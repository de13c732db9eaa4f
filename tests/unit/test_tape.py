"""The kept tape: bounded per symbol, and the candles and day figures built from it."""

from __future__ import annotations

from decimal import Decimal

from execution_service.domain.commands import MarketTrade
from execution_service.domain.orders import Side
from execution_service.engine.tape import DAY_MS, TapeHistory


def trade(price: str, ts_ms: int, quantity: str | None = "1", symbol: str = "BTCUSDT") -> MarketTrade:
    return MarketTrade(symbol, Decimal(price), Decimal(quantity) if quantity else None, ts_ms)


def test_tape_keeps_the_newest_trades_of_each_symbol_only() -> None:
    history = TapeHistory(keep_trades=3)
    history.record([trade(str(100 + n), n) for n in range(5)] + [trade("7", 9, symbol="ETHBTC")])
    assert [t.price for t in history.recent("BTCUSDT", 10)] == [Decimal(102), Decimal(103), Decimal(104)]
    assert [t.price for t in history.recent("BTCUSDT", 2)] == [Decimal(103), Decimal(104)]
    assert len(history.recent("ETHBTC", 10)) == 1
    assert history.recent("XRPUSDT", 10) == []


def test_tape_candles_repeat_the_last_close_where_nothing_traded() -> None:
    history = TapeHistory()
    history.record([trade("10", 0), trade("12", 30_000, "2"), trade("9", 59_999),
                    trade("11", 180_000, None)])  # a trade without a quantity counts as 0
    first, quiet, quieter, last, now = history.candles("BTCUSDT", 60_000, 0, 250_000, limit=10)
    assert (first.open, first.high, first.low, first.close, first.volume, first.trades) == (
        Decimal(10), Decimal(12), Decimal(9), Decimal(9), Decimal(4), 3)
    assert first.quote_volume == Decimal(10 + 24 + 9)
    # As Binance: an interval without a trade is the last close, flat, with no volume.
    for empty, opened in ((quiet, 60_000), (quieter, 120_000)):
        assert (empty.open_ms, empty.open, empty.high, empty.low, empty.close) == (
            opened, Decimal(9), Decimal(9), Decimal(9), Decimal(9))
        assert (empty.volume, empty.trades, empty.first_id) == (Decimal(0), 0, -1)
    assert (last.open_ms, last.close_ms, last.volume, last.close) == (
        180_000, 239_999, Decimal(0), Decimal(11))
    assert (now.open_ms, now.close, now.trades) == (240_000, Decimal(11), 0)  # up to the end
    # The newest when limited; with `oldest`, the oldest from the start on.
    assert history.candles("BTCUSDT", 60_000, 0, 200_000, limit=1) == [last]
    assert history.candles("BTCUSDT", 60_000, 0, 200_000, limit=2, oldest=True) == [first, quiet]
    assert history.candles("BTCUSDT", 60_000, 100_000, 200_000, limit=1, oldest=True) == [last]
    assert history.candles("ETHBTC", 60_000, 0, 200_000, limit=5) == []


def test_tape_day_covers_the_last_24_hours() -> None:
    history = TapeHistory()
    history.record([trade("50", 0), trade("60", 1_000), trade("70", 60_000),
                    trade("40", DAY_MS + 60_500)])
    day = history.day("BTCUSDT", DAY_MS + 60_600)
    assert day is not None
    # By whole minutes: the first minute has ended before the window, the second has not.
    assert (day.open, day.high, day.low, day.close, day.trades) == (
        Decimal(70), Decimal(70), Decimal(40), Decimal(40), 2)
    assert history.day("ETHBTC", DAY_MS) is None


def test_tape_minute_candles_are_kept_for_their_window_and_longer_intervals_merge_them() -> None:
    history = TapeHistory(keep_trades=2, keep_minutes=3)
    history.record([trade(str(10 + n), n * 60_000) for n in range(5)])  # one a minute
    hours = history.candles("BTCUSDT", 3_600_000, 0, 3_599_999, limit=10)
    assert [(c.open_ms, c.open, c.close, c.trades) for c in hours] == [
        (0, Decimal(12), Decimal(14), 3)]  # the two oldest minutes are gone
    assert len(history.recent("BTCUSDT", 10)) == 2


def test_a_trade_whose_seller_took_liquidity_is_kept_as_buyer_maker() -> None:
    history = TapeHistory()
    history.record([MarketTrade("BTCUSDT", Decimal(1), Decimal(1), 0, aggressor=Side.SELL),
                    MarketTrade("BTCUSDT", Decimal(1), Decimal(1), 1, aggressor=Side.BUY),
                    MarketTrade("BTCUSDT", Decimal(1), Decimal(1), 2)])
    assert [t.buyer_maker for t in history.recent("BTCUSDT", 3)] == [True, False, False]


def test_month_candles_follow_the_calendar() -> None:
    """Binance's `1M`: calendar months in UTC, 30 or 31 days, from the minutes kept."""
    tape = TapeHistory()
    november_end = 1_796_083_080_000  # 2026-11-30T23:58Z
    december = 1_796_083_260_000  # 2026-12-01T00:01Z
    tape.record([trade("90000", november_end), trade("90100", november_end + 1),
                 trade("91000", december, "2")])
    first, second = tape.months("BTCUSDT", 0, december + 60_000, 10)
    assert (first.open_ms, first.close_ms) == (1_793_491_200_000, 1_796_083_199_999)  # 30 days
    assert (first.open, first.close, first.volume) == (Decimal(90000), Decimal(90100), 2)
    assert (second.open_ms, second.close) == (1_796_083_200_000, Decimal(91000))
    assert second.close_ms - second.open_ms + 1 == 31 * DAY_MS  # December
    assert tape.months("BTCUSDT", 0, december + 60_000, 1) == [second]
