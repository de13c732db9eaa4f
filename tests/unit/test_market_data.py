"""Market data messages as the pipeline's WS service sends them."""

from __future__ import annotations

from decimal import Decimal

import orjson
import pytest

from execution_service.bus.market_data import parse_depth, parse_trade
from execution_service.domain.commands import BookUpdate, MarketTrade
from execution_service.domain.orders import Side


def test_parse_trade_reads_symbol_and_exact_price() -> None:
    raw = (b'{"schema_version":"v1.0","source":"mexc","symbol":"BTC/USDT","ts_ms":1700000000000,'
           b'"price":"90123.45","trade_qty":"0.01","side":"buy"}')
    assert parse_trade(raw) == MarketTrade("BTCUSDT", Decimal("90123.45"), Decimal("0.01"),
                                           1700000000000, aggressor=Side.BUY)


@pytest.mark.parametrize(("side", "aggressor"), [
    ('"side":"sell"', Side.SELL), ('"side":"BUY"', Side.BUY), ('"side":"unknown"', None),
    ('"tradeType":2', Side.SELL), ('"tradeType":1', Side.BUY), ('"x":1', None)])
def test_the_aggressor_is_read_from_upstreams_side_or_mexcs_trade_type(
        side: str, aggressor: Side | None) -> None:
    trade = parse_trade(f'{{"symbol":"BTCUSDT","price":"1","trade_qty":"2",{side}}}'.encode())
    assert trade is not None
    assert trade.aggressor is aggressor


# Binance's WebSocket events, as its docs show them (web-socket-streams.md).
TRADE = {"e": "trade", "E": 1672515782136, "s": "BNBBTC", "t": 12345, "p": "0.001",
         "q": "100", "T": 1672515782136, "m": True, "M": True}
AGG_TRADE = {"e": "aggTrade", "E": 1672515782136, "s": "BNBBTC", "a": 12345, "p": "0.001",
             "q": "100", "f": 100, "l": 105, "T": 1672515782136, "m": False, "M": True}


@pytest.mark.parametrize("message", [
    TRADE, {"stream": "bnbbtc@trade", "data": TRADE},
    {**TRADE, "T": 1672515782136123},  # microseconds, on a connection that asked for them
])
def test_binance_trade_events_raw_or_combined(message: dict[str, object]) -> None:
    trade = parse_trade(orjson.dumps(message))
    # "m": the buyer is the maker, so the seller took liquidity.
    assert trade == MarketTrade("BNBBTC", Decimal("0.001"), Decimal("100"), 1672515782136,
                                aggressor=Side.SELL)


def test_binance_aggregate_trade_with_the_buyer_taking() -> None:
    trade = parse_trade(orjson.dumps({"stream": "bnbbtc@aggTrade", "data": AGG_TRADE}))
    assert trade == MarketTrade("BNBBTC", Decimal("0.001"), Decimal("100"), 1672515782136,
                                aggressor=Side.BUY)


@pytest.mark.parametrize("quantity", [None, '"abc"', '"-1"', '"0"', "true"])
def test_a_trade_without_a_usable_quantity_still_moves_the_price(quantity: str | None) -> None:
    field = "" if quantity is None else f',"trade_qty":{quantity}'
    trade = parse_trade(f'{{"symbol":"ETHUSDT","price":"3000.5"{field}}}'.encode())
    assert trade == MarketTrade("ETHUSDT", Decimal("3000.5"), None, 0)


@pytest.mark.parametrize("raw", [b"", b"[]", b'{"symbol":"BTCUSDT"}', b'{"price":"1"}',
                                 b'{"symbol":"BTCUSDT","price":"-1"}',
                                 b'{"symbol":"BTCUSDT","price":"NaN"}',
                                 b'{"symbol":"??","price":"1"}', b"\xff"])
def test_parse_trade_ignores_anything_else(raw: bytes) -> None:
    assert parse_trade(raw) is None


# Binance's depth messages (web-socket-streams.md: partial book depth, diff depth).
PARTIAL = {"lastUpdateId": 160, "bids": [["0.0024", "10"]], "asks": [["0.0026", "100"]]}
DIFF = {"e": "depthUpdate", "E": 1672515782136, "s": "BNBBTC", "U": 157, "u": 160,
        "b": [["0.0024", "10"]], "a": [["0.0026", "0"]]}


def test_a_partial_depth_snapshot_names_its_symbol_by_its_stream_or_a_field() -> None:
    expected = BookUpdate("BNBBTC", ((Decimal("0.0024"), Decimal("10")),),
                          ((Decimal("0.0026"), Decimal("100")),), snapshot=True)
    assert parse_depth(orjson.dumps({"stream": "bnbbtc@depth5@100ms", "data": PARTIAL})) == expected
    assert parse_depth(orjson.dumps({**PARTIAL, "symbol": "BNB/BTC"})) == expected
    assert parse_depth(orjson.dumps(PARTIAL)) is None  # Binance's payload alone names none


def test_a_diff_depth_event_changes_the_levels_it_names() -> None:
    update = parse_depth(orjson.dumps(DIFF))
    assert update == BookUpdate("BNBBTC", ((Decimal("0.0024"), Decimal("10")),),
                                ((Decimal("0.0026"), Decimal("0")),), snapshot=False,
                                ts_ms=1672515782136)


@pytest.mark.parametrize("raw", [b"{}", b"[]", b"nope", orjson.dumps({**DIFF, "b": [["x", "1"]]}),
                                 orjson.dumps({**DIFF, "a": [["-1", "1"]]}),
                                 orjson.dumps({**DIFF, "s": "??"})])
def test_anything_else_on_the_depth_channel_is_dropped(raw: bytes) -> None:
    assert parse_depth(raw) is None
