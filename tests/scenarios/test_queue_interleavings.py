"""Each trade counts once in the queue, however trades and depth messages interleave.

A bid of 0.2 BTC rests at 89,950.00 behind the 1.0 the real book holds there (ahead:
1.0). A seller's trade at its price takes from what is ahead and is remembered; the next
depth message that *names* the level explains the level's drop by those trades first, and
only the rest is a cancellation (engine/queue.py). `risk_averse` never moves the queue for
a cancellation; `power:2` and `log` move it by `(1 - p) x cancellation`, where
`p = f(back) / (f(back) + f(front))`, front = what is ahead, back = the level before the
message less front, f(x) = x^2 or ln(1 + x). A message that does not name the level (the
asks only, a snapshot that does not reach it) leaves the queue and the remembered trades
alone. Then a seller's trade at the price fills what it leaves after what is ahead,
rounded down to the lot step (0.00001). Worked by hand:

A  the asks-only diff between a trade and the level's own update (found against
   hftbacktest): the level grows 1.0 -> 1.5 (joins behind: ahead stays 1.0); trade 0.3
   (ahead 0.7); a diff of the asks only (nothing); the level 1.5 -> 1.0: the trade
   explains 0.3, the cancellation is 0.2; front 0.7, back 1.5 - 0.7 = 0.8.
     power:2  p = 0.64 / (0.64 + 0.49) = 0.56637   ahead = 0.7 - 0.43363 x 0.2 = 0.61327
     log      p = ln 1.8 / (ln 1.8 + ln 1.7) = 0.52556   ahead = 0.7 - 0.47444 x 0.2 = 0.60511
   trade 0.8 fills 0.1 / 0.18672 / 0.19488 (risk_averse / power:2 / log). Before the fix
   the asks-only diff forgot the trade, the cancellation came out 0.5, and power:2 filled
   the whole 0.2.
B  a snapshot between a trade and its (late) diff: trade 0.3 (ahead 0.7); a snapshot
   naming the level at 0.7 (the trade explains it all: no cancellation); the late diff
   at 0.7 (no change, no trade left to explain); trade 0.8 fills 0.1 under every model.
C  two trades before one diff: the level grows to 1.6; trades 0.3 and 0.2 (ahead 0.5); the
   level 1.6 -> 1.0: the trades explain 0.5, the cancellation is 0.1; front 0.5, back 1.1.
     power:2  p = 1.21 / (1.21 + 0.25) = 0.82877   ahead = 0.5 - 0.17123 x 0.1 = 0.48288
     log      p = ln 2.1 / (ln 2.1 + ln 1.5) = 0.64662   ahead = 0.5 - 0.35338 x 0.1 = 0.46466
   trade 0.6 fills 0.1 / 0.11712 / 0.13533.
D  a diff naming the level with no change: the level grows to 1.6; trade 0.3 (ahead 0.7);
   a diff naming the level at 1.6 (0.3 traded, 0.3 joined: no cancellation, the trade is
   explained and forgotten); the level 1.6 -> 1.4: a cancellation of 0.2; front 0.7, back 0.9.
     power:2  p = 0.81 / (0.81 + 0.49) = 0.62308   ahead = 0.7 - 0.37692 x 0.2 = 0.62462
     log      p = ln 1.9 / (ln 1.9 + ln 1.7) = 0.54741   ahead = 0.7 - 0.45259 x 0.2 = 0.60949
   trade 0.8 fills 0.1 / 0.17538 / 0.19051.
E  a snapshot that does not reach the level (its bids stop at 89,960.00): the queue is
   left as it was (ahead 1.0); before the fix it was reset to 0 and the next trade of 0.2
   filled the order whole. Trade 0.2 fills nothing under every model.
"""

from __future__ import annotations

from decimal import Decimal

import pytest

from execution_service.domain.commands import BookUpdate
from execution_service.domain.orders import Order, OrderType, Side
from execution_service.engine.exchange import ExchangeRules, PaperExchange
from execution_service.engine.queue import QueueModel
from tests.paper import T0, make_exchange, order, submit, tape

D = Decimal
PRICE = "89950.00"
ASKS = ((D("90010.00"), D("1")),)


def diff(bids: tuple[tuple[str, str], ...] = (), asks: tuple[tuple[str, str], ...] = ()) -> BookUpdate:
    return BookUpdate("BTCUSDT", tuple((D(p), D(q)) for p, q in bids),
                      tuple((D(p), D(q)) for p, q in asks), False)


def snapshot(*bids: tuple[str, str]) -> BookUpdate:
    return BookUpdate("BTCUSDT", tuple((D(p), D(q)) for p, q in bids), ASKS, True)


