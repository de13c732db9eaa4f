"""The paper exchange's resting-order fills held against hftbacktest's on one hand-built
BTCUSDT tape, for each queue model: the fills each system gives every order, step by step,
side by side, and where they differ, the documented reason.

    python -m venv .venv-hbt && .venv-hbt/bin/pip install -e '.[compare]'
    .venv-hbt/bin/python bench/hftbacktest_compare.py
    PYTHONPATH=<an older tree>/src .venv-hbt/bin/python bench/hftbacktest_compare.py  # before

(hftbacktest brings numba, polars and matplotlib: it stays out of the test environment.)
The tape: a book (bids 89,950 x 1.0 and 89,940 x 2; asks 90,010 x 1 and 90,020 x 2), a bid
of 0.2 at 89,950 and an ask of 0.3 at 90,020 resting behind it; joins, cancellations and
trades at their prices, a diff of the other side between a trade and its level's update
(the interleaving that counted a trade twice here), trades through both; then a bid of 0.5
at 89,990 that an ask of 0.3 at its price crosses without a print.
"""

from __future__ import annotations

import argparse
import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import numpy as np
from hftbacktest import (
    BUY_EVENT,
    DEPTH_EVENT,
    EXCH_EVENT,
    GTC,
    LIMIT,
    LOCAL_EVENT,
    SELL_EVENT,
    TRADE_EVENT,
    BacktestAsset,
    HashMapMarketDepthBacktest,
)
from hftbacktest.binding import event_dtype

from execution_service.domain.commands import BookUpdate, MarketTrade, SubmitOrder
from execution_service.domain.orders import DEFAULT_ACCOUNT, OrderType, Side, Source
from execution_service.engine.account import Amounts
from execution_service.engine.book import SyntheticBooks
from execution_service.engine.events import Intake
from execution_service.engine.exchange import ExchangeRules, PaperExchange
from execution_service.engine.filters import ExchangeFilters
from execution_service.engine.models import BookShape, FeeSchedule
from execution_service.engine.prices import REFERENCE_PRICES, MarketPrices
from execution_service.engine.queue import QueueModel

MODELS = ("risk_averse", "power:2", "log")
STEP_NS = 1_000_000  # 1 ms between events


@dataclass(frozen=True)
class Depth:
    side: Side  # BUY: a bid level, SELL: an ask level
    price: str
    quantity: str


@dataclass(frozen=True)
class Trade:
    aggressor: Side  # SELL: a seller took the bids
    price: str
    quantity: str


@dataclass(frozen=True)
class Rest:
    order_id: int
    side: Side
    price: str
    quantity: str


Step = tuple[str, list[Depth | Trade | Rest]]  # what happens, and its events (one message)

TAPE: list[Step] = [
    ("the book", [Depth(Side.BUY, "89950.00", "1.0"), Depth(Side.BUY, "89940.00", "2"),
                  Depth(Side.SELL, "90010.00", "1"), Depth(Side.SELL, "90020.00", "2")]),
    ("bid 1 rests: 0.2 at 89,950", [Rest(1, Side.BUY, "89950.00", "0.2")]),
    ("ask 2 rests: 0.3 at 90,020", [Rest(2, Side.SELL, "90020.00", "0.3")]),
    ("bids 89,950 -> 1.5 (joins behind)", [Depth(Side.BUY, "89950.00", "1.5")]),
    ("a seller takes 0.3 at 89,950", [Trade(Side.SELL, "89950.00", "0.3")]),
    ("asks 90,010 -> 2 (the other side)", [Depth(Side.SELL, "90010.00", "2")]),
    ("bids 89,950 -> 1.0 (the trade, and 0.2 canceled)", [Depth(Side.BUY, "89950.00", "1.0")]),
    ("a seller takes 0.8 at 89,950", [Trade(Side.SELL, "89950.00", "0.8")]),
    ("asks 90,020 -> 2.5 (joins behind)", [Depth(Side.SELL, "90020.00", "2.5")]),
    ("a buyer takes 0.5 at 90,020", [Trade(Side.BUY, "90020.00", "0.5")]),
    ("bids 89,940 -> 2.5 (the other side)", [Depth(Side.BUY, "89940.00", "2.5")]),
    ("asks 90,020 -> 1.8 (the trade, and 0.2 canceled)", [Depth(Side.SELL, "90020.00", "1.8")]),
    ("a buyer takes 1.6 at 90,020", [Trade(Side.BUY, "90020.00", "1.6")]),
    ("a seller takes 1 at 89,940 (through bid 1)", [Trade(Side.SELL, "89940.00", "1")]),
    ("a buyer takes 1 at 90,030 (through ask 2)", [Trade(Side.BUY, "90030.00", "1")]),
    ("bid 3 rests: 0.5 at 89,990", [Rest(3, Side.BUY, "89990.00", "0.5")]),
    ("asks: 0.3 at 89,990, no print (crosses bid 3)", [Depth(Side.SELL, "89990.00", "0.3")]),
]


