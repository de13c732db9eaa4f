"""Commands: what a sender asks the service to do, already validated."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from execution_service.domain.orders import DEFAULT_ACCOUNT, OrderType, Side, TimeInForce


@dataclass(frozen=True, slots=True)
class SubmitOrder:
    """Execute an order. Quantities and prices are exact decimals from here on."""

    symbol: str
    side: Side
    quantity: Decimal
    order_type: OrderType = OrderType.MARKET
    client_id: str | None = None
    price: Decimal | None = None
    strategy_id: str | None = None
    bot_id: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    time_in_force: TimeInForce | None = None  # limit types only; GTC when not given
    stop_price: Decimal | None = None
    expire_at: datetime | None = None
    fingerprint: str | None = None  # with `client_id`, what makes a copy the same order
    account: str = DEFAULT_ACCOUNT  # the sub-account whose balances it trades
    # Binance's own rules, whatever the service's settings say for the pipeline's intakes:
    # the lot step enforced, never a simulated rejection (orders from Binance's API).
    binance_rules: bool = False


@dataclass(frozen=True, slots=True)
class SubmitOrderList:
    """Orders that stand or fall together: all accepted or none, and once one of them is
    canceled, the others are too. Without `pending`, an OCO: once one executes (fills, or
    a stop triggers), the others expire. With it (OTO, OTOCO), the last `pending` orders
    wait for the first to fill completely, and are placed then, as an OCO if two."""

    orders: tuple[SubmitOrder, ...]
    pending: int = 0


@dataclass(frozen=True, slots=True)
class CancelOrder:
    """Cancel an open order, named by `order_id` or by `client_id`; with `account`, only
    that sub-account's orders are found (an order of another is unknown to it)."""

    order_id: str | None = None
    client_id: str | None = None
    account: str | None = None


@dataclass(frozen=True, slots=True)
class SetKillSwitch:
    """Engage (`active=True`) or release the kill switch.

    `control_id` is the control-stream entry that caused it, remembered so that a
    restart never replays old entries into a new trigger.
    """

    active: bool
    reason: str
    control_id: str | None = None


@dataclass(frozen=True, slots=True)
class MarketTrade:
    """A trade on the market-data channel: moves the price, triggers stops, fills resting
    orders. `quantity` is None when the feed did not say how much traded. `aggressor` is the
    side that took liquidity (a sell takes the bids), None when the feed did not say. A
    `synthetic` trade comes from the random walk (no feed is live) and does not count as a
    live price."""

    symbol: str
    price: Decimal
    quantity: Decimal | None
    ts_ms: int
    synthetic: bool = False
    aggressor: Side | None = None


BookLevels = tuple[tuple[Decimal, Decimal], ...]  # (price, quantity), best first


@dataclass(frozen=True, slots=True)
class BookUpdate:
    """A real order book from the depth channel: a `snapshot` of its top levels replaces
    what was known, a diff changes the levels it names (quantity 0 removes one)."""

    symbol: str
    bids: BookLevels
    asks: BookLevels
    snapshot: bool
    ts_ms: int = 0


@dataclass(frozen=True, slots=True)
class SnapshotEquity:
    """Store the account's value (the equity timer): taken after the batch's other commands."""


@dataclass(frozen=True, slots=True)
class Tick:
    """An exchange timer is due (a latency delay, a good-till-date): a batch runs for it."""


TapeEvent = MarketTrade | BookUpdate  # what the market-data channels carry, in order
Command = (SubmitOrder | SubmitOrderList | CancelOrder | SetKillSwitch | MarketTrade | BookUpdate
           | SnapshotEquity | Tick)
