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
    GetOrderListResponse,
    GetOrderResponse,
    NewOrderResponse,
    OrderListOcoResponse,
    OrderListOtocoResponse,
    OrderListOtoResponse,
)
from binance_sdk_spot.rest_api.models import NewOrderSideEnum as Side
from binance_sdk_spot.rest_api.models import NewOrderTimeInForceEnum as TimeInForce
from binance_sdk_spot.rest_api.models import NewOrderTypeEnum as Kind
from binance_sdk_spot.rest_api.models import OrderListOcoAboveTypeEnum as OcoAbove
from binance_sdk_spot.rest_api.models import OrderListOcoBelowTypeEnum as OcoBelow
from binance_sdk_spot.rest_api.models import OrderListOcoSideEnum as OcoSide
from binance_sdk_spot.rest_api.models import OrderListOtocoPendingAboveTypeEnum as OtocoAbove
from binance_sdk_spot.rest_api.models import OrderListOtocoPendingBelowTypeEnum as OtocoBelow
from binance_sdk_spot.rest_api.models import OrderListOtocoPendingSideEnum as OtocoPendingSide
from binance_sdk_spot.rest_api.models import OrderListOtocoWorkingSideEnum as OtocoSide
from binance_sdk_spot.rest_api.models import OrderListOtocoWorkingTimeInForceEnum as OtocoTimeInForce
from binance_sdk_spot.rest_api.models import OrderListOtocoWorkingTypeEnum as OtocoWorking
from binance_sdk_spot.rest_api.models import OrderListOtoPendingSideEnum as OtoPendingSide
from binance_sdk_spot.rest_api.models import OrderListOtoPendingTypeEnum as OtoPending
from binance_sdk_spot.rest_api.models import OrderListOtoWorkingSideEnum as OtoSide
from binance_sdk_spot.rest_api.models import OrderListOtoWorkingTypeEnum as OtoWorking
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


def test_the_order_lists_build_the_sdks_typed_models(spot: Spot) -> None:
    """An OTOCO, an OTO and an OCO through the SDK's own calls: each answer builds its typed
    model, the pending orders as PENDING_NEW; the lists are found and cancelled by id."""
    api = spot.rest_api
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        otoco = api.order_list_otoco(
            symbol="BTCUSDT", working_type=OtocoWorking.LIMIT, working_side=OtocoSide.BUY,
            working_price=50000, working_quantity=0.01,
            working_time_in_force=OtocoTimeInForce.GTC, pending_side=OtocoPendingSide.SELL,
            pending_quantity=0.01, pending_above_type=OtocoAbove.LIMIT_MAKER,
            pending_above_price=200000, pending_below_type=OtocoBelow.STOP_LOSS,
            pending_below_stop_price=40000).data()
        assert isinstance(otoco, OrderListOtocoResponse)
        assert [r.status for r in otoco.order_reports] == ["NEW", "PENDING_NEW", "PENDING_NEW"]
        oto = api.order_list_oto(
            symbol="BTCUSDT", working_type=OtoWorking.LIMIT_MAKER, working_side=OtoSide.BUY,
            working_price=50000, working_quantity=0.01, pending_type=OtoPending.MARKET,
            pending_side=OtoPendingSide.SELL, pending_quantity=0.01).data()
        assert isinstance(oto, OrderListOtoResponse)
        oco = api.order_list_oco(
            symbol="BTCUSDT", side=OcoSide.BUY, quantity=0.01, above_type=OcoAbove.STOP_LOSS,
            above_stop_price=200000, below_type=OcoBelow.TAKE_PROFIT,
            below_stop_price=50000).data()
        assert isinstance(oco, OrderListOcoResponse)
        lists = [otoco.order_list_id, oto.order_list_id, oco.order_list_id]
        assert sorted(o.order_list_id for o in api.open_order_list().data()) == sorted(lists)
        found = api.get_order_list(order_list_id=oto.order_list_id).data()
        assert isinstance(found, GetOrderListResponse)
        for number in lists:
            api.delete_order_list(symbol="BTCUSDT", order_list_id=number)
        assert api.open_order_list().data() == []
    assert [str(w.message) for w in seen] == []
