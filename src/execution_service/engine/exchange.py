"""The paper exchange: Binance spot semantics, deterministic, knows nothing of Redis or SQL.

Orders arrive (`submit`), are checked (kill switch, symbol, filters, funds), lock what
they may spend, and then either take the synthetic book at once (market orders and
marketable limit orders, taker fee), or rest: limit orders until the tape trades through
their price (maker fee, capped by the traded quantity), stop orders until the tape
reaches their stop price. A taker fill is one trade per price level it takes, each with
its own fee, as on Binance. Each order trades its own sub-account's balances (`Ledger`).
Time moves through `advance(now)`: latency delays and GTD expiries are timers. Every
status change passes the state machine (`domain.states`), becomes an `order_events` row
and, at the end of the step that made it, one result.

With several instances, one matches the tape (`matching`, bus/lease.py): the others move
their prices and books with it but trigger no stop and fill no resting order from it.

A batch runs between `begin()` and `end()`, which hands over the `Effects` to commit.
The exchange changes its state in place as it goes; when a commit fails, the caller
reloads it from the database (`load`).
"""

from __future__ import annotations

import heapq
import itertools
import random
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import ROUND_DOWN, ROUND_HALF_EVEN, ROUND_UP, Decimal, localcontext
from enum import StrEnum
from typing import Any

from execution_service.domain import codec, states
from execution_service.domain.commands import BookUpdate, MarketTrade, SubmitOrder
from execution_service.domain.orders import (
    DEFAULT_ACCOUNT,
    QUANTITY_STEP,
    REQUESTED_QUANTITY,
    ZERO,
    ErrorCode,
    Liquidity,
    Order,
    OrderStatus,
    OrderType,
    Side,
    Source,
    TimeInForce,
    Trade,
)
from execution_service.domain.symbols import Pair, split_symbol
from execution_service.engine.account import Account, Amounts, BalanceChange, Ledger
from execution_service.engine.book import Level, SyntheticBooks, Walk
from execution_service.engine.filters import ExchangeFilters, SymbolFilters
from execution_service.engine.latency import LatencyModel
from execution_service.engine.models import (
    BPS,
    EXACT,
    FEE_PLACES,
    MAX_NOTIONAL,
    FeeSchedule,
    slippage_bps,
)
from execution_service.engine.positions import Position, PositionChange, Positions
from execution_service.engine.prices import PRICE_PLACES, MarketPrices
from execution_service.engine.queue import QueueModel

PENDING_NEW, NEW, PARTIALLY_FILLED, FILLED, CANCELED, REJECTED, EXPIRED = (
    OrderStatus.PENDING_NEW, OrderStatus.NEW, OrderStatus.PARTIALLY_FILLED, OrderStatus.FILLED,
    OrderStatus.CANCELED, OrderStatus.REJECTED, OrderStatus.EXPIRED)
# The resting orders a tape trade can fill: a seller who took liquidity traded with the
# bids, a buyer with the asks; without a side, either may have been on the other end.
_RESTING_SIDES: dict[Side | None, tuple[Side, ...]] = {
    Side.SELL: (Side.BUY,), Side.BUY: (Side.SELL,), None: (Side.BUY, Side.SELL)}
_MARKET_LIKE = frozenset({OrderType.MARKET, OrderType.STOP_LOSS, OrderType.TAKE_PROFIT})
_BUY_STOP_ABOVE = frozenset({OrderType.STOP_LOSS, OrderType.STOP_LOSS_LIMIT})


class FillMode(StrEnum):
    """When a trade on the tape fills a resting limit order."""

    TRADE_THROUGH = "trade_through"  # only a trade beyond the limit (the queue ahead is unknown)
    TOUCH = "touch"  # a trade at the limit is enough
    OPTIMISTIC = "optimistic"  # touch, and fill in full whatever the trade's quantity


@dataclass(frozen=True, slots=True)
class Intake:
    """Where and when an order arrived; `ref` is its idempotency key when it has no client_id."""

    source: Source
    ref: str | None
    at: datetime


@dataclass(frozen=True, slots=True)
class OrderEvent:
    """One row of `order_events`."""

    order_id: str
    seq: int
    status: OrderStatus
    detail: str | None
    at: datetime


@dataclass(frozen=True, slots=True)
class Result:
    """An order's state at the end of a step, to publish: its `order_result` message."""

    order: Order
    event_id: str
    message: dict[str, Any]


