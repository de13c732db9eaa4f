"""The paper exchange: Binance spot semantics, deterministic, knows nothing of Redis or SQL.

Orders arrive (`submit`), pass the pre-trade checks (checks.py: kill switch, symbol,
filters, funds), lock what they may spend, and then either take the synthetic book at
once (market orders and marketable limit orders, taker fee), or rest: limit orders until
the tape trades through their price (maker fee, capped by the traded quantity:
matching.py), stop orders until the tape reaches their stop price. A taker fill is one
trade per price level it takes, each with its own fee, as on Binance. Each order trades
its own sub-account's balances (`Ledger`). Time moves through `advance(now)`: latency
delays and GTD expiries are timers (index.py).

Commands in, events out: every change to an order is a typed event (events.py) recorded
by `_record`, which checks the status against the state machine (`domain.states`),
remembers the version the database holds for compare-and-set, and folds the event into
the order. A step ends with one `Result` per order it changed, with a copy of its state
that the pipeline renders to the wire.

With several instances, one matches the tape (`matching`, bus/lease.py): the others move
their prices and books with it but trigger no stop and fill no resting order from it.

A batch runs between `begin()` and `end()`, which hands over the `Effects` to commit.
The exchange changes its state in place as it goes; when a commit fails, the caller
reloads it from the database (`load`).
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from decimal import ROUND_DOWN, Decimal, localcontext

from execution_service.domain import states
from execution_service.domain.commands import BookUpdate, MarketTrade, SubmitOrder
from execution_service.domain.orders import (
    DEFAULT_ACCOUNT,
    QUANTITY_STEP,
    ZERO,
    ErrorCode,
    Liquidity,
    Order,
    OrderStatus,
    OrderType,
    Side,
    TimeInForce,
    Trade,
)
from execution_service.domain.symbols import split_symbol
from execution_service.engine import checks
from execution_service.engine.account import (
    Account,
    Amounts,
    BalanceChange,
    Ledger,
    Valuation,
    valuation,
)
from execution_service.engine.book import Level, SyntheticBooks, Walk
from execution_service.engine.events import (
    Accepted,
    Canceled,
    Delayed,
    Event,
    Expired,
    Filled,
    Intake,
    OrderEvent,
    Pending,
    Queued,
    Received,
    Rejected,
    Released,
    Reserved,
    Resized,
    Sent,
    Triggered,
    apply,
    opened,
)
from execution_service.engine.filters import ExchangeFilters, SymbolFilters
from execution_service.engine.index import OrderIndex, Timer
from execution_service.engine.latency import LatencyModel
from execution_service.engine.matching import (
    FillMode,
    crossing_fills,
    names_level,
    stop_hit,
    tape_matches,
)
from execution_service.engine.models import EXACT, FeeSchedule, slippage_bps
from execution_service.engine.positions import Position, PositionChange, Positions
from execution_service.engine.prices import MarketPrices
from execution_service.engine.queue import QueueModel

__all__ = ["Effects", "ExchangeRules", "FillMode", "PaperExchange", "Result"]


@dataclass(slots=True)
class Result:
    """An order a step changed, to publish as its `order_result`: `state` is the order as
    the step left it, `order` the exchange's own, which later steps may go on changing.
    They are one object until then: an order changed again in the same batch leaves its
    earlier results a copy of what they showed (copying every order would cost more
    than a tenth of the planning)."""

    order: Order
    event_id: str
    state: Order


@dataclass(slots=True)
class Effects:
    """What the exchange changed during one batch, to commit together."""

    created: dict[str, Order] = field(default_factory=dict)  # new orders, in arrival order
    updated: dict[str, tuple[Order, int]] = field(default_factory=dict)  # stored: (order, version read)
    trades: list[Trade] = field(default_factory=list)
    events: list[OrderEvent] = field(default_factory=list)  # the status events, as rows
    history: list[Event] = field(default_factory=list)  # every event, in the order they happened
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
    success_rate: float = 1.0  # the pipeline's orders not randomly rejected
    binance_success_rate: float = 1.0  # the same for orders under Binance's rules
    queue: QueueModel = field(default_factory=QueueModel)


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
        self._index = OrderIndex()
        self._fx = Effects()
        self._step: dict[str, Order] = {}
        self._shown: dict[str, Result] = {}  # this batch's results whose state is the live order
        self._entered: set[str] = set()  # orders that came to rest during this step
        self._traded_here: dict[str, Decimal] = {}  # queue: traded at its price since the book
        self._watched: set[str] = set()  # symbols clients asked about (known to the filters)
        self.matching = True  # this instance matches the tape (the lease's holder)

    # State

    def load(self, balances: dict[tuple[str, str], Amounts], positions: Iterable[Position],
             open_orders: Iterable[Order]) -> None:
        """Take the state the database holds (balances keyed (account, asset)): at start,
        and after a failed commit."""
        self.accounts.reset(balances)
        self.positions.reset(positions)
        self._index.clear()
        self._fx, self._step = Effects(), {}
        self._shown.clear()
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
            if (order := self._index.get(order_id)) is not None:
                self._close(order)
        self._place(accepted)

    def _place(self, open_orders: Iterable[Order]) -> None:
        """Open orders from the database, where each belongs: timers, stops, the book."""
        for order in sorted(open_orders, key=lambda o: (o.created_at, o.order_id)):
            self._index.open(order)
            if order.waiting:
                continue  # (off the book until its working order fills)
            if order.due_at is not None:
                self._index.schedule(order.due_at, Timer.ARRIVE if order.status is OrderStatus.PENDING_NEW
                                     else Timer.TAKE, order)
            elif order.order_type.has_stop_price and order.triggered_at is None:
                self._index.wait_for_stop(order)
            else:
                self._index.rest(order)
            if order.expire_at is not None:
                self._index.schedule(order.expire_at, Timer.EXPIRE, order)

    def open_order(self, order_id: str) -> Order | None:
        return self._index.get(order_id)

    def current(self, order: Order) -> Order:
        """The newest state of `order` this exchange knows: open, or changed in this
        batch, or else as given (a stored order, say)."""
        order_id = order.order_id
        if (held := self._index.get(order_id) or self._fx.created.get(order_id)) is not None:
            return held
        changed = self._fx.updated.get(order_id)
        return changed[0] if changed else order

    def open_orders(self) -> list[Order]:
        return self._index.orders()

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
        return self._index.next_due()

    def account(self, name: str = DEFAULT_ACCOUNT) -> Account:
        """A sub-account's balances (KeyError for one that does not exist)."""
        return self.accounts[name]

    def valuation(self, quote: str, account: str = DEFAULT_ACCOUNT) -> Valuation:
        """A sub-account's worth in `quote` at the last prices (engine/account.py)."""
        return valuation(self.accounts[account], quote, self.prices.last)

    def watch(self, symbol: str) -> None:
        """A client asked about `symbol`'s market: it gets a tape even without orders."""
        self._watched.add(symbol)

    def synthetic_trades(self, notional: Decimal, now: datetime) -> list[MarketTrade]:
        """A trade from the random walk for each symbol with orders waiting on the tape, or
        that a client watches, but no live price: `notional` quote units at the walk's next
        price. Without them, resting and stop orders would never fill when no market-data
        feed runs, and a bot's candles would never move."""
        now_ms = _ms(now)
        if not self.matching:
            return []
        trades = []
        for symbol in sorted(self._index.waiting_symbols() | self._watched):
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
        self._shown.clear()

    def end(self) -> Effects:
        effects, self._fx = self._fx, Effects()
        self._shown.clear()
        effects.balances = self.accounts.changes()
        effects.positions = self.positions.changes()
        return effects

    # Commands

    def submit(self, command: SubmitOrder, intake: Intake, halted: str | None = None) -> Result:
        """A new order; returns its state at the end of this step."""
        with localcontext(EXACT):
            received = Received(order_id=self.new_order_id(), at=intake.at, command=command,
                                intake=intake)
            order = opened(received)
            self._fx.created[order.order_id] = order
            self._fx.history.append(received)
            self._submit(order, intake.at, halted)
            return self._end_step()[0]

    def submit_list(self, commands: tuple[SubmitOrder, ...], intake: Intake,
                    halted: str | None = None, pending: int = 0) -> list[Result]:
        """Orders that stand or fall together (`SubmitOrderList`): all accepted or none.

        An OCO (no `pending`): each is checked and accepted in turn (`_submit_together`);
        once one of them executes, the others expire (`_end_list`). An OTO or OTOCO: the
        last `pending` orders are checked against the first's price and wait for it to fill
        completely (`_place_waiting`). Cancelling any order of a list cancels the others."""
        with localcontext(EXACT):
            orders: list[Order] = []
            for number, command in enumerate(commands):
                order_id = self.new_order_id()
                first = orders[0].order_id if orders else order_id  # (the list's name)
                waits = number >= len(commands) - pending
                received = Received(order_id=order_id, at=intake.at, command=command,
                                    intake=intake, list_ref=first,
                                    waits_for=first if waits else None)
                order = opened(received)
                self._fx.created[order.order_id] = order
                self._fx.history.append(received)
                orders.append(order)
            if pending:
                self._submit_contingent(orders[0], orders[1:], intake.at, halted)
            else:
                self._submit_together(orders, intake.at, halted)
            position = {order.order_id: number for number, order in enumerate(orders)}
            return sorted(self._end_step(), key=lambda result: position[result.order.order_id])

    def _submit_together(self, orders: list[Order], now: datetime, halted: str | None) -> None:
        """An OCO's orders, each checked and accepted in turn; one refused refuses those
        after it and ends those before it. They lock once: each only what the list has not
        locked yet (the one that executes ends the others first, and pays with what they
        gave back)."""
        locked: dict[str, Decimal] = {}  # by the list's orders so far, per asset
        for number, order in enumerate(orders):
            self._submit(order, now, halted, locked)
            if order.status is OrderStatus.REJECTED:
                self._refuse_list(orders, number, now)
                return
            if order.reserved_asset:
                locked[order.reserved_asset] = (locked.get(order.reserved_asset, ZERO)
                                                + order.reserved)

    def _submit_contingent(self, working: Order, waiting: list[Order], now: datetime,
                           halted: str | None) -> None:
        """An OTO or OTOCO: the pending orders' terms are checked at the working order's
        price, where the market will be when it fills; they wait, PENDING_NEW and locking
        nothing, and the working order is submitted."""
        reference = working.limit_price or self.prices.last(working.symbol)
        for number, order in enumerate(waiting):
            refusal = self._pending_refusal(order, reference) if reference else None
            if refusal is not None:
                self._reject(order, *refusal, now)
                return self._refuse_list([order, working, *waiting[:number],
                                          *waiting[number + 1:]], 0, now)
        for order in waiting:
            self._record(order, Pending(order_id=order.order_id, at=now))
            self._index.open(order)
        self._submit(working, now, halted)
        if working.status is OrderStatus.REJECTED:
            reason = f"another order of its list was refused: {working.error_message}"
            for order in waiting:
                assert working.error_code is not None
                self._finish(order, Rejected(order_id=order.order_id, at=now,
                                             code=working.error_code, reason=reason))
        return None

    def _pending_refusal(self, order: Order, reference: Decimal) -> checks.Refusal | None:
        """What a pending order breaks at the price its working order fills at, if any."""
        filters = self.filters.of(order.symbol, reference)
        sized = checks.lot_size(order, filters,
                                self.rules.round_quantity_down and not order.binance_rules)
        if isinstance(sized, tuple):
            return sized
        return checks.violation(order, filters, reference, order.created_at)

    def _place_waiting(self, working: Order, now: datetime) -> None:
        """The working order of an OTO or OTOCO filled completely: its pending orders are
        placed now, checked as any new order (an OTOCO's two as an OCO)."""
        waiting = self._index.waiting_on(working)
        for order in waiting:
            self._index.close(order)  # (until it is accepted)
        self._submit_together(waiting, now, None)

    def _refuse_list(self, orders: list[Order], refused: int, now: datetime) -> None:
        """One order of a new list was refused: those after it are refused for it, those
        before it (accepted already) end."""
        reason = f"another order of its list was refused: {orders[refused].error_message}"
        code = orders[refused].error_code
        assert code is not None
        for order in orders[refused + 1:]:
            self._reject(order, code, reason, now)
        for order in orders[:refused]:
            if order.status.is_open:
                self._expire(order, reason, now)

    def cancel(self, order_id: str, now: datetime) -> Result | None:
        """Cancel an open order (and the other orders of its list); None if it is not open."""
        order = self._index.get(order_id)
        if order is None:
            return None
        with localcontext(EXACT):
            self._finish(order, Canceled(order_id=order_id, at=now))
            for sibling in self._index.siblings(order):
                if self._index.get(sibling.order_id):  # (unless a sibling's end ended it)
                    self._finish(sibling, Canceled(order_id=sibling.order_id, at=now))
            return self._end_step()[0]

    def on_trade(self, trade: MarketTrade, now: datetime) -> list[Result]:
        """A trade on the tape: the price moves, stops trigger, resting orders fill (when
        this instance is the one `matching`)."""
        with localcontext(EXACT):
            if not trade.synthetic:  # the walk's own step already set the price
                self.prices.on_trade(trade.symbol, trade.price, _ms(now))
            if not self.matching:
                return []
            for order in self._index.stops(trade.symbol):
                if stop_hit(order, trade.price) and self._index.get(order.order_id):
                    self._trigger(order, trade.price, now)  # (unless its list ended it)
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
            resting = self._index.resting(update.symbol) if self.matching else []
            named = [o for o in resting if o.queue_ahead is not None and names_level(update, o)]
            before = [self.books.resting_at(o.symbol, o.side, o.price, reference, filters)  # type: ignore[arg-type]
                      for o in named]
            self.books.apply(update, filters, _ms(now))
            for order, level_before in zip(named, before, strict=True):
                self._requeue(order, level_before, reference, filters, now)
            self._fill_crossed(resting, reference, filters, now)
            return self._end_step()

    def advance(self, now: datetime) -> list[Result]:
        """Run the timers due by `now`, each as a step of its own, oldest first."""
        results: list[Result] = []
        with localcontext(EXACT):
            for kind, order, due in self._index.due(now):
                self._run_timer(kind, order, due)
                results.extend(self._end_step())
        return results

    # Submission

    def _submit(self, order: Order, now: datetime, halted: str | None,
                locked: Mapping[str, Decimal] | None = None) -> None:
        """Check and accept a new order; `locked`: what the other orders of its list hold,
        per asset, which it need not lock again."""
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
        sized = checks.lot_size(order, filters,
                                self.rules.round_quantity_down and not order.binance_rules)
        if isinstance(sized, tuple):
            return self._reject(order, *sized, now)
        if sized != order.quantity:
            self._record(order, Resized(order_id=order.order_id, at=now, quantity=sized))
        refusal = checks.violation(order, filters, mid, now)
        if refusal is not None:
            return self._reject(order, *refusal, now)
        ack_delay = self.rules.latency.ack(self._rng)
        walk = None
        if order.order_type is OrderType.MARKET and ack_delay is None:
            walk = self._walk(order, mid, filters, budget=None)  # filled right now
            shortfall = self._shortfall(order, pair.quote if order.side is Side.BUY else pair.base,
                                        walk)
        else:
            asset, amount = checks.reservation(order, pair, mid, self._quote_fees(order),
                                               self.books.shape.max_offset_bps)
            shortfall = self._reserve(order, asset,
                                      max(ZERO, amount - (locked or {}).get(asset, ZERO)), now)
        if shortfall is not None:
            return self._reject(order, ErrorCode.INSUFFICIENT_BALANCE, shortfall, now)
        rate = self.rules.binance_success_rate if order.binance_rules else self.rules.success_rate
        if rate < 1.0 and self._rng.random() >= rate:
            self._release(order, now)
            return self._reject(order, ErrorCode.MOCK_REJECTION,
                                f"simulated exchange rejection (success rate {rate})", now)
        self._index.open(order)
        if order.expire_at is not None:
            self._index.schedule(order.expire_at, Timer.EXPIRE, order)
        if ack_delay is not None:
            self._record(order, Sent(order_id=order.order_id, at=now, until=now + ack_delay))
            self._index.schedule(now + ack_delay, Timer.ARRIVE, order)
            return None
        self._record(order, Accepted(order_id=order.order_id, at=now))
        return self._arrive(order, mid, now, walk)

    def _reserve(self, order: Order, asset: str, amount: Decimal, now: datetime) -> str | None:
        """Lock what the order may spend; the reason if the account cannot."""
        wallet = self.accounts[order.account]
        free = wallet.free(asset)
        if free < amount:
            return checks.needs(order, asset, amount, free)
        if amount:
            wallet.lock(asset, amount)
            self._record(order, Reserved(order_id=order.order_id, at=now, asset=asset,
                                         amount=amount))
        return None

    def _shortfall(self, order: Order, asset: str, walk: Walk) -> str | None:
        """For a market order filled on the spot: whether the free balance pays for it."""
        needed = checks.cost(walk, self._quote_fees(order)) if order.side is Side.BUY else order.quantity
        free = self.accounts[order.account].free(asset)
        return None if free >= needed else checks.needs(order, asset, needed, free)

    # Matching

    def _arrive(self, order: Order, mid: Decimal, now: datetime, walk: Walk | None = None) -> None:
        """The order is at the exchange (NEW): stops wait, the rest enter the book."""
        if order.order_type.has_stop_price and order.triggered_at is None:
            if stop_hit(order, mid):
                return self._finish(order, Rejected(
                    order_id=order.order_id, at=now, code=ErrorCode.WOULD_TRIGGER,
                    reason="Stop price would trigger immediately."))
            self._index.wait_for_stop(order)
            return None
        return self._enter(order, mid, now, walk)

    def _enter(self, order: Order, mid: Decimal, now: datetime, walk: Walk | None = None) -> None:
        if not self._marketable(order, mid):
            if order.time_in_force in (TimeInForce.IOC, TimeInForce.FOK):
                return self._expire(order, f"{order.time_in_force}: nothing to match", now)
            self._come_to_rest(order, mid, now)
            return None
        if order.order_type is OrderType.LIMIT_MAKER:
            return self._finish(order, Rejected(
                order_id=order.order_id, at=now, code=ErrorCode.WOULD_TAKE,
                reason="Order would immediately match and take."))
        delay = None if walk is not None else self.rules.latency.fill(self._rng)
        if delay is not None:
            self._record(order, Delayed(order_id=order.order_id, at=now, until=now + delay))
            self._index.schedule(now + delay, Timer.TAKE, order)
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
            return self._expire(order, "FOK: the book cannot fill it all at once", now)
        if walk.quantity > 0:
            self.books.consume(order.symbol, order.side, walk)
            for _level, quantity, price in walk.taken:  # one trade per price level
                self._fill(order, quantity, price, mid, now, Liquidity.TAKER)
        if order.remaining == 0:
            return None
        if order.limit_price is None or order.time_in_force is TimeInForce.IOC:
            why = "the book held no more" if order.limit_price is None else "IOC"
            return self._expire(order, f"{why}: {order.remaining} not filled", now)
        self._come_to_rest(order, mid, now)
        return None

    def _come_to_rest(self, order: Order, mid: Decimal, now: datetime) -> None:
        """The order joins the book; with a queue model, behind what the book holds at its
        price and this service's orders already resting there."""
        self._index.rest(order)
        self._entered.add(order.order_id)
        if not self.rules.queue.on or order.price is None:
            return
        level = self.books.resting_at(order.symbol, order.side, order.price, mid,
                                      self._filters(order, mid))
        ours = sum((o.remaining for o in self._index.resting(order.symbol)
                    if o.side is order.side and o.price == order.price and o is not order), ZERO)
        self._queue(order, level + ours, now)

    def _budget(self, order: Order) -> Decimal | None:
        """What a buy may spend as a taker: its reservation and the free balance."""
        if order.side is Side.SELL:
            return None
        pair = split_symbol(order.symbol)
        assert pair is not None
        return self.accounts[order.account].free(pair.quote) + order.reserved

    def _walk(self, order: Order, mid: Decimal, filters: SymbolFilters,
              budget: Decimal | None) -> Walk:
        fees = self._quote_fees(order)
        walk = self.books.walk(order.symbol, order.side, mid, filters, order.remaining,
                               order.limit_price, budget, fees.taker)
        if budget is not None:  # (each level's fee is rounded up on its own)
            step = filters.step_size or QUANTITY_STEP
            while walk.quantity > 0 and checks.cost(walk, fees) > budget:
                walk = self.books.walk(order.symbol, order.side, mid, filters,
                                       walk.quantity - step, order.limit_price, None)
        return walk

    def _fill_resting(self, trade: MarketTrade, now: datetime) -> None:
        resting = [o for o in self._index.resting(trade.symbol) if o.order_id not in self._entered]
        if not resting:
            return
        filters = self.filters.of(trade.symbol, trade.price)
        for match in tape_matches(resting, trade, self.rules.fill_mode, self.rules.queue.on,
                                  filters, self._index.priority):
            order = match.order
            if self._index.get(order.order_id) is None:
                continue  # (its list ended it meanwhile)
            if match.traded_here:
                self._traded_here[order.order_id] = (self._traded_here.get(order.order_id, ZERO)
                                                     + match.traded_here)
            if match.ahead is not None:
                self._queue(order, match.ahead, now)
            if match.quantity > 0:
                assert order.price is not None
                self._fill(order, match.quantity, order.price, trade.price, now, Liquidity.MAKER)

    def _requeue(self, order: Order, level_before: Decimal, reference: Decimal,
                 filters: SymbolFilters, now: datetime) -> None:
        """The order's level went from `level_before` to what the book now holds: what is
        ahead of it moves by the queue model, the trades there since its level last changed
        explaining the decrease first (and counted once: they are forgotten now)."""
        assert order.price is not None
        assert order.queue_ahead is not None
        level_after = self.books.resting_at(order.symbol, order.side, order.price, reference,
                                            filters)
        ahead = self.rules.queue.after_depth(order.queue_ahead, self._traded_here.pop(
            order.order_id, ZERO), level_before, level_after)
        self._queue(order, ahead, now)

    def _fill_crossed(self, resting: list[Order], reference: Decimal, filters: SymbolFilters,
                      now: datetime) -> None:
        """Resting orders the real book now crosses fill at once, as makers at their limit
        (matching.crossing_fills); the book came to them: nothing is ahead any more."""
        for order, quantity in crossing_fills(resting, self.books, reference, filters,
                                              self._index.priority):
            assert order.price is not None
            if order.queue_ahead:
                self._queue(order, ZERO, now)
            self._fill(order, quantity, order.price, reference, now, Liquidity.MAKER)

    def _fill(self, order: Order, quantity: Decimal, price: Decimal, mid: Decimal, now: datetime,
              liquidity: Liquidity) -> None:
        pair = split_symbol(order.symbol)
        assert pair is not None
        self._end_list(order, now)  # (first: what the others lock may pay for this fill)
        notional = quantity * price
        maker = liquidity is Liquidity.MAKER
        wallet = self.accounts[order.account]
        if order.side is Side.SELL:  # the commission in the quote asset, which it receives
            fee, fee_asset = self._fees.fee(notional, maker), pair.quote
            from_reserve = self._pay(order, pair.base, quantity)
            wallet.credit(pair.quote, notional - fee)
        elif order.binance_rules:  # Binance's: in the base asset, which a buy receives
            fee, fee_asset = self._fees.fee(quantity, maker), pair.base
            from_reserve = self._pay(order, pair.quote, notional)
            wallet.credit(pair.base, quantity - fee)
        else:  # the pipeline's (upstream's results read a USDT `fees`): in the quote asset
            fee, fee_asset = self._fees.fee(notional, maker), pair.quote
            from_reserve = self._pay(order, pair.quote, notional + fee)
            wallet.credit(pair.base, quantity)
        bps = slippage_bps(order.side is Side.BUY, mid, price) if liquidity is Liquidity.TAKER else ZERO
        trade = Trade(trade_id=f"{order.order_id}-{order.version + 1}", order_id=order.order_id,
                      symbol=order.symbol, side=order.side, quantity=quantity, price=price, fee=fee,
                      fee_asset=fee_asset, slippage_bps=bps, liquidity=liquidity, executed_at=now,
                      account=order.account)
        complete = quantity == order.remaining
        self._record(order, Filled(order_id=order.order_id, at=now, trade=trade, mid=mid,
                                   from_reserve=from_reserve, complete=complete))
        self._fx.trades.append(trade)
        self.positions.book(trade, pair.quote)
        if complete:
            self._release(order, now)
            self._close(order)
            self._place_waiting(order, now)

    def _quote_fees(self, order: Order) -> FeeSchedule:
        """The fees a buy pays in the quote asset: none for one paying in the base asset."""
        return _NO_FEES if order.binance_rules else self._fees

    def _end_list(self, order: Order, now: datetime) -> None:
        """The order executed (a fill, a triggered stop): the others of its OCO expire."""
        for peer in self._index.peers(order):
            self._expire(peer, "another order of its list executed", now)

    def _pay(self, order: Order, asset: str, amount: Decimal) -> Decimal:
        """Spend `amount` of `asset` for the order, from its reservation first; what came
        from the reservation."""
        from_locked = min(amount, order.reserved) if order.reserved_asset == asset else ZERO
        self.accounts[order.account].spend(asset, amount, from_locked)
        return from_locked

    def _trigger(self, order: Order, price: Decimal, now: datetime) -> None:
        self._index.stop_reached(order)
        self._record(order, Triggered(order_id=order.order_id, at=now,
                                      stop_price=order.stop_price, traded_at=price))
        self._end_list(order, now)
        self._enter(order, price, now)

    def _run_timer(self, kind: Timer, order: Order, due: datetime) -> None:
        if kind is Timer.EXPIRE:
            if order.expire_at == due:
                self._expire(order, "good-till-date reached", due)
            return
        if order.due_at != due:
            return  # superseded
        self._record(order, Delayed(order_id=order.order_id, at=due, until=None))
        self.books.expire(order.symbol, _ms(due), self.prices.live_max_age_ms)
        mid = self.prices.quote(order.symbol, _ms(due))
        if mid is None:
            return self._expire(order, "no price for the symbol", due)
        if kind is Timer.ARRIVE:
            self._record(order, Accepted(order_id=order.order_id, at=due))
            return self._arrive(order, mid, due)
        if self._marketable(order, mid):
            return self._take(order, mid, due)
        return self._enter(order, mid, due)  # the price moved away meanwhile

    # Recording

    def _record(self, order: Order, event: Event) -> None:
        """Fold `event` into `order`, after the state machine allows its status; remember
        the version the database holds (for compare-and-set) before the first change."""
        if event.status is not None:
            states.check(order.order_id, order.status if order.version else None, event.status)
        fx = self._fx
        if order.order_id not in fx.created and order.order_id not in fx.updated:
            fx.updated[order.order_id] = (order, order.version)
        if (shown := self._shown.pop(order.order_id, None)) is not None:
            shown.state = replace(order)  # (its result keeps what it showed)
        row = apply(order, event)
        fx.history.append(event)
        if row is not None:
            fx.events.append(row)
            self._step[order.order_id] = order

    def _queue(self, order: Order, ahead: Decimal, now: datetime) -> None:
        if ahead != order.queue_ahead:
            self._record(order, Queued(order_id=order.order_id, at=now, ahead=ahead))

    def _reject(self, order: Order, code: ErrorCode, reason: str, now: datetime) -> None:
        self._record(order, Rejected(order_id=order.order_id, at=now, code=code, reason=reason))

    def _expire(self, order: Order, reason: str, now: datetime) -> None:
        self._finish(order, Expired(order_id=order.order_id, at=now, reason=reason))

    def _finish(self, order: Order, event: Canceled | Expired | Rejected) -> None:
        """End an open order without a fill: canceled, expired, or rejected on arrival;
        the pending orders waiting for it to fill end with it."""
        self._record(order, event)
        self._release(order, event.at)
        self._close(order)
        for waiting in self._index.waiting_on(order):
            self._finish(waiting, Canceled(order_id=waiting.order_id, at=event.at)
                         if isinstance(event, Canceled) else
                         Expired(order_id=waiting.order_id, at=event.at,
                                 reason="its working order ended unfilled"))

    def _release(self, order: Order, now: datetime) -> None:
        if order.reserved and order.reserved_asset:
            self.accounts[order.account].release(order.reserved_asset, order.reserved)
            self._record(order, Released(order_id=order.order_id, at=now))

    def _close(self, order: Order) -> None:
        self._index.close(order)
        self._traded_here.pop(order.order_id, None)

    def _filters(self, order: Order, price: Decimal) -> SymbolFilters:
        return self.filters.of(order.symbol, price)

    def _end_step(self) -> list[Result]:
        results = [Result(order, f"{order.order_id}:{order.version}", order)
                   for order in self._step.values()]
        self._shown.update((result.order.order_id, result) for result in results)
        self._fx.results.extend(results)
        self._step.clear()
        self._entered.clear()
        return results


_NO_FEES = FeeSchedule(taker=ZERO, maker=ZERO)


def _ms(at: datetime) -> int:
    return int(at.timestamp() * 1000)
