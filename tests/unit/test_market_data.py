"""Market data messages as the pipeline's WS service sends them."""

from __future__ import annotations

from decimal import Decimal

import pytest

from execution_service.bus.market_data import parse_trade
from execution_service.domain.commands import MarketTrade


def test_parse_trade_reads_symbol_and_exact_price() -> None:
    raw = (b'{"schema_version":"v1.0","source":"mexc","symbol":"BTC/USDT","ts_ms":1700000000000,'
           b'"price":"90123.45","trade_qty":"0.01","side":"buy"}')
    assert parse_trade(raw) == MarketTrade("BTCUSDT", Decimal("90123.45"), Decimal("0.01"),
                                           1700000000000)


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
