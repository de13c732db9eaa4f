"""Which resting orders a tape trade can fill, by who took liquidity (NautilusTrader's
rule): a seller who took liquidity traded with the bids, a buyer with the asks. Worked
example, the last price 90,000.00 and the synthetic book 1 bp around it (bid 89,991.00,
ask 90,009.00), a resting bid at 89,950.00 and a resting ask at 90,050.00 (0.01 BTC each,
FILL_MODE=trade_through):

    trade                      aggressor  bid 89,950 (0.01)       ask 90,050 (0.01)
    89,940.00 x 0.5            BUY        -: a buyer took the asks  -: not through 90,050
    89,940.00 x 0.004          SELL       0.004 @ 89,950 (maker)    -
    90,060.00 x 0.5            SELL       -                         -: a seller took the bids
    90,060.00 x 0.5            none       -: not through 89,950     0.01 @ 90,050: either side
    89,940.00 x 0.5            none       0.006 @ 89,950: the rest  (filled)
"""

from __future__ import annotations

from decimal import Decimal

from execution_service.domain.orders import Liquidity, OrderStatus, OrderType, Side
from execution_service.engine.exchange import FillMode
from tests.paper import make_exchange, order, submit, tape

D = Decimal


def test_a_trade_fills_only_the_side_its_aggressor_took() -> None:
    exchange = make_exchange({"USDT": "100000", "BTC": "1"}, fill_mode=FillMode.TRADE_THROUGH)
    tape(exchange, "90000.00", quantity=None)
    bid = submit(exchange, order(Side.BUY, "0.01", OrderType.LIMIT, price="89950.00")).order
    ask = submit(exchange, order(Side.SELL, "0.01", OrderType.LIMIT, price="90050.00")).order
    assert (bid.status, ask.status) == (OrderStatus.NEW, OrderStatus.NEW)
    exchange.begin()

    def fills() -> list[tuple[str, Decimal, Decimal, Liquidity]]:
        return [("bid" if t.order_id == bid.order_id else "ask", t.quantity, t.price, t.liquidity)
                for t in exchange.end().trades]

    tape(exchange, "89940.00", "0.5", aggressor=Side.BUY)
    assert fills() == []
    tape(exchange, "89940.00", "0.004", aggressor=Side.SELL)
    assert fills() == [("bid", D("0.004"), D("89950.00"), Liquidity.MAKER)]
    tape(exchange, "90060.00", "0.5", aggressor=Side.SELL)
    assert fills() == []
    tape(exchange, "90060.00", "0.5")
    assert fills() == [("ask", D("0.01"), D("90050.00"), Liquidity.MAKER)]
    tape(exchange, "89940.00", "0.5")
    assert fills() == [("bid", D("0.006"), D("89950.00"), Liquidity.MAKER)]
    assert exchange.open_orders() == []