@dataclass(slots=True)
class Effects:
    """What the exchange changed during one batch, to commit together."""

    created: dict[str, Order] = field(default_factory=dict)  # new orders, in arrival order
    updated: dict[str, tuple[Order, int]] = field(default_factory=dict)  # stored: (order, version read)
    trades: list[Trade] = field(default_factory=list)
    events: list[OrderEvent] = field(default_factory=list)
    results: list[Result] = field(default_factory=list)
    balances: list[BalanceChange] = field(default_factory=list)
    positions: list[PositionChange] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class ExchangeRules:
    """The matching models and their parameters (see the README's "The paper exchange")."""

    fees: FeeSchedule
    fill_mode: FillMode = FillMode.TRADE_THROUGH
    latency: LatencyModel = field(default_factory=LatencyModel)
    round_quantity_down: bool = False
    success_rate: float = 1.0
    queue: QueueModel = field(default_factory=QueueModel)


class _Timer(StrEnum):
    ARRIVE = "arrive"  # a PENDING_NEW order reaches the exchange
    TAKE = "take"  # a marketable order's fill delay is over
    EXPIRE = "expire"  # good-till-date


class PaperExchange:
    """Matches orders against the synthetic book and the tape; see the module docstring."""

    def __init__(
        self,
        prices: MarketPrices,
        books: SyntheticBooks,
        filters: ExchangeFilters,
        rules: ExchangeRules,
        rng: random.Random,
        accounts: Iterable[str] = (DEFAULT_ACCOUNT,),
    ) -> None:
        self.prices = prices
        self.books = books
        self.filters = filters
        self.rules = rules
        self.accounts = Ledger(accounts)
        self.positions = Positions()
        self._fees = rules.fees
        self._rng = rng
        self._open: dict[str, Order] = {}
        # Per symbol, by order id in arrival order (a close is one lookup, not a scan):
        self._resting: dict[str, dict[str, Order]] = {}  # limit orders on the book
        self._stops: dict[str, dict[str, Order]] = {}  # stops waiting for their price
        self._timers: list[tuple[datetime, int, _Timer, str]] = []
        self._arrival: dict[str, int] = {}  # time priority of resting orders
        self._counter = itertools.count()
        self._fx = Effects()
        self._step: dict[str, Order] = {}
        self._entered: set[str] = set()  # orders that came to rest during this step
        self._traded_here: dict[str, Decimal] = {}  # queue: traded at its price since the book
        self.matching = True  # this instance matches the tape (the lease's holder)

    # State

    def load(self, balances: dict[tuple[str, str], Amounts], positions: Iterable[Position],
             open_orders: Iterable[Order]) -> None:
        """Take the state the database holds (balances keyed (account, asset)): at start,
        and after a failed commit."""
        self.accounts.reset(balances)
        self.positions.reset(positions)
        self._open.clear()
        self._resting.clear()
        self._stops.clear()
        self._timers.clear()
        self._arrival.clear()
        self._fx, self._step = Effects(), {}
        self._place(open_orders)

    def adopt(self, balances: dict[tuple[str, str], Amounts], positions: Iterable[Position],
              accepted: Iterable[Order], closed: Iterable[str]) -> None:
        """Take, between two batches, what other instances changed: the balances and
        positions as the database holds them, the open orders they `accepted`, and the
        orders of this exchange they `closed` (cancelled, expired). Unlike `load`, the
        orders held already are left as they are."""
        self.accounts.reset(balances)
        self.positions.reset(positions)
        for order_id in closed:
            if (order := self._open.get(order_id)) is not None:
                self._close(order)
        self._place(accepted)

    def _place(self, open_orders: Iterable[Order]) -> None:
        """Open orders from the database, where each belongs: timers, stops, the book."""
        for order in sorted(open_orders, key=lambda o: (o.created_at, o.order_id)):
            self._open[order.order_id] = order
            if order.due_at is not None:
                self._schedule(order.due_at, _Timer.ARRIVE if order.status is PENDING_NEW
                               else _Timer.TAKE, order)
            elif order.order_type.has_stop_price and order.triggered_at is None:
                self._stops.setdefault(order.symbol, {})[order.order_id] = order
            else:
                self._rest(order)
            if order.expire_at is not None:
                self._schedule(order.expire_at, _Timer.EXPIRE, order)

    def open_order(self, order_id: str) -> Order | None:
        return self._open.get(order_id)

    def open_orders(self) -> list[Order]:
        return list(self._open.values())

    def book(self, symbol: str, count: int, now: datetime | None = None
             ) -> tuple[list[Level], list[Level]] | None:
        """The bids and asks market orders on `symbol` fill against now, `count` levels of
        each, best first; None for a symbol never priced. Reading it moves no price."""
        if now is not None:
            self.books.expire(symbol, _ms(now), self.prices.live_max_age_ms)
        mid = self.prices.last(symbol)
        if mid is None:
            return None
        filters = self.filters.of(symbol, mid)
        return (self.books.depth(symbol, Side.SELL, mid, filters, count),
                self.books.depth(symbol, Side.BUY, mid, filters, count))

    def next_due(self) -> datetime | None:
        """When the earliest timer runs out (perhaps one no longer needed)."""
        return self._timers[0][0] if self._timers else None

    def account(self, name: str = DEFAULT_ACCOUNT) -> Account:
        """A sub-account's balances (KeyError for one that does not exist)."""
        return self.accounts[name]

    def valuation(self, quote: str, account: str = DEFAULT_ACCOUNT
                  ) -> tuple[Decimal, list[str], dict[str, Any]]:
        """A sub-account's worth in `quote` at the last prices: the total, the assets that
        have no price, and per asset its amount, price and value."""
        total = ZERO
        unpriced: list[str] = []
        detail: dict[str, Any] = {}
        with localcontext(EXACT):
            for asset, amounts in sorted(self.accounts[account].balances().items()):
                amount = amounts.total
                if not amount:
                    continue
                price = Decimal(1) if asset == quote else self.prices.last(asset + quote)
                if price is None:
                    unpriced.append(asset)
                    detail[asset] = {"amount": amount, "price": None, "value": None}
                    continue
                value = amount * price
                total += value
                detail[asset] = {"amount": amount, "price": price, "value": value}
        return total, unpriced, detail

    def synthetic_trades(self, notional: Decimal, now: datetime) -> list[MarketTrade]:
        """A trade from the random walk for each symbol with orders waiting on the tape but
        no live price: `notional` quote units at the walk's next price. Without them, resting
        and stop orders would never fill when no market-data feed runs."""
        now_ms = _ms(now)
        if not self.matching:
            return []
        waiting = {symbol for index in (self._resting, self._stops)
                   for symbol, orders in index.items() if orders}
        trades = []
        for symbol in sorted(waiting):
            if self.prices.is_live(symbol, now_ms):
                continue
            price = self.prices.quote(symbol, now_ms)
            if price is not None:
                quantity = (notional / price).quantize(QUANTITY_STEP, rounding=ROUND_DOWN)
                trades.append(MarketTrade(symbol, price, quantity, now_ms, synthetic=True))
        return trades

    def new_order_id(self) -> str:
        return "MOCK_" + uuid.UUID(int=self._rng.getrandbits(128), version=4).hex

    # One batch

    def begin(self) -> None:
        self._fx = Effects()

    def end(self) -> Effects:
        effects, self._fx = self._fx, Effects()
        effects.balances = self.accounts.changes()
        effects.positions = self.positions.changes()
        return effects

    # Inputs

    def submit(self, command: SubmitOrder, intake: Intake, halted: str | None = None) -> Result:
        """A new order; returns its state at the end of this step."""
        with localcontext(EXACT):
            order = self._new_order(command, intake)
            self._submit(order, intake.at, halted)
            return self._end_step()[0]

    def cancel(self, order_id: str, now: datetime) -> Result | None:
        """Cancel an open order; None if it is not open."""
        order = self._open.get(order_id)
        if order is None:
            return None
        with localcontext(EXACT):
            self._finish(order, CANCELED, "canceled", now)
            return self._end_step()[0]

    def on_trade(self, trade: MarketTrade, now: datetime) -> list[Result]:
        """A trade on the tape: the price moves, stops trigger, resting orders fill (when
        this instance is the one `matching`)."""
        with localcontext(EXACT):
            if not trade.synthetic:  # the walk's own step already set the price
                self.prices.on_trade(trade.symbol, trade.price, _ms(now))
            if not self.matching:
                return []
            for order in [o for o in self._stops.get(trade.symbol, {}).values()
                          if _stop_hit(o, trade.price)]:
                self._trigger(order, trade.price, now)
            self._fill_resting(trade, now)
            return self._end_step()

    def on_book(self, update: BookUpdate, now: datetime) -> list[Result]:
        """A real order book from the depth feed: market orders walk it from now on, the
        queues at the levels it names move (engine/queue.py), and resting orders it crosses
        fill (when this instance is the one `matching`)."""
        levels = update.asks or update.bids
        reference = self.prices.last(update.symbol) or (levels[0][0] if levels else None)
        if reference is None or split_symbol(update.symbol) is None:
            return []
        with localcontext(EXACT):
            filters = self.filters.of(update.symbol, reference)
            resting = list(self._resting.get(update.symbol, {}).values()) if self.matching else []
            named = [o for o in resting if o.queue_ahead is not None and _names_level(update, o)]
            before = [self.books.resting_at(o.symbol, o.side, o.price, reference, filters)  # type: ignore[arg-type]
                      for o in named]
            self.books.apply(update, filters, _ms(now))
            for order, level_before in zip(named, before, strict=True):
                self._requeue(order, level_before, reference, filters)
            self._fill_crossed(resting, reference, filters, now)
            return self._end_step()

    def _requeue(self, order: Order, level_before: Decimal, reference: Decimal,
                 filters: SymbolFilters) -> None:
        """The order's level went from `level_before` to what the book now holds: what is
        ahead of it moves by the queue model, the trades there since its level last changed
        explaining the decrease first (and counted once: they are forgotten now)."""
        assert order.price is not None
        assert order.queue_ahead is not None
        level_after = self.books.resting_at(order.symbol, order.side, order.price, reference,
                                            filters)
        ahead = self.rules.queue.after_depth(order.queue_ahead, self._traded_here.pop(
            order.order_id, ZERO), level_before, level_after)
        if ahead != order.queue_ahead:
            self._track(order)
            order.queue_ahead = ahead

    def _fill_crossed(self, resting: list[Order], reference: Decimal, filters: SymbolFilters,
                      now: datetime) -> None:
        """Resting orders the real book now crosses (asks at or below a bid's limit, bids at
        or above an ask's) fill at once, as an exchange matches them, without waiting for a
        print: at their limit, as makers, up to what is on offer at or through it, best
        price first, then oldest; what they take stays taken until the next update."""
        # The best ask and bid once per message: fills only take from the book, so an order
        # not crossed before them is not crossed after.
        best = {side: self.books.depth(resting[0].symbol, side, reference, filters, 1)
                for side in Side} if resting else {}
        crossed = sorted((o for o in resting if best[o.side]
                          and _crossed(o, best[o.side][0].price, strict=False)),
                         key=lambda o: (-o.price if o.side is Side.BUY else o.price,  # type: ignore[operator]
                                        self._arrival[o.order_id]))
        for order in crossed:
            assert order.price is not None
            # A resting BUY meets the asks, the side a taker BUY walks (and a SELL the bids).
            walk = self.books.walk(order.symbol, order.side, reference, filters,
                                   filters.floor_to_step(order.remaining), order.price)
            quantity = filters.floor_to_step(walk.quantity)
            if quantity <= 0:
                continue
            if quantity != walk.quantity:
                walk = self.books.walk(order.symbol, order.side, reference, filters, quantity,
                                       order.price)
            self.books.consume(order.symbol, order.side, walk)
            if order.queue_ahead:  # (the book came to it: nothing is ahead any more)
                self._track(order)
                order.queue_ahead = ZERO
            self._fill(order, quantity, order.price, reference, now, Liquidity.MAKER)

    def advance(self, now: datetime) -> list[Result]:
        """Run the timers due by `now`, each as a step of its own, oldest first."""
        results: list[Result] = []
        with localcontext(EXACT):
            while self._timers and self._timers[0][0] <= now:
                due, _, kind, order_id = heapq.heappop(self._timers)
                order = self._open.get(order_id)
                if order is not None:
                    self._run_timer(kind, order, due)
                    results.extend(self._end_step())
        return results

    # Submission

    def _new_order(self, command: SubmitOrder, intake: Intake) -> Order:
        tif = command.time_in_force
        if tif is None and command.order_type.has_limit_price:
            tif = TimeInForce.GTC
        order = Order(
            order_id=self.new_order_id(), client_id=command.client_id, symbol=command.symbol,
            side=command.side, order_type=command.order_type, quantity=command.quantity,
            price=command.price, status=NEW, source=intake.source, created_at=intake.at,
            updated_at=intake.at, strategy_id=command.strategy_id, bot_id=command.bot_id,
            intake_ref=intake.ref, metadata=command.metadata, time_in_force=tif,
            stop_price=command.stop_price, expire_at=command.expire_at,
            fingerprint=command.fingerprint, account=command.account)
        self._fx.created[order.order_id] = order
        return order

    def _submit(self, order: Order, now: datetime, halted: str | None) -> None:
        if halted is not None:
            return self._reject(order, ErrorCode.KILL_SWITCH, f"kill switch engaged: {halted}", now)
        if self.accounts.get(order.account) is None:
            return self._reject(order, ErrorCode.UNKNOWN_ACCOUNT,
                                f"unknown account {order.account!r}", now)
        pair = split_symbol(order.symbol)
        self.books.expire(order.symbol, _ms(now), self.prices.live_max_age_ms)
        mid = self.prices.quote(order.symbol, _ms(now)) if pair else None
        if pair is None or mid is None:
            return self._reject(order, ErrorCode.UNKNOWN_SYMBOL, f"unknown symbol {order.symbol}", now)
        filters = self.filters.of(order.symbol, mid)
        problem = self._size(order, filters) or self._invalid(order, filters, mid, now)
        if problem is not None:
            code, message = problem
            return self._reject(order, code, message, now)
        ack_delay = self.rules.latency.ack(self._rng)
        walk = None
        if order.order_type is OrderType.MARKET and ack_delay is None:
            walk = self._walk(order, mid, filters, budget=None)  # filled right now
            shortfall = self._shortfall(order, pair, walk)
        else:
            shortfall = self._reserve(order, pair, mid)
        if shortfall is not None:
            return self._reject(order, ErrorCode.INSUFFICIENT_BALANCE, shortfall, now)
        if self._rng.random() >= self.rules.success_rate:
            self._release(order)
            return self._reject(order, ErrorCode.MOCK_REJECTION,
                                f"simulated exchange rejection (success rate {self.rules.success_rate})",
                                now)
        self._open[order.order_id] = order
        if order.expire_at is not None:
            self._schedule(order.expire_at, _Timer.EXPIRE, order)
        if ack_delay is not None:
            self._transition(order, PENDING_NEW, None, now)
            order.due_at = now + ack_delay
            self._schedule(order.due_at, _Timer.ARRIVE, order)
            return None
        self._transition(order, NEW, None, now)
        return self._arrive(order, mid, now, walk)

    def _size(self, order: Order, filters: SymbolFilters) -> tuple[ErrorCode, str] | None:
        """Bring the quantity asked to the lot step, as a bot's exchange client does (the
        quantity asked is kept as `requested_quantity`), or in strict mode refuse more
        decimals than the exchange keeps, as Binance does (-1111)."""
        asked = order.quantity
        if self.rules.round_quantity_down:
            order.quantity = filters.round_quantity(asked)
            if order.quantity != asked:
                order.metadata = {**order.metadata, REQUESTED_QUANTITY: asked}
        elif asked != asked.quantize(QUANTITY_STEP, rounding=ROUND_DOWN):
            return ErrorCode.INVALID_ORDER, "Precision is over the maximum defined for this asset."
        return None

    def _invalid(self, order: Order, filters: SymbolFilters, mid: Decimal,
                 now: datetime) -> tuple[ErrorCode, str] | None:
        failure = filters.violation(order.order_type, order.quantity, order.limit_price,
                                    order.stop_price, mid)
        if failure is not None:
            return ErrorCode.FILTER_FAILURE, failure
        if order.quantity * (order.limit_price or order.stop_price or mid) > MAX_NOTIONAL:
            return ErrorCode.INVALID_ORDER, f"order value exceeds {MAX_NOTIONAL:f}"
        if order.expire_at is not None and order.expire_at <= now:
            return ErrorCode.INVALID_ORDER, f"expire_at {order.expire_at.isoformat()} is not in the future"
        return None

    def _reserve(self, order: Order, pair: Pair, mid: Decimal) -> str | None:
        """Lock what the order may spend; the reason if the account cannot."""
        if order.side is Side.SELL:
            asset, amount = pair.base, order.quantity
        else:
            asset = pair.quote
            price = order.limit_price
            rate = self._fees.highest
            if price is None:  # a market buy: its price is only known when it fills
                reference = order.stop_price or mid
                price = reference * (1 + self.books.shape.max_offset_bps / BPS)
                rate = self._fees.taker
            amount = (order.quantity * price * (1 + rate)).quantize(FEE_PLACES, rounding=ROUND_UP)
        wallet = self.accounts[order.account]
        free = wallet.free(asset)
        if free < amount:
            return f"{order.side} {order.quantity} {order.symbol} needs {amount} {asset}, {free} free"
        wallet.lock(asset, amount)
        order.reserved, order.reserved_asset = amount, asset
        return None

    def _shortfall(self, order: Order, pair: Pair, walk: Walk) -> str | None:
        """For a market order filled on the spot: whether the free balance pays for it."""
        if order.side is Side.BUY:
            asset, needed = pair.quote, _cost(walk, self._fees)
        else:
            asset, needed = pair.base, order.quantity
        free = self.accounts[order.account].free(asset)
        if free >= needed:
            return None
        return f"{order.side} {order.quantity} {order.symbol} needs {needed} {asset}, {free} free"

    # Matching

    def _arrive(self, order: Order, mid: Decimal, now: datetime, walk: Walk | None = None) -> None:
        """The order is at the exchange (NEW): stops wait, the rest enter the book."""
        if order.order_type.has_stop_price and order.triggered_at is None:
            if _stop_hit(order, mid):
                return self._finish(order, REJECTED, "Stop price would trigger immediately.", now,
                                    ErrorCode.WOULD_TRIGGER)
            self._stops.setdefault(order.symbol, {})[order.order_id] = order
            return None
        return self._enter(order, mid, now, walk)

    def _enter(self, order: Order, mid: Decimal, now: datetime, walk: Walk | None = None) -> None:
        if not self._marketable(order, mid):
            if order.time_in_force in (TimeInForce.IOC, TimeInForce.FOK):
                return self._finish(order, EXPIRED, f"{order.time_in_force}: nothing to match", now)
            self._come_to_rest(order, mid)
            return None
        if order.order_type is OrderType.LIMIT_MAKER:
            return self._finish(order, REJECTED, "Order would immediately match and take.", now,
                                ErrorCode.WOULD_TAKE)
        delay = None if walk is not None else self.rules.latency.fill(self._rng)
        if delay is not None:
            self._track(order)
            order.due_at = now + delay
            self._schedule(order.due_at, _Timer.TAKE, order)
            return None
        return self._take(order, mid, now, walk)

    def _marketable(self, order: Order, mid: Decimal) -> bool:
        limit = order.limit_price
        if limit is None:
            return True
        best = self.books.best(order.symbol, order.side, mid, self._filters(order, mid))
        return limit >= best if order.side is Side.BUY else limit <= best

    def _take(self, order: Order, mid: Decimal, now: datetime, walk: Walk | None = None) -> None:
        """Cross the synthetic book as a taker; what cannot fill rests (GTC) or expires."""
        if walk is None:
            walk = self._walk(order, mid, self._filters(order, mid), self._budget(order))
        if order.time_in_force is TimeInForce.FOK and walk.quantity < order.remaining:
            return self._finish(order, EXPIRED, "FOK: the book cannot fill it all at once", now)
        if walk.quantity > 0:
            self.books.consume(order.symbol, order.side, walk)
            for _level, quantity, price in walk.taken:  # one trade per price level
                self._fill(order, quantity, price, mid, now, Liquidity.TAKER)
        if order.remaining == 0:
            return None
        if order.limit_price is None or order.time_in_force is TimeInForce.IOC:
            why = "the book held no more" if order.limit_price is None else "IOC"
            return self._finish(order, EXPIRED, f"{why}: {order.remaining} not filled", now)
        self._come_to_rest(order, mid)
        return None

    def _come_to_rest(self, order: Order, mid: Decimal) -> None:
        """The order joins the book; with a queue model, behind what the book holds at its
        price and this service's orders already resting there."""
        self._rest(order)
        self._entered.add(order.order_id)
        if not self.rules.queue.on or order.price is None:
            return
        level = self.books.resting_at(order.symbol, order.side, order.price, mid,
                                      self._filters(order, mid))
        ours = sum((o.remaining for o in self._resting[order.symbol].values()
                    if o.side is order.side and o.price == order.price and o is not order), ZERO)
        self._track(order)
        order.queue_ahead = level + ours

    def _budget(self, order: Order) -> Decimal | None:
        """What a buy may spend as a taker: its reservation and the free balance."""
        if order.side is Side.SELL:
            return None
        pair = split_symbol(order.symbol)
        assert pair is not None
        return self.accounts[order.account].free(pair.quote) + order.reserved

    def _walk(self, order: Order, mid: Decimal, filters: SymbolFilters,
              budget: Decimal | None) -> Walk:
        walk = self.books.walk(order.symbol, order.side, mid, filters, order.remaining,
                               order.limit_price, budget, self._fees.taker)
        if budget is not None:  # (each level's fee is rounded up on its own)
            step = filters.step_size or QUANTITY_STEP
            while walk.quantity > 0 and _cost(walk, self._fees) > budget:
                walk = self.books.walk(order.symbol, order.side, mid, filters,
                                       walk.quantity - step, order.limit_price, None)
        return walk

    def _fill_resting(self, trade: MarketTrade, now: datetime) -> None:
        resting = self._resting.get(trade.symbol)
        if not resting:
            return
        optimistic = self.rules.fill_mode is FillMode.OPTIMISTIC
        strict = self.rules.fill_mode is FillMode.TRADE_THROUGH
        capacity = None if optimistic or trade.quantity is None else trade.quantity
        queued = self.rules.queue.on  # the queue at the price decides, not FILL_MODE
        for side in _RESTING_SIDES[trade.aggressor]:
            crossed = [o for o in resting.values() if o.side is side and o.order_id not in self._entered
                       and _crossed(o, trade.price, strict and not queued)]
            crossed.sort(key=lambda o: (-o.price if side is Side.BUY else o.price,  # type: ignore[operator]
                                        self._arrival[o.order_id]))
            left = capacity
            at_price: Decimal | None = None  # what traded at the price, for the queue there
            for order in crossed:
                assert order.price is not None
                if queued and order.price == trade.price:
                    at_price = (left or ZERO) if at_price is None else at_price
                    quantity = self._behind_queue(order, at_price)
                else:
                    quantity = order.remaining if left is None else min(order.remaining, left)
                    if queued and order.queue_ahead:  # traded through: the whole level went
                        self._track(order)
                        order.queue_ahead = ZERO
                quantity = self._filters(order, trade.price).floor_to_step(quantity)
                if quantity <= 0:
                    if queued:
                        continue  # (the queues behind it still moved)
                    break
                self._fill(order, quantity, order.price, trade.price, now, Liquidity.MAKER)
                if left is not None:
                    left -= quantity

    def _behind_queue(self, order: Order, traded: Decimal) -> Decimal:
        """A trade of `traded` at the order's price: it takes what is ahead first; what is
        left of it may fill the order."""
        ahead = order.queue_ahead or ZERO
        self._track(order)
        order.queue_ahead = max(ZERO, ahead - traded)
        self._traded_here[order.order_id] = self._traded_here.get(order.order_id, ZERO) + traded
        return min(order.remaining, max(ZERO, traded - ahead))

    def _fill(self, order: Order, quantity: Decimal, price: Decimal, mid: Decimal, now: datetime,
              liquidity: Liquidity) -> None:
        pair = split_symbol(order.symbol)
        assert pair is not None
        self._track(order)
        notional = quantity * price
        fee = self._fees.fee(notional, maker=liquidity is Liquidity.MAKER)
        wallet = self.accounts[order.account]
        if order.side is Side.BUY:
            self._pay(order, pair.quote, notional + fee)
            wallet.credit(pair.base, quantity)
        else:
            self._pay(order, pair.base, quantity)
            wallet.credit(pair.quote, notional - fee)
        filled = order.filled_quantity + quantity
        paid = (order.avg_fill_price or ZERO) * order.filled_quantity + notional
        order.filled_quantity = filled
        order.avg_fill_price = (paid / filled).quantize(PRICE_PLACES, rounding=ROUND_HALF_EVEN)
        order.fee += fee
        order.fee_asset = pair.quote
        taker = liquidity is Liquidity.TAKER
        bps = slippage_bps(order.side is Side.BUY, mid, price) if taker else ZERO
        # The order's own slippage is its average price's, across the levels it took.
        order.slippage_bps = (slippage_bps(order.side is Side.BUY, mid, order.avg_fill_price)
                              if taker else ZERO)
        status = FILLED if order.remaining == 0 else PARTIALLY_FILLED
        seq = self._transition(order, status, f"{quantity} @ {price}, fee {fee} {pair.quote}, "
                                              f"{liquidity.value}", now)
        trade = Trade(trade_id=f"{order.order_id}-{seq}", order_id=order.order_id,
                      symbol=order.symbol, side=order.side, quantity=quantity, price=price, fee=fee,
                      fee_asset=pair.quote, slippage_bps=bps, liquidity=liquidity, executed_at=now,
                      account=order.account)
        self._fx.trades.append(trade)
        self.positions.book(trade, pair.quote)
        if status is FILLED:
            self._release(order)
            self._close(order)

    def _pay(self, order: Order, asset: str, amount: Decimal) -> None:
        from_locked = min(amount, order.reserved) if order.reserved_asset == asset else ZERO
        self.accounts[order.account].spend(asset, amount, from_locked)
        order.reserved -= from_locked

    def _trigger(self, order: Order, price: Decimal, now: datetime) -> None:
        del self._stops[order.symbol][order.order_id]
        self._track(order)
        order.triggered_at = now
        self._transition(order, NEW, f"stop price {order.stop_price} reached: traded at {price}", now)
        self._enter(order, price, now)

    def _run_timer(self, kind: _Timer, order: Order, due: datetime) -> None:
        if kind is _Timer.EXPIRE:
            if order.expire_at == due:
                self._finish(order, EXPIRED, "good-till-date reached", due)
            return
        if order.due_at != due:
            return  # superseded
        self._track(order)
        order.due_at = None
        self.books.expire(order.symbol, _ms(due), self.prices.live_max_age_ms)
        mid = self.prices.quote(order.symbol, _ms(due))
        if mid is None:
            return self._finish(order, EXPIRED, "no price for the symbol", due)
        if kind is _Timer.ARRIVE:
            self._transition(order, NEW, None, due)
            return self._arrive(order, mid, due)
        if self._marketable(order, mid):
            return self._take(order, mid, due)
        return self._enter(order, mid, due)  # the price moved away meanwhile

    # Bookkeeping

    def _transition(self, order: Order, status: OrderStatus, detail: str | None,
                    now: datetime, code: ErrorCode | None = None) -> int:
        states.check(order.order_id, order.status if order.version else None, status)
        self._track(order)
        order.status = status
        order.version += 1
        order.updated_at = now
        if code is not None:
            order.error_code, order.error_message = code, detail
        self._fx.events.append(OrderEvent(order.order_id, order.version, status,
                                          f"{code}: {detail}" if code else detail, now))
        self._step[order.order_id] = order
        return order.version

    def _reject(self, order: Order, code: ErrorCode, message: str, now: datetime) -> None:
        self._transition(order, REJECTED, message, now, code)

    def _finish(self, order: Order, status: OrderStatus, detail: str, now: datetime,
                code: ErrorCode | None = None) -> None:
        """End an open order without a fill: canceled, expired, or rejected at arrival."""
        self._transition(order, status, detail, now, code)
        self._release(order)
        self._close(order)

    def _release(self, order: Order) -> None:
        if order.reserved and order.reserved_asset:
            self._track(order)
            self.accounts[order.account].release(order.reserved_asset, order.reserved)
            order.reserved = ZERO

    def _rest(self, order: Order) -> None:
        self._resting.setdefault(order.symbol, {})[order.order_id] = order
        self._arrival.setdefault(order.order_id, next(self._counter))

    def _close(self, order: Order) -> None:
        self._open.pop(order.order_id, None)
        self._traded_here.pop(order.order_id, None)
        self._arrival.pop(order.order_id, None)
        for index in (self._resting, self._stops):
            index.get(order.symbol, {}).pop(order.order_id, None)

    def _track(self, order: Order) -> None:
        """Remember the stored version of an order about to change (for compare-and-set)."""
        if order.order_id not in self._fx.created and order.order_id not in self._fx.updated:
            self._fx.updated[order.order_id] = (order, order.version)

    def _schedule(self, due: datetime, kind: _Timer, order: Order) -> None:
        heapq.heappush(self._timers, (due, next(self._counter), kind, order.order_id))

    def _filters(self, order: Order, price: Decimal) -> SymbolFilters:
        return self.filters.of(order.symbol, price)

    def _end_step(self) -> list[Result]:
        results = [Result(order, f"{order.order_id}:{order.version}",
                          codec.order_result(order, _ms(order.updated_at)))
                   for order in self._step.values()]
        self._fx.results.extend(results)
        self._step.clear()
        self._entered.clear()
        return results


