"""Binance's own SDK (binance-sdk-spot) against the real process, unchanged: it builds its
typed pydantic models from every signed answer, which holds the service to the types
Binance documents (integer order and trade ids, among them), without a warning."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
from binance_common.configuration import ConfigurationRestAPI
from binance_sdk_spot.rest_api.models import (
    DeleteOrderResponse,
    GetAccountResponse,
    GetOrderResponse,
    NewOrderResponse,
)
from binance_sdk_spot.rest_api.models import NewOrderSideEnum as Side
from binance_sdk_spot.rest_api.models import NewOrderTimeInForceEnum as TimeInForce
from binance_sdk_spot.rest_api.models import NewOrderTypeEnum as Kind
from binance_sdk_spot.spot import Spot

from tests.helpers import Names
from tests.processes import ServiceProcess, starter

KEY, SECRET = "keySdk00000001", "secret-of-the-sdk-bot"


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServiceProcess]:
    env = {**Names.new().env(), "MOCK_SUCCESS_RATE": "1", "INITIAL_BALANCES": "USDT=100000",
           "BINANCE_API_KEYS": f"{KEY}:{SECRET}:sdk-bot"}
    with starter(env, Path(tmp_path_factory.mktemp("binance-sdk"))) as start:
        process = start()
        process.wait_ready()
        yield process


@pytest.fixture
def spot(service: ServiceProcess) -> Spot:
    return Spot(config_rest_api=ConfigurationRestAPI(api_key=KEY, api_secret=SECRET,
                                                     base_path=service.url))


def test_every_signed_answer_builds_the_sdks_typed_model(spot: Spot) -> None:
    api = spot.rest_api
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        bought = api.new_order(symbol="BTCUSDT", side=Side.BUY, type=Kind.MARKET,
                               quantity=0.01).data()
        assert isinstance(bought, NewOrderResponse)
        assert isinstance(bought.order_id, int)
        assert bought.status == "FILLED"
        assert sum(Decimal(fill.qty) for fill in bought.fills) == Decimal("0.01")
        assert all(isinstance(fill.trade_id, int) for fill in bought.fills)

        resting = api.new_order(symbol="BTCUSDT", side=Side.BUY, type=Kind.LIMIT,
                                time_in_force=TimeInForce.GTC, quantity=0.01,
                                price=50000).data()
        found = api.get_order(symbol="BTCUSDT", order_id=resting.order_id).data()
        assert isinstance(found, GetOrderResponse)
        assert (found.order_id, found.status) == (resting.order_id, "NEW")
        [open_order] = api.get_open_orders(symbol="BTCUSDT").data()
        assert open_order.order_id == resting.order_id

        canceled = api.delete_order(symbol="BTCUSDT", order_id=resting.order_id).data()
        assert isinstance(canceled, DeleteOrderResponse)
        assert canceled.status == "CANCELED"

        every = api.all_orders(symbol="BTCUSDT").data()
        assert [o.order_id for o in every] == [bought.order_id, resting.order_id]
        mine = api.my_trades(symbol="BTCUSDT").data()
        assert [t.id for t in mine] == [fill.trade_id for fill in bought.fills]
        assert {t.order_id for t in mine} == {bought.order_id}

        account = api.get_account().data()
        assert isinstance(account, GetAccountResponse)
        btc = [b for b in account.balances if b.asset == "BTC"]
        commission = sum(Decimal(fill.commission) for fill in bought.fills)  # in BTC
        assert Decimal(btc[0].free) == Decimal("0.01") - commission
    assert [str(w.message) for w in seen] == []
