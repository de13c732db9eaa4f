"""Exchange filters from Binance's exchangeInfo, and the order state machine's table."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest

from execution_service.config import load_settings
from execution_service.domain.orders import OrderStatus, OrderType
from execution_service.domain.states import TRANSITIONS, IllegalTransition, check
from execution_service.engine.filters import ExchangeFilters, load_exchange_info
from execution_service.errors import ConfigError

EXCHANGE_INFO = {"timezone": "UTC", "symbols": [{
    "symbol": "BTCUSDT", "status": "TRADING", "baseAsset": "BTC", "quoteAsset": "USDT",
    "filters": [
        {"filterType": "PRICE_FILTER", "minPrice": "0.01000000", "maxPrice": "1000000.00000000",
         "tickSize": "0.01000000"},
        {"filterType": "LOT_SIZE", "minQty": "0.00001000", "maxQty": "9000.00000000",
         "stepSize": "0.00001000"},
        {"filterType": "MARKET_LOT_SIZE", "minQty": "0.00000000", "maxQty": "85.5",
         "stepSize": "0.00000000"},
        {"filterType": "NOTIONAL", "minNotional": "10.00000000", "applyMinToMarket": True,
         "maxNotional": "9000000.00000000", "applyMaxToMarket": False},
    ]}]}


def test_exchange_info_filters_replace_the_defaults(tmp_path: Path) -> None:
    path = tmp_path / "exchangeInfo.json"
    path.write_text(json.dumps(EXCHANGE_INFO))
    filters = ExchangeFilters(load_exchange_info(path)).of("BTCUSDT", Decimal(90000))
    assert (filters.tick_size, filters.step_size, filters.min_notional) == (
        Decimal("0.01"), Decimal("0.00001"), Decimal(10))
    check_ = filters.violation
    assert check_(OrderType.MARKET, Decimal("0.0001"), None, None, Decimal(90000)) == \
        "Filter failure: NOTIONAL"  # 9 USDT < 10 under this file, 5 by default
    assert check_(OrderType.MARKET, Decimal("86"), None, None, Decimal(90000)) == \
        "Filter failure: MARKET_LOT_SIZE"
    assert check_(OrderType.LIMIT, Decimal("86"), Decimal(90000), None, Decimal(90000)) is None


def test_an_unreadable_exchange_info_file_stops_the_service_at_start(tmp_path: Path) -> None:
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    with pytest.raises(ConfigError, match="EXCHANGE_INFO_FILE: cannot read exchangeInfo"):
        load_settings(exchange_info_file=broken)
    with pytest.raises(ConfigError, match="EXCHANGE_INFO_FILE"):
        load_settings(exchange_info_file=tmp_path / "missing.json")


def test_symbols_nobody_described_get_filters_from_their_price_level() -> None:
    filters = ExchangeFilters().of("FOOUSDT", Decimal("2.5"))
    assert (filters.tick_size, filters.step_size, filters.min_notional) == (
        Decimal("0.000001"), Decimal("0.01"), Decimal(5))


@pytest.mark.parametrize(("current", "new"), [
    (OrderStatus.FILLED, OrderStatus.NEW),
    (OrderStatus.CANCELED, OrderStatus.FILLED),
    (OrderStatus.PARTIALLY_FILLED, OrderStatus.NEW),
    (OrderStatus.PARTIALLY_FILLED, OrderStatus.REJECTED),
    (OrderStatus.PENDING_NEW, OrderStatus.FILLED),
    (None, OrderStatus.FILLED),
])
def test_illegal_transitions_are_refused(current: OrderStatus | None, new: OrderStatus) -> None:
    with pytest.raises(IllegalTransition, match="is not a legal transition"):
        check("MOCK_1", current, new)


def test_final_statuses_have_no_way_out_and_every_status_is_reachable() -> None:
    for final in (OrderStatus.FILLED, OrderStatus.CANCELED, OrderStatus.REJECTED,
                  OrderStatus.EXPIRED):
        assert TRANSITIONS[final] == frozenset()
    reachable = set().union(*TRANSITIONS.values())
    assert reachable == set(OrderStatus)