def _stop_hit(order: Order, price: Decimal) -> bool:
    """Whether a trade at `price` reaches the stop: a stop-loss buy above, a take-profit buy
    below, and the other way round for sells."""
    stop = order.stop_price
    assert stop is not None
    above = (order.order_type in _BUY_STOP_ABOVE) == (order.side is Side.BUY)
    return price >= stop if above else price <= stop


def _names_level(update: BookUpdate, order: Order) -> bool:
    """Whether a depth message says what the book holds at the order's price on the side
    it rests on (a BUY rests among the bids): a diff that lists the price, a snapshot whose
    levels reach it (a level within them and not listed is empty)."""
    prices = [price for price, _ in (update.bids if order.side is Side.BUY else update.asks)]
    if not update.snapshot:
        return order.price in prices
    return bool(prices) and min(prices) <= order.price <= max(prices)  # type: ignore[operator]


def _crossed(order: Order, price: Decimal, strict: bool) -> bool:
    limit = order.price
    assert limit is not None
    if order.side is Side.BUY:
        return price < limit if strict else price <= limit
    return price > limit if strict else price >= limit


def _cost(walk: Walk, fees: FeeSchedule) -> Decimal:
    """What a buyer pays for a taker fill of `walk`: each level's value plus its own fee."""
    return sum((quantity * price + fees.taker_fee(quantity * price)
                for _level, quantity, price in walk.taken), ZERO)


def _ms(at: datetime) -> int:
    return int(at.timestamp() * 1000)
