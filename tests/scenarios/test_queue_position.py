"""Queue position (QUEUE_MODEL): a resting bid at 89,950.00 joins a real book whose level
there holds 0.3 BTC, so 0.3 is ahead of it. Worked example, each model:

    event                                   risk_averse        power:2             log
    bid 0.1 rests                           ahead 0.3          0.3                 0.3
    book: the level grows to 0.5            0.3 (others join behind it)
    book: the level shrinks to 0.4          0.3: cancels are   front 0.3, back 0.2:
      (no trade there: 0.1 canceled)        never ahead        behind with p = 0.2^2/(0.2^2+0.3^2)
                                                               = 0.3077: 0.3 - 0.6923 x 0.1
                                                               = 0.23077            p = ln1.2/(ln1.2+ln1.3)
                                                                                    = 0.4100: 0.241
    trade 89,950 x 0.3, a seller took       ahead 0, no fill   fills 0.06923        fills 0.05899
    trade 89,940 (through its price)        fills the rest     fills the rest       fills the rest
"""

from __future__ import annotations

from decimal import Decimal

import pytest

from execution_service.domain.commands import BookUpdate
from execution_service.domain.orders import OrderType, Side
from execution_service.engine.exchange import ExchangeRules
from execution_service.engine.queue import QueueModel
from tests.paper import T0, make_exchange, order, submit, tape

D = Decimal
ASKS = ((D("90010.00"), D("1")),)


def book(exchange, bid_quantity: str) -> None:  # type: ignore[no-untyped-def]
    exchange.on_book(BookUpdate("BTCUSDT", ((D("89950.00"), D(bid_quantity)),), ASKS, True), T0)


@pytest.mark.parametrize(("model", "after_cancel", "first_fill"), [
    ("risk_averse", D("0.3"), None),
    ("power:2", D("0.2307692307692308"), D("0.06923")),
    ("log", D("0.241"), D("0.05899")),
])
def test_the_queue_ahead_decides_when_a_resting_bid_fills(
        model: str, after_cancel: Decimal, first_fill: Decimal | None) -> None:
    exchange = make_exchange({"USDT": "100000"})
    exchange.rules = ExchangeRules(fees=exchange.rules.fees, queue=QueueModel.parse(model))
    tape(exchange, "90000.00", quantity=None)
    book(exchange, "0.3")
    bid = submit(exchange, order(Side.BUY, "0.1", OrderType.LIMIT, price="89950.00")).order
    assert bid.queue_ahead == D("0.3")
    book(exchange, "0.5")
    assert bid.queue_ahead == D("0.3")
    book(exchange, "0.4")
    assert bid.queue_ahead == pytest.approx(after_cancel, abs=D("1e-3"))
    exchange.begin()
    tape(exchange, "89950.00", "0.3", aggressor=Side.SELL)
    fills = [t.quantity for t in exchange.end().trades]
    assert fills == ([] if first_fill is None else [first_fill])
    assert bid.queue_ahead == 0
    tape(exchange, "89950.00", "0.3", aggressor=Side.BUY)  # a buyer took the asks: not ours
    exchange.begin()
    tape(exchange, "89940.00", "1", aggressor=Side.SELL)
    assert [t.quantity for t in exchange.end().trades] == [D("0.1") - (first_fill or 0)]


def test_our_own_orders_at_a_price_queue_behind_each_other() -> None:
    exchange = make_exchange({"USDT": "100000"})
    exchange.rules = ExchangeRules(fees=exchange.rules.fees, queue=QueueModel.parse("risk_averse"))
    tape(exchange, "90000.00", quantity=None)
    book(exchange, "0.2")
    first = submit(exchange, order(Side.BUY, "0.1", OrderType.LIMIT, price="89950.00")).order
    second = submit(exchange, order(Side.BUY, "0.1", OrderType.LIMIT, price="89950.00")).order
    assert (first.queue_ahead, second.queue_ahead) == (D("0.2"), D("0.3"))
    exchange.begin()
    tape(exchange, "89950.00", "0.35", aggressor=Side.SELL)  # 0.2 ahead, then 0.1 + 0.05
    assert [(t.order_id == first.order_id, t.quantity) for t in exchange.end().trades] == [
        (True, D("0.1")), (False, D("0.05"))]


def test_a_queue_model_is_named_as_documented() -> None:
    assert QueueModel.parse("POWER:3") == QueueModel("power", 3.0)
    assert QueueModel.parse("none").on is False
    for wrong in ("power:-1", "power:x", "fifo", "log:2"):
        with pytest.raises(ValueError, match="is not none, risk_averse, power:N or log"):
            QueueModel.parse(wrong)
