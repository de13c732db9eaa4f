"""Scenarios: orders against the recorded tape in `btcusdt_tape.csv`, every figure by hand.

The tape (ms after the start: price, quantity):

    0: 90000.00 0.50    1000: 89950.00 0.02    2000: 89900.00 0.05    3000: 89899.99 0.03
    4000: 89850.00 0.10    5000: 90100.00 0.20    6000: 90250.00 0.04    7000: 90300.00 0.50
    8000: 89700.00 0.30

Fees: taker 0.1 %, maker 0.02 %, in USDT, rounded up to 8 places. A buy limit order locks
quantity * price * 1.001 (the higher fee). The synthetic book around a price P: the best
ask is P + 1 bp rounded up to the 0.01 tick, the best bid P - 1 bp rounded down, and the
best level holds 10,000 USDT (0.11110 BTC at 90,009.00).
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import pytest

from execution_service.domain.commands import MarketTrade, SubmitOrder
from execution_service.domain.orders import (
    ErrorCode,
    Liquidity,
    Order,
    OrderStatus,
    OrderType,
    Side,
    TimeInForce,
    Trade,
)
from execution_service.domain.states import TRANSITIONS
from execution_service.engine.exchange import FillMode, PaperExchange
from execution_service.engine.latency import LatencyModel
from execution_service.engine.models import FeeSchedule
from tests.paper import at, free, locked, make_exchange, order, submit

TAPE = Path(__file__).with_name("btcusdt_tape.csv")
FEES = FeeSchedule(taker=Decimal("0.001"), maker=Decimal("0.0002"))
BUY, SELL = Side.BUY, Side.SELL
LIMIT, GTC, IOC, FOK = OrderType.LIMIT, TimeInForce.GTC, TimeInForce.IOC, TimeInForce.FOK
D = Decimal


def recorded_tape() -> list[tuple[int, MarketTrade]]:
    rows = [line for line in TAPE.read_text().splitlines() if not line.startswith("#")]
    return [(int(row["ms"]), MarketTrade("BTCUSDT", D(row["price"]), D(row["quantity"]), 0))
            for row in csv.DictReader(rows)]


@dataclass
class Replay:
    """Orders submitted at their moments, between the tape's trades (an order at the same
    millisecond as a trade comes first); timers run as time passes."""

    exchange: PaperExchange
    orders: dict[str, Order]
    trades: list[Trade]

    def of(self, name: str) -> Order:
        return self.orders[name]

    def fills(self, name: str) -> list[tuple[Decimal, Decimal, Decimal, Liquidity]]:
        order_id = self.orders[name].order_id
        return [(t.quantity, t.price, t.fee, t.liquidity) for t in self.trades if t.order_id == order_id]


def replay(orders: dict[str, tuple[int, SubmitOrder]], *, balances: dict[str, str] | None = None,
           fill_mode: FillMode = FillMode.TRADE_THROUGH, latency: LatencyModel | None = None,
           until_ms: int = 10_000, cancels: dict[str, int] | None = None) -> Replay:
    exchange = make_exchange(balances or {"USDT": "100000", "BTC": "1"}, fees=FEES,
                             fill_mode=fill_mode, latency=latency)
    events: list[tuple[int, int, str, object]] = [(ms, 1, "trade", trade) for ms, trade in recorded_tape()]
    events += [(ms, 0, name, command) for name, (ms, command) in orders.items()]
    events += [(ms, 0, "cancel:" + name, None) for name, ms in (cancels or {}).items()]
    placed: dict[str, Order] = {}
    exchange.begin()
    for ms, _, name, item in sorted(events, key=lambda e: (e[0], e[1])):
        exchange.advance(at(ms))
        if isinstance(item, MarketTrade):
            exchange.on_trade(item, at(ms))
        elif isinstance(item, SubmitOrder):
            placed[name] = submit(exchange, item, at(ms)).order
        else:
            exchange.cancel(placed[name.removeprefix("cancel:")].order_id, at(ms))
    exchange.advance(at(until_ms))
    effects = exchange.end()
    statuses: dict[str, list[OrderStatus]] = {e.order_id: [] for e in effects.events}
    for event in effects.events:
        statuses[event.order_id].append(event.status)
    for order_id, sequence in statuses.items():  # every change passed the state machine
        for before, after in zip([None, *sequence], sequence, strict=False):
            assert after in TRANSITIONS[before], (order_id, sequence)
    return Replay(exchange, placed, effects.trades)


def test_a_limit_buy_only_touched_by_the_tape_does_not_fill() -> None:
    # 89,700.00 is the tape's lowest price, traded at 8000 ms: touched, never traded through.
    run = replay({"bid": (500, order(BUY, "0.01", LIMIT, price="89700.00"))})
    bid = run.of("bid")
    assert (bid.status, bid.filled_quantity, run.fills("bid")) == (OrderStatus.NEW, 0, [])
    assert locked(run.exchange, "USDT") == D("897.897")  # 0.01 * 89,700 * 1.001
    assert free(run.exchange, "USDT") == D("100000") - D("897.897")


def test_the_same_bid_fills_in_touch_mode_as_maker_at_its_limit() -> None:
    run = replay({"bid": (500, order(BUY, "0.01", LIMIT, price="89700.00"))},
                 fill_mode=FillMode.TOUCH)
    assert run.of("bid").status is OrderStatus.FILLED
    # 897.00 USDT at the maker fee: 0.1794
    assert run.fills("bid") == [(D("0.01"), D("89700.00"), D("0.17940000"), Liquidity.MAKER)]
    assert locked(run.exchange, "USDT") == 0
    assert free(run.exchange, "USDT") == D("100000") - D("897") - D("0.1794")
    assert free(run.exchange, "BTC") == D("1.01")


def test_partial_fills_are_capped_by_the_traded_quantity() -> None:
    # Bid 0.06 at 89,900.00. 2000 ms touches it (no fill); 3000 ms trades through with 0.03
    # (0.03 fills); 4000 ms trades through with 0.10 (the other 0.03 fills).
    run = replay({"bid": (500, order(BUY, "0.06", LIMIT, price="89900.00"))})
    bid = run.of("bid")
    assert run.fills("bid") == [(D("0.03"), D("89900.00"), D("0.53940000"), Liquidity.MAKER)] * 2
    assert (bid.status, bid.filled_quantity, bid.avg_fill_price) == (
        OrderStatus.FILLED, D("0.06"), D("89900.00"))
    assert bid.fee == D("1.0788")
    # Locked 5,399.394 (0.06 * 89,900 * 1.001); paid 2 * (2,697 + 0.5394) = 5,395.0788; the
    # rest, 4.3152, went back to free.
    assert locked(run.exchange, "USDT") == 0
    assert free(run.exchange, "USDT") == D("100000") - D("5395.0788")
    assert free(run.exchange, "BTC") == D("1.06")


def test_liquidity_this_service_used_is_not_used_again() -> None:
    # Two bids at 89,900.00 share the 0.03 traded through at 3000 ms, the older first; the
    # 0.10 at 4000 ms then completes both (0.01 + 0.03).
    run = replay({"older": (100, order(BUY, "0.02", LIMIT, price="89900.00")),
                  "newer": (200, order(BUY, "0.04", LIMIT, price="89900.00"))})
    assert [f[0] for f in run.fills("older")] == [D("0.02")]
    assert [f[0] for f in run.fills("newer")] == [D("0.01"), D("0.03")]
    assert [t.executed_at for t in run.trades] == [at(3000), at(3000), at(4000)]


def test_a_better_priced_bid_comes_before_an_older_one() -> None:
    # The bid at 89,905.00 placed at 2500 ms rests (the ask is then 89,908.99). At 3000 ms
    # 0.03 trades through both bids: the higher one, though younger, takes its 0.02 first.
    run = replay({"lower": (100, order(BUY, "0.03", LIMIT, price="89900.00")),
                  "higher": (2500, order(BUY, "0.02", LIMIT, price="89905.00"))})
    assert [(f[0], f[1]) for f in run.fills("higher")] == [(D("0.02"), D("89905.00"))]
    assert [f[0] for f in run.fills("lower")] == [D("0.01"), D("0.02")]


def test_ioc_takes_what_the_book_has_at_its_limit_and_the_rest_expires() -> None:
    # At 500 ms the last price is 90,000.00: the best ask 90,009.00 holds 0.11110 BTC.
    run = replay({"ioc": (500, order(BUY, "0.2", LIMIT, price="90009.00", tif=IOC))})
    ioc = run.of("ioc")
    # 0.1111 * 90,009 = 9,999.9999 at the taker fee: 9.9999999
    assert run.fills("ioc") == [(D("0.11110"), D("90009.00"), D("9.99999990"), Liquidity.TAKER)]
    assert (ioc.status, ioc.filled_quantity) == (OrderStatus.EXPIRED, D("0.1111"))
    assert locked(run.exchange, "USDT") == 0
    assert free(run.exchange, "USDT") == D("100000") - D("9999.9999") - D("9.9999999")


def test_fok_fills_all_at_once_or_expires_untouched() -> None:
    run = replay({"short": (500, order(BUY, "0.2", LIMIT, price="90009.00", tif=FOK)),
                  "deep": (600, order(BUY, "0.2", LIMIT, price="90018.00", tif=FOK))})
    assert run.of("short").status is OrderStatus.EXPIRED
    assert run.fills("short") == []
    # One trade per level: 0.11110 @ 90,009.00 + 0.08890 @ 90,018.00 = 18,002.6001,
    # 90,013.0005 on average; each level's fee on its own.
    assert run.fills("deep") == [(D("0.11110"), D("90009.00"), D("9.99999990"), Liquidity.TAKER),
                                 (D("0.08890"), D("90018.00"), D("8.00260020"), Liquidity.TAKER)]
    assert run.of("deep").status is OrderStatus.FILLED
    assert run.of("deep").avg_fill_price == D("90013.0005")
    assert free(run.exchange, "USDT") == D("100000") - D("18002.6001") - D("18.0026001")


def test_a_stop_loss_triggers_when_the_tape_reaches_it_and_sells_into_the_bids() -> None:
    # Sell stop at 89,900.00: 2000 ms trades 89,900.00, the stop triggers and a market sell
    # takes the best bid around it: 89,900 - 1 bp = 89,891.01.
    run = replay({"stop": (500, order(SELL, "0.1", OrderType.STOP_LOSS, stop="89900.00"))})
    stop = run.of("stop")
    assert run.fills("stop") == [(D("0.1"), D("89891.01"), D("8.98910100"), Liquidity.TAKER)]
    assert (stop.status, stop.triggered_at) == (OrderStatus.FILLED, at(2000))
    assert stop.slippage_bps == D("1.0000")
    assert free(run.exchange, "BTC") == D("0.9")
    assert free(run.exchange, "USDT") == D("100000") + D("8989.101") - D("8.989101")


def test_a_take_profit_limit_rests_after_its_trigger_and_fills_on_a_later_trade() -> None:
    # Triggered at 6000 ms (90,250.00 >= 90,200.00), it rests as a sell at 90,250.00: not
    # filled by the trade that triggered it, then traded through at 7000 ms (90,300.00).
    run = replay({"tp": (500, order(SELL, "0.05", OrderType.TAKE_PROFIT_LIMIT, price="90250.00",
                                    stop="90200.00"))})
    tp = run.of("tp")
    assert tp.triggered_at == at(6000)
    # 0.05 * 90,250 = 4,512.50 at the maker fee: 0.9025
    assert run.fills("tp") == [(D("0.05"), D("90250.00"), D("0.90250000"), Liquidity.MAKER)]
    assert run.trades[0].executed_at == at(7000)
    assert free(run.exchange, "BTC") == D("0.95")
    assert locked(run.exchange, "BTC") == 0
    assert free(run.exchange, "USDT") == D("100000") + D("4512.5") - D("0.9025")


def test_a_stop_whose_price_already_traded_is_rejected() -> None:
    run = replay({"late": (500, order(BUY, "0.01", OrderType.STOP_LOSS, stop="89000.00"))})
    late = run.of("late")
    assert (late.status, late.error_code, late.error_message) == (
        OrderStatus.REJECTED, ErrorCode.WOULD_TRIGGER, "Stop price would trigger immediately.")
    assert locked(run.exchange, "USDT") == 0
    assert free(run.exchange, "USDT") == 100000


def test_limit_maker_is_rejected_if_it_would_take_and_rests_as_maker_otherwise() -> None:
    run = replay({"taker": (500, order(BUY, "0.01", OrderType.LIMIT_MAKER, price="90100.00")),
                  "maker": (500, order(SELL, "0.01", OrderType.LIMIT_MAKER, price="90200.00"))})
    assert run.of("taker").error_message == "Order would immediately match and take."
    assert run.fills("maker") == [(D("0.01"), D("90200.00"), D("0.18040000"), Liquidity.MAKER)]
    assert run.trades[0].executed_at == at(6000)  # 90,250.00 > 90,200.00


def test_a_cancel_releases_what_the_order_locked_and_nothing_fills_after_it() -> None:
    run = replay({"bid": (500, order(BUY, "0.06", LIMIT, price="89900.00"))},
                 cancels={"bid": 3500})
    bid = run.of("bid")
    assert (bid.status, bid.filled_quantity) == (OrderStatus.CANCELED, D("0.03"))
    assert len(run.fills("bid")) == 1  # 3000 ms only; 4000 ms finds it canceled
    assert locked(run.exchange, "USDT") == 0
    assert free(run.exchange, "USDT") == D("100000") - D("2697") - D("0.5394")


def test_good_till_date_expires_the_order_and_releases_its_lock() -> None:
    run = replay({"bid": (500, order(BUY, "0.01", LIMIT, price="89000.00",
                                     expire_at=at(5000)))})
    assert run.of("bid").status is OrderStatus.EXPIRED
    assert run.of("bid").updated_at == at(5000)
    assert locked(run.exchange, "USDT") == 0
    assert free(run.exchange, "USDT") == 100000


def test_with_latency_a_marketable_order_misses_the_price_that_moved() -> None:
    # Sent at 4500 ms when the price is 89,850.00 (ask 89,858.99: its limit 89,900.00
    # would take). It reaches the exchange 1,000 ms later; the price is then 90,100.00
    # (ask 90,109.01) and the IOC expires unfilled.
    command = order(BUY, "0.01", LIMIT, price="89900.00", tif=IOC)
    at_once = replay({"ioc": (4500, command)})
    assert at_once.fills("ioc") == [(D("0.01"), D("89858.99"), D("0.89858990"), Liquidity.TAKER)]
    delayed = replay({"ioc": (4500, command)}, latency=LatencyModel(ack_ms=1000))
    ioc = delayed.of("ioc")
    assert (ioc.status, ioc.updated_at, delayed.fills("ioc")) == (OrderStatus.EXPIRED, at(5500), [])
    assert locked(delayed.exchange, "USDT") == 0
    assert free(delayed.exchange, "USDT") == 100000


def test_a_fill_delay_prices_a_market_order_at_the_end_of_the_delay() -> None:
    # Sent at 4500 ms (89,850.00), taken 600 ms later, after 90,100.00 traded at 5000 ms:
    # the ask is then 90,100 + 1 bp = 90,109.01.
    run = replay({"market": (4500, order(BUY, "0.01"))},
                 latency=LatencyModel(ack_ms=100, fill_ms=500))
    assert run.fills("market") == [(D("0.01"), D("90109.01"), D("0.90109010"), Liquidity.TAKER)]
    assert run.trades[0].executed_at == at(5100)


@pytest.mark.parametrize("mode", list(FillMode))
def test_every_fill_mode_keeps_the_books_exact(mode: FillMode) -> None:
    run = replay({"bid": (500, order(BUY, "0.06", LIMIT, price="89900.00")),
                  "ask": (500, order(SELL, "0.3", LIMIT, price="90250.00")),
                  "stop": (500, order(SELL, "0.1", OrderType.STOP_LOSS_LIMIT, price="89800.00",
                                      stop="89850.00"))}, fill_mode=mode)
    bought = sum((t.quantity for t in run.trades if t.side is BUY), D(0))
    sold = sum((t.quantity for t in run.trades if t.side is SELL), D(0))
    paid = sum((t.quantity * t.price * (1 if t.side is BUY else -1) + t.fee for t in run.trades),
               D(0))
    balances = run.exchange.account().balances()
    assert balances["BTC"].total == 1 + bought - sold
    assert balances["USDT"].total == 100000 - paid
    expected_locked = sum((o.reserved for o in run.exchange.open_orders()), D(0))
    assert balances["USDT"].locked + balances["BTC"].locked == expected_locked

