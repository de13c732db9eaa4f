"""Market orders walk a real order book when a depth feed sends one (MARKET_DEPTH_CHANNEL):
its levels as sent, one fill per level, what was taken staying taken until the next
update; a diff changes the levels it names; without updates the book gives way to the
synthetic one after the live-price age (60 s here). Worked example, BTCUSDT:

    asks 90,010.00 x 0.05, 90,020.00 x 0.10        bids 89,990.00 x 0.2
    BUY 0.10   -> 0.05 @ 90,010, 0.05 @ 90,020      (the first level used up)
    BUY 0.05   -> 0.05 @ 90,020                     (what the first order left)
    diff: 90,020 -> 0.3, 90,030 x 1 added          (the book is the feed's again: paper
    BUY 0.2    -> 0.05 @ 90,010, 0.15 @ 90,020       fills never reached the real market)
    SELL 0.1   -> 0.1 @ 89,990
    61 s later, no update: BUY 0.001 -> the synthetic book, 1 bp above the last price
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from execution_service.domain.commands import BookUpdate
from execution_service.domain.orders import Side
from tests.paper import T0, make_exchange, order, submit, tape

D = Decimal


def fills(exchange, command, when=T0):  # type: ignore[no-untyped-def]
    exchange.begin()
    submit(exchange, command, when)
    return [(t.quantity, t.price) for t in exchange.end().trades]


def test_market_orders_walk_the_real_book_as_sent() -> None:
    exchange = make_exchange({"USDT": "100000", "BTC": "1"})
    tape(exchange, "90000.00", quantity=None)
    exchange.on_book(BookUpdate("BTCUSDT", ((D("89990.00"), D("0.2")),),
                                ((D("90010.00"), D("0.05")), (D("90020.00"), D("0.10"))),
                                snapshot=True), T0)
    assert fills(exchange, order(Side.BUY, "0.10")) == [(D("0.05"), D("90010.00")),
                                                       (D("0.05"), D("90020.00"))]
    assert fills(exchange, order(Side.BUY, "0.05")) == [(D("0.05"), D("90020.00"))]
    bids, asks = exchange.book("BTCUSDT", 5, T0)  # type: ignore[misc]
    assert (bids[0].price, bids[0].quantity, asks) == (D("89990.00"), D("0.2"), [])
    exchange.on_book(BookUpdate("BTCUSDT", (), ((D("90020.00"), D("0.3")), (D("90030.00"), D("1"))),
                                snapshot=False), T0)
    assert fills(exchange, order(Side.BUY, "0.2")) == [(D("0.05"), D("90010.00")),
                                                      (D("0.15"), D("90020.00"))]
    assert fills(exchange, order(Side.SELL, "0.1")) == [(D("0.1"), D("89990.00"))]
    later = T0 + timedelta(seconds=61)
    tape(exchange, "90000.00", quantity=None, when=later)
    assert fills(exchange, order(Side.BUY, "0.001"), later) == [(D("0.001"), D("90009.00"))]