def fills_here(model: str) -> Iterator[dict[int, Decimal]]:
    """This service's paper exchange: each step's fills by order."""
    rng = random.Random(7)
    prices = MarketPrices(REFERENCE_PRICES, rng, Decimal(0), live_max_age_s=3600)
    rules = ExchangeRules(fees=FeeSchedule(taker=Decimal(0), maker=Decimal(0)),
                          queue=QueueModel.parse(model), success_rate=1.0)
    exchange = PaperExchange(prices, SyntheticBooks(BookShape()), ExchangeFilters(), rules, rng,
                             (DEFAULT_ACCOUNT,))
    exchange.load({(DEFAULT_ACCOUNT, "USDT"): Amounts(Decimal(10**7)),
                   (DEFAULT_ACCOUNT, "BTC"): Amounts(Decimal(100))}, [], [])
    start = datetime(2026, 12, 5, tzinfo=UTC)
    exchange.on_trade(MarketTrade("BTCUSDT", Decimal("90000.00"), None, 0), start)
    ours: dict[str, int] = {}
    first = True
    for number, (_what, events) in enumerate(TAPE):
        now = start + timedelta(milliseconds=number)
        exchange.begin()
        depth = [e for e in events if isinstance(e, Depth)]
        if depth:
            exchange.on_book(BookUpdate(
                "BTCUSDT",
                tuple((Decimal(d.price), Decimal(d.quantity)) for d in depth if d.side is Side.BUY),
                tuple((Decimal(d.price), Decimal(d.quantity)) for d in depth if d.side is Side.SELL),
                snapshot=first), now)
            first = False
        for event in events:
            if isinstance(event, Trade):
                exchange.on_trade(MarketTrade("BTCUSDT", Decimal(event.price), Decimal(event.quantity),
                                              0, aggressor=event.aggressor), now)
            elif isinstance(event, Rest):
                result = exchange.submit(SubmitOrder(
                    symbol="BTCUSDT", side=event.side, quantity=Decimal(event.quantity),
                    order_type=OrderType.LIMIT, price=Decimal(event.price)),
                    Intake(Source.REST, None, now))
                ours[result.order.order_id] = event.order_id
        step: dict[int, Decimal] = {}
        for trade in exchange.end().trades:
            number_of = ours[trade.order_id]
            step[number_of] = step.get(number_of, Decimal(0)) + trade.quantity
        yield step


def hftbacktest_events() -> np.ndarray:
    rows = []
    for number, (_what, events) in enumerate(TAPE):
        at = (number + 1) * STEP_NS
        for event in events:
            if isinstance(event, Depth):
                side = BUY_EVENT if event.side is Side.BUY else SELL_EVENT
                rows.append((DEPTH_EVENT | EXCH_EVENT | LOCAL_EVENT | side, at, at,
                             float(event.price), float(event.quantity), 0, 0, 0.0))
            elif isinstance(event, Trade):
                side = BUY_EVENT if event.aggressor is Side.BUY else SELL_EVENT
                rows.append((TRADE_EVENT | EXCH_EVENT | LOCAL_EVENT | side, at, at,
                             float(event.price), float(event.quantity), 0, 0, 0.0))
    return np.array(rows, dtype=event_dtype)


def fills_there(model: str) -> Iterator[dict[int, Decimal]]:
    """hftbacktest's partial-fill exchange with the same queue model: each step's fills."""
    events = hftbacktest_events()  # (kept: hftbacktest reads the array's memory, not a copy)
    asset = (BacktestAsset().data([events]).linear_asset(1.0).constant_order_latency(0, 0)
             .tick_size(0.01).lot_size(0.00001).trading_value_fee_model(0.0, 0.0)
             .partial_fill_exchange())
    if model == "risk_averse":
        asset = asset.risk_adverse_queue_model()
    elif model == "power:2":
        asset = asset.power_prob_queue_model(2.0)
    else:
        asset = asset.log_prob_queue_model()
    hbt = HashMapMarketDepthBacktest([asset])
    hbt.elapse(STEP_NS // 2)  # the clock starts at the first event: this takes step 0 (the book)
    filled: dict[int, float] = {}
    for number, (_what, step_events) in enumerate(TAPE):
        if number:
            for event in step_events:  # (submitted half a step before the step's events)
                if isinstance(event, Rest):
                    submit = hbt.submit_buy_order if event.side is Side.BUY else hbt.submit_sell_order
                    submit(0, event.order_id, float(event.price), float(event.quantity), GTC,
                           LIMIT, False)
            hbt.elapse(STEP_NS)
        step: dict[int, Decimal] = {}
        orders = hbt.orders(0)
        for order_id in (1, 2, 3):
            order = orders.get(order_id)
            if order is None:
                continue
            done = round(order.qty - order.leaves_qty, 5)
            if done > filled.get(order_id, 0.0):
                step[order_id] = Decimal(repr(round(done - filled.get(order_id, 0.0), 5)))
                filled[order_id] = done
        yield step
    hbt.close()
    del events


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--models", default=",".join(MODELS))
    args = parser.parse_args()
    for model in args.models.split(","):
        print(f"\n{model}: fills per step, this service | hftbacktest 2.4.4")
        total_here: dict[int, Decimal] = {}
        total_there: dict[int, Decimal] = {}
        for (what, _), here, there in zip(TAPE, fills_here(model), fills_there(model), strict=True):
            for totals, step in ((total_here, here), (total_there, there)):
                for order_id, quantity in step.items():
                    totals[order_id] = totals.get(order_id, Decimal(0)) + quantity
            mark = "" if here == there else "   <- differs"
            if here or there:
                print(f"  {what:<52} {_show(here):<22} | {_show(there)}{mark}")
        print(f"  {'total':<52} {_show(total_here):<22} | {_show(total_there)}")


def _show(fills: dict[int, Decimal]) -> str:
    return ", ".join(f"#{order_id} {quantity.normalize():f}"
                     for order_id, quantity in sorted(fills.items())) or "-"


if __name__ == "__main__":
    main()
