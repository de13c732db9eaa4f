"""What happens to an order, as past-tense events; an order's state is their fold.

The exchange changes an order only by recording an event (`PaperExchange._record`): an
order is `opened` from its `Received` event, then each later event is `apply`-ed to it in
turn. Replaying an order's events from the start gives back its state, field for field.
An event with a `status` is also one `order_events` row (its `detail`) and moves the
order's `version`; the others (a reservation, a delay, the queue ahead) change it quietly.
Balances and positions keep their own change lists (engine/account.py, positions.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_HALF_EVEN, Decimal
from typing import ClassVar

from execution_service.domain.commands import SubmitOrder
from execution_service.domain.orders import (
    REQUESTED_QUANTITY,
    ZERO,
    ErrorCode,
    Liquidity,
    Order,
    OrderStatus,
    Side,
    Source,
    TimeInForce,
    Trade,
)
from execution_service.engine.models import slippage_bps
from execution_service.engine.prices import PRICE_PLACES


@dataclass(frozen=True, slots=True)
class Intake:
    """Where and when an order arrived; `ref` is its idempotency key when it has no client_id."""

    source: Source
    ref: str | None
    at: datetime


@dataclass(frozen=True, slots=True)
class OrderEvent:
    """One row of `order_events`: a status event as stored."""

    order_id: str
    seq: int
    status: OrderStatus
    detail: str | None
    at: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class Event:
    """Something that happened to one order at one time."""

    order_id: str
    at: datetime
    status: ClassVar[OrderStatus | None] = None  # the status it moves the order to, if any

    @property
    def detail(self) -> str | None:
        """What its `order_events` row says."""
        return None

    def apply(self, order: Order) -> None:
        """Change `order` as the event says (the status moves in `apply`, below)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Received(Event):
    """A command became an order; `opened` builds its first state."""

    command: SubmitOrder
    intake: Intake
    list_ref: str | None = None  # the order list it belongs to (its first order's id)
    waits_for: str | None = None  # a pending order of a list: its working order's id


def opened(received: Received) -> Order:
    """The order `received` creates, before anything else has happened to it."""
    command, intake = received.command, received.intake
    tif = command.time_in_force
    if tif is None and command.order_type.has_limit_price:
        tif = TimeInForce.GTC
    return Order(
        order_id=received.order_id, client_id=command.client_id, symbol=command.symbol,
        side=command.side, order_type=command.order_type, quantity=command.quantity,
        price=command.price, status=OrderStatus.NEW, source=intake.source,
        created_at=intake.at, updated_at=intake.at, strategy_id=command.strategy_id,
        bot_id=command.bot_id, intake_ref=intake.ref, metadata=command.metadata,
        time_in_force=tif, stop_price=command.stop_price, expire_at=command.expire_at,
        fingerprint=command.fingerprint, account=command.account,
        binance_rules=command.binance_rules, list_ref=received.list_ref,
        waits_for=received.waits_for)


# Quiet changes: no status, no row.

@dataclass(frozen=True, slots=True, kw_only=True)
class Resized(Event):
    """The quantity asked was brought to the lot step (the request is kept in metadata)."""

    quantity: Decimal

    def apply(self, order: Order) -> None:
        order.metadata = {**order.metadata, REQUESTED_QUANTITY: order.quantity}
        order.quantity = self.quantity


@dataclass(frozen=True, slots=True, kw_only=True)
class Reserved(Event):
    """What the order may spend was locked."""

    asset: str
    amount: Decimal

    def apply(self, order: Order) -> None:
        order.reserved, order.reserved_asset = self.amount, self.asset


@dataclass(frozen=True, slots=True, kw_only=True)
class Released(Event):
    """What the order still held locked went back to the free balance."""

    def apply(self, order: Order) -> None:
        order.reserved = ZERO


@dataclass(frozen=True, slots=True, kw_only=True)
class Delayed(Event):
    """The order waits for its latency delay: until `until`, or no longer (None)."""

    until: datetime | None

    def apply(self, order: Order) -> None:
        order.due_at = self.until


@dataclass(frozen=True, slots=True, kw_only=True)
class Queued(Event):
    """What is ahead of the resting order at its price (the queue model) is now `ahead`."""

    ahead: Decimal

    def apply(self, order: Order) -> None:
        order.queue_ahead = self.ahead


