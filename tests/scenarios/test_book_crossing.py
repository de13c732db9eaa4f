"""A real book that crosses a resting order fills it at once, as an exchange matches an
incoming order against the book: no print is waited for. BTCUSDT, worked example:

    snapshot: bids 89,950.00 x 1, asks 90,010.00 x 1
    bid 0.5 rests at 89,990.00 (below the best ask)
    diff: an ask of 0.3 at 89,990.00, no trade printed
          -> 0.3 filled at 89,990.00, maker (the resting side), 0.2 left resting
    BUY 0.1 at market -> 0.1 @ 90,010.00 (the 0.3 at 89,990 stays taken ...)
    diff: 90,010.00 -> 2 (... until the next update: the feed never saw the paper fill,
          so its 0.3 at 89,990 is on offer again and fills the 0.2 left)

Asks through the bid fill at the bid's limit, up to what is on offer at or below it; a
rising bid fills a resting ask the same way; the better-priced resting order first; only
the instance that matches the tape (the matcher lease's holder) does it.
"""

from __future__ import annotations

from decimal import Decimal

from execution_service.domain.commands import BookUpdate
from execution_service.domain.orders import Liquidity, OrderStatus, OrderType, Side
from execution_service.engine.exchange import ExchangeRules, PaperExchange
from execution_service.engine.queue import QueueModel
from tests.paper import T0, make_exchange, order, submit, tape

D = Decimal
Levels = tuple[tuple[str, str], ...]


def book(exchange: PaperExchange, bids: Levels = (), asks: Levels = (),
         snapshot: bool = False) -> list[tuple[Decimal, Decimal, Liquidity]]:
    """A depth message; the fills it gave (quantity, price, liquidity)."""
    exchange.begin()
    exchange.on_book(BookUpdate("BTCUSDT", tuple((D(p), D(q)) for p, q in bids),
                                tuple((D(p), D(q)) for p, q in asks), snapshot), T0)
    return [(t.quantity, t.price, t.liquidity) for t in exchange.end().trades]


def exchange_with_book(queue: str = "none") -> PaperExchange:
    exchange = make_exchange({"USDT": "100000", "BTC": "1"})
    exchange.rules = ExchangeRules(fees=exchange.rules.fees, queue=QueueModel.parse(queue))
    tape(exchange, "90000.00", quantity=None)
    book(exchange, bids=(("89950.00", "1"),), asks=(("90010.00", "1"),), snapshot=True)
    return exchange


def limit(exchange: PaperExchange, side: Side, quantity: str, price: str):  # type: ignore[no-untyped-def]
    resting = submit(exchange, order(side, quantity, OrderType.LIMIT, price=price)).order
    assert resting.status is OrderStatus.NEW
    return resting


def test_an_ask_at_a_resting_bids_price_fills_it_at_once_as_maker() -> None:
    exchange = exchange_with_book()
    bid = limit(exchange, Side.BUY, "0.5", "89990.00")
    assert book(exchange, asks=(("89990.00", "0.3"),)) == [
        (D("0.3"), D("89990.00"), Liquidity.MAKER)]
    assert (bid.status, bid.filled_quantity) == (OrderStatus.PARTIALLY_FILLED, D("0.3"))
    assert book(exchange, bids=(("89950.00", "1.2"),)) == [  # the next update: on offer again
        (D("0.2"), D("89990.00"), Liquidity.MAKER)]
    assert bid.status is OrderStatus.FILLED


def test_what_the_crossing_took_stays_taken_until_the_next_update() -> None:
    exchange = exchange_with_book()
    limit(exchange, Side.BUY, "0.5", "89990.00")
    book(exchange, asks=(("89990.00", "0.3"),))
    _bids, asks = exchange.book("BTCUSDT", 5, T0)  # type: ignore[misc]
    assert [(level.price, level.quantity) for level in asks] == [(D("90010.00"), D("1"))]
    exchange.begin()
    submit(exchange, order(Side.BUY, "0.1"))
    assert [(t.quantity, t.price) for t in exchange.end().trades] == [(D("0.1"), D("90010.00"))]


def test_asks_through_the_bid_fill_it_at_its_limit_up_to_what_is_on_offer() -> None:
    exchange = exchange_with_book()
    bid = limit(exchange, Side.BUY, "0.5", "89990.00")
    fills = book(exchange, asks=(("89980.00", "0.1"), ("89985.00", "0.15"), ("89995.00", "5")))
    assert fills == [(D("0.25"), D("89990.00"), Liquidity.MAKER)]
    assert bid.remaining == D("0.25")


def test_a_rising_bid_fills_a_resting_ask() -> None:
    exchange = exchange_with_book()
    ask = limit(exchange, Side.SELL, "0.4", "90000.00")
    assert book(exchange, bids=(("90000.00", "1"), ("90005.00", "0.1"))) == [
        (D("0.4"), D("90000.00"), Liquidity.MAKER)]
    assert ask.status is OrderStatus.FILLED


def test_the_better_priced_resting_bid_is_filled_first() -> None:
    exchange = exchange_with_book()
    lower = limit(exchange, Side.BUY, "0.2", "89990.00")
    higher = limit(exchange, Side.BUY, "0.2", "89995.00")
    book(exchange, asks=(("89990.00", "0.3"),))
    assert (higher.filled_quantity, lower.filled_quantity) == (D("0.2"), D("0.1"))


def test_a_crossed_order_in_a_queue_has_nothing_ahead_any_more() -> None:
    exchange = exchange_with_book("risk_averse")
    book(exchange, bids=(("89950.00", "1"), ("89990.00", "0.7")))
    bid = limit(exchange, Side.BUY, "0.5", "89990.00")
    assert bid.queue_ahead == D("0.7")
    assert book(exchange, asks=(("89990.00", "0.1"),)) == [
        (D("0.1"), D("89990.00"), Liquidity.MAKER)]
    assert bid.queue_ahead == 0


def test_only_the_instance_that_matches_fills_from_the_book() -> None:
    exchange = exchange_with_book()
    bid = limit(exchange, Side.BUY, "0.5", "89990.00")
    exchange.matching = False  # another instance holds the matcher lease
    assert book(exchange, asks=(("89990.00", "0.3"),)) == []
    assert bid.filled_quantity == 0