def resting_bid(model: str) -> tuple[PaperExchange, Order]:
    """The exchange with the book's 1.0 at the price, and our 0.2 resting behind it."""
    exchange = make_exchange({"USDT": "100000"})
    exchange.rules = ExchangeRules(fees=exchange.rules.fees, queue=QueueModel.parse(model))
    tape(exchange, "90000.00", quantity=None)
    exchange.on_book(snapshot((PRICE, "1.0"), ("89940.00", "2")), T0)
    bid = submit(exchange, order(Side.BUY, "0.2", OrderType.LIMIT, price=PRICE)).order
    assert bid.queue_ahead == D("1.0")
    return exchange, bid


def sold(exchange: PaperExchange, quantity: str) -> list[Decimal]:
    """A seller's trade at the bid's price; the fills it gave us."""
    exchange.begin()
    tape(exchange, PRICE, quantity, aggressor=Side.SELL)
    return [t.quantity for t in exchange.end().trades]


MODELS = ("risk_averse", "power:2", "log")


@pytest.mark.parametrize(("model", "ahead", "fill"), [
    ("risk_averse", D("0.7"), D("0.1")),
    ("power:2", D("0.61327"), D("0.18672")),
    ("log", D("0.60511"), D("0.19488")),
])
def test_an_asks_only_diff_between_a_trade_and_its_level_update_changes_nothing(
        model: str, ahead: Decimal, fill: Decimal) -> None:
    exchange, bid = resting_bid(model)
    exchange.on_book(diff(bids=((PRICE, "1.5"),)), T0)
    assert sold(exchange, "0.3") == []
    exchange.on_book(diff(asks=(("90010.00", "2"),)), T0)
    assert bid.queue_ahead == D("0.7")
    exchange.on_book(diff(bids=((PRICE, "1.0"),)), T0)
    assert bid.queue_ahead == pytest.approx(ahead, abs=D("1e-5"))
    assert sold(exchange, "0.8") == [fill]


@pytest.mark.parametrize("model", MODELS)
def test_a_snapshot_between_a_trade_and_its_late_diff_counts_the_trade_once(model: str) -> None:
    exchange, bid = resting_bid(model)
    assert sold(exchange, "0.3") == []
    exchange.on_book(snapshot((PRICE, "0.7"), ("89940.00", "2")), T0)
    assert bid.queue_ahead == D("0.7")
    exchange.on_book(diff(bids=((PRICE, "0.7"),)), T0)
    assert bid.queue_ahead == D("0.7")
    assert sold(exchange, "0.8") == [D("0.1")]


@pytest.mark.parametrize(("model", "ahead", "fill"), [
    ("risk_averse", D("0.5"), D("0.1")),
    ("power:2", D("0.48288"), D("0.11712")),
    ("log", D("0.46466"), D("0.13533")),
])
def test_two_trades_before_one_diff_are_both_explained_by_it(
        model: str, ahead: Decimal, fill: Decimal) -> None:
    exchange, bid = resting_bid(model)
    exchange.on_book(diff(bids=((PRICE, "1.6"),)), T0)
    assert sold(exchange, "0.3") == []
    assert sold(exchange, "0.2") == []
    exchange.on_book(diff(bids=((PRICE, "1.0"),)), T0)
    assert bid.queue_ahead == pytest.approx(ahead, abs=D("1e-5"))
    assert sold(exchange, "0.6") == [fill]


@pytest.mark.parametrize(("model", "ahead", "fill"), [
    ("risk_averse", D("0.7"), D("0.1")),
    ("power:2", D("0.62462"), D("0.17538")),
    ("log", D("0.60949"), D("0.19051")),
])
def test_a_diff_naming_the_level_unchanged_explains_the_trades_before_it(
        model: str, ahead: Decimal, fill: Decimal) -> None:
    exchange, bid = resting_bid(model)
    exchange.on_book(diff(bids=((PRICE, "1.6"),)), T0)
    assert sold(exchange, "0.3") == []
    exchange.on_book(diff(bids=((PRICE, "1.6"),)), T0)
    assert bid.queue_ahead == D("0.7")
    exchange.on_book(diff(bids=((PRICE, "1.4"),)), T0)
    assert bid.queue_ahead == pytest.approx(ahead, abs=D("1e-5"))
    assert sold(exchange, "0.8") == [fill]


@pytest.mark.parametrize("model", MODELS)
def test_a_snapshot_that_does_not_reach_the_level_leaves_the_queue_alone(model: str) -> None:
    exchange, bid = resting_bid(model)
    exchange.on_book(snapshot(("89980.00", "1"), ("89960.00", "3")), T0)
    assert bid.queue_ahead == D("1.0")
    assert sold(exchange, "0.2") == []