# Status events: each is an `order_events` row.

@dataclass(frozen=True, slots=True, kw_only=True)
class Sent(Event):
    """The order is on its way to the exchange (the latency model), due there at `until`."""

    status = OrderStatus.PENDING_NEW
    until: datetime

    def apply(self, order: Order) -> None:
        order.due_at = self.until


@dataclass(frozen=True, slots=True, kw_only=True)
class Pending(Event):
    """A pending order of a list (OTO) waits, off the book, for its working order to fill."""

    status = OrderStatus.PENDING_NEW

    def apply(self, order: Order) -> None:
        pass


@dataclass(frozen=True, slots=True, kw_only=True)
class Accepted(Event):
    """The exchange holds the order (NEW)."""

    status = OrderStatus.NEW

    def apply(self, order: Order) -> None:
        order.working_at = self.at


@dataclass(frozen=True, slots=True, kw_only=True)
class Triggered(Event):
    """A stop order's stop price traded: it works from now on (NEW again)."""

    status = OrderStatus.NEW
    stop_price: Decimal | None
    traded_at: Decimal

    @property
    def detail(self) -> str:
        return f"stop price {self.stop_price} reached: traded at {self.traded_at}"

    def apply(self, order: Order) -> None:
        order.triggered_at = order.working_at = self.at


@dataclass(frozen=True, slots=True, kw_only=True)
class Rejected(Event):
    """Refused, at submission or on arrival (a post-only order that would take, say)."""

    status = OrderStatus.REJECTED
    code: ErrorCode
    reason: str

    @property
    def detail(self) -> str:
        return f"{self.code}: {self.reason}"

    def apply(self, order: Order) -> None:
        order.error_code, order.error_message = self.code, self.reason


@dataclass(frozen=True, slots=True, kw_only=True)
class Canceled(Event):
    status = OrderStatus.CANCELED

    @property
    def detail(self) -> str:
        return "canceled"


@dataclass(frozen=True, slots=True, kw_only=True)
class Expired(Event):
    status = OrderStatus.EXPIRED
    reason: str

    @property
    def detail(self) -> str:
        return self.reason


@dataclass(frozen=True, slots=True, kw_only=True)
class Filled(Event):
    """One fill (`trade`); `mid` was the market's price then, and `from_reserve` is what it
    took from the order's reservation. Its status is FILLED once nothing remains."""

    trade: Trade
    mid: Decimal
    from_reserve: Decimal
    complete: bool

    @property
    def status(self) -> OrderStatus:  # type: ignore[override]
        return OrderStatus.FILLED if self.complete else OrderStatus.PARTIALLY_FILLED

    @property
    def detail(self) -> str:
        trade = self.trade
        return (f"{trade.quantity} @ {trade.price}, fee {trade.fee} {trade.fee_asset}, "
                f"{trade.liquidity.value}")

    def apply(self, order: Order) -> None:
        trade = self.trade
        filled = order.filled_quantity + trade.quantity
        paid = (order.avg_fill_price or ZERO) * order.filled_quantity + trade.notional
        order.filled_quantity = filled
        order.avg_fill_price = (paid / filled).quantize(PRICE_PLACES, rounding=ROUND_HALF_EVEN)
        order.fee += trade.fee
        order.fee_asset = trade.fee_asset
        order.reserved -= self.from_reserve
        # The order's own slippage is its average price's, across the levels it took.
        order.slippage_bps = (slippage_bps(order.side is Side.BUY, self.mid, order.avg_fill_price)
                              if trade.liquidity is Liquidity.TAKER else ZERO)


def apply(order: Order, event: Event) -> OrderEvent | None:
    """Fold one event into `order`; a status event's `order_events` row, else None."""
    event.apply(order)
    status = event.status
    if status is None:
        return None
    order.status = status
    order.version += 1
    order.updated_at = event.at
    return OrderEvent(order.order_id, order.version, status, event.detail, event.at)


def replay(events: list[Event]) -> Order:
    """An order's state from its events, the first its `Received`."""
    first, *rest = events
    assert isinstance(first, Received)
    order = opened(first)
    for event in rest:
        apply(order, event)
    return order
