"""Binance's user data stream: an account's order, trade and balance changes, pushed once
they are committed, never before.

Two ways to follow an account, as on Binance:

- a listen key (`POST /api/v3/userDataStream` with the API key, valid 60 minutes,
  extended by `PUT`, ended by `DELETE`), then the socket `/ws/<listenKey>`; when a key
  lapses its socket gets `listenKeyExpired` and closes;
- the WebSocket API (`/ws-api/v3`): `userDataStream.subscribe.signature` with the API
  key, a timestamp and the HMAC signature of the sorted parameters; events then come as
  `{"subscriptionId", "event"}` on that connection.

Events: `executionReport` for each change of an order (NEW, each fill as a TRADE with
that fill's quantity, price, commission and trade id, CANCELED, EXPIRED; an order list's
pending order as NEW with status PENDING_NEW; orders refused at placement are not
reported, Binance never creates them), a `listStatus` for each order list the batch
changed, then one `outboundAccountPosition` with the assets the batch changed. They go
out in commit order: a committed batch is rendered in the pipeline's turn (the order's
state at each event is known only then), queued, and the ids Binance clients use
(`orderId`, `tradeId`, `orderListId`, given by the database) are read before it is sent.

A client that reconnects has missed what happened while it was away, as on Binance: it
reads the state it keeps again (`openOrders`, `account`, `myTrades`) after subscribing.
Listen keys are held in memory: after a restart the service knows none (-1125 on `PUT`),
and a client asks for a new one.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections import deque
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, Header

from execution_service.api import schemas
from execution_service.api.binance.errors import BinanceError
from execution_service.api.binance.hub import Background, StreamHub
from execution_service.api.binance.lists import list_view
from execution_service.api.binance.params import now_ms, text
from execution_service.api.binance.signing import known_key
from execution_service.api.binance.trading import QUOTE_ORDER_QTY
from execution_service.api.deps import Context
from execution_service.api.responses import Answer
from execution_service.domain.orders import ZERO, Order, OrderStatus, Trade
from execution_service.engine.events import (
    Accepted,
    Canceled,
    Event,
    Expired,
    Filled,
    Pending,
)

if TYPE_CHECKING:
    from execution_service.api.context import ApiContext
    from execution_service.engine.exchange import Effects

LOG = logging.getLogger(__name__)

KEY_LIFETIME_MS = 60 * 60_000
MAX_QUEUED_BATCHES = 10_000
_ZERO = text(ZERO)

router = APIRouter()
_KEYED = schemas.problems(400, 401, binance=True)
ApiKeyHeader = Annotated[str | None, Header(alias="X-MBX-APIKEY", max_length=128)]


@dataclass
class ListenKey:
    key: str
    api_key: str
    account: str
    expires_ms: int


@dataclass
class _Report:
    """An executionReport waiting for the numbers the database gives."""

    account: str
    event: dict[str, Any]
    order_id: str
    list_ref: str | None
    trade_id: str | None


@dataclass
class _Batch:
    reports: list[_Report] = field(default_factory=list)
    positions: dict[str, dict[str, Any]] = field(default_factory=dict)  # by account


class UserStreams:
    """The listen keys, and each committed batch's events for the accounts followed."""

    def __init__(self, hub: StreamHub) -> None:
        self.hub = hub
        self._keys: dict[str, ListenKey] = {}
        self._batches: deque[_Batch] = deque()
        self._wake = asyncio.Event()
        self._task = Background()
        self.overflowed = 0  # times the queue was full and its followers were dropped

    # Listen keys

    def open(self, api_key: str, account: str, now_ms: int) -> str:
        """The key's listen key (the one it has, extended, as Binance does), or a new one."""
        for held in self._keys.values():
            if held.api_key == api_key:
                held.expires_ms = now_ms + KEY_LIFETIME_MS
                return held.key
        key = secrets.token_urlsafe(45)[:60]
        self._keys[key] = ListenKey(key, api_key, account, now_ms + KEY_LIFETIME_MS)
        return key

    def extend(self, key: str, api_key: str, now_ms: int) -> bool:
        held = self._keys.get(key)
        if held is None or held.api_key != api_key or held.expires_ms <= now_ms:
            return False
        held.expires_ms = now_ms + KEY_LIFETIME_MS
        return True

    def close_key(self, key: str, api_key: str, now_ms: int) -> bool:
        held = self._keys.get(key)
        if held is None or held.api_key != api_key:
            return False
        del self._keys[key]
        self._lapsed(key, now_ms)
        return True

    def account_of(self, key: str, now_ms: int) -> str | None:
        held = self._keys.get(key)
        return held.account if held is not None and held.expires_ms > now_ms else None

    def expire(self, now_ms: int) -> None:
        """Keys past their time: their sockets are told and closed."""
        for held in [k for k in self._keys.values() if k.expires_ms <= now_ms]:
            del self._keys[held.key]
            self._lapsed(held.key, now_ms)

    def _lapsed(self, key: str, now_ms: int) -> None:
        self.hub.publish(key, {"e": "listenKeyExpired", "E": now_ms, "listenKey": key})
        self.hub.close_stream(key)

    def streams_of(self, account: str) -> list[str]:
        """The hub's streams an account's events go to: its listen keys' and its own (the
        WebSocket API's subscriptions)."""
        return [k.key for k in self._keys.values() if k.account == account] + [
            account_stream(account)]

    # Commits

    def committed(self, effects: Effects, now_ms: int) -> None:
        """Render the batch's events for the accounts someone follows, in the order they
        happened, and queue them (numbered and sent by the task)."""
        followed = {account for account in _accounts(effects)
                    if any(self.hub.listened(s) for s in self.streams_of(account))}
        if not followed:
            return
        batch = _Batch()
        orders = {**{o.order_id: o for o, _ in effects.updated.values()}, **effects.created}
        filled_before = _filled_before(effects, orders)
        for event in effects.history:
            order = orders.get(event.order_id)
            if order is not None and order.account in followed:
                report = _report(event, order, filled_before, now_ms)
                if report is not None:
                    batch.reports.append(report)
        for change in effects.balances:
            if change.account in followed:
                balances = batch.positions.setdefault(change.account, {
                    "e": "outboundAccountPosition", "E": now_ms, "u": now_ms, "B": []})
                balances["B"].append({"a": change.asset, "f": text(change.new.free),
                                      "l": text(change.new.locked)})
        if len(self._batches) >= MAX_QUEUED_BATCHES:  # the database cannot keep up
            self._overflow(followed)
            return
        self._batches.append(batch)
        self._wake.set()

    def _overflow(self, followed: set[str]) -> None:
        """The queue is full (the database has been away that long): every follower of an
        account with events dropped is closed, as Binance closes a stream it cannot serve;
        a client reconnects and reads the state again."""
        self.overflowed += 1
        accounts = set(followed)
        for dropped in self._batches:
            accounts |= {r.account for r in dropped.reports} | set(dropped.positions)
        self._batches.clear()
        for account in accounts:
            for stream in self.streams_of(account):
                self.hub.close_stream(stream)

    def start(self, context: ApiContext) -> None:
        """Number and send the queued batches (while anyone follows an account)."""
        self._task.ensure(lambda: self._run(context))

    async def close(self) -> None:
        await self._task.stop()

    async def _run(self, context: ApiContext) -> None:
        while self.hub.listeners:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), 1.0)
            self._wake.clear()
            self.expire(now_ms(context.clock))
            while self._batches:
                batch = self._batches[0]
                try:
                    await self._send(context, batch)
                except Exception:  # the database is away: the batch waits, in order
                    LOG.warning("user data stream: numbering a batch failed; retrying",
                                exc_info=True)
                    await asyncio.sleep(1.0)
                    break
                self._batches.popleft()

    async def _send(self, context: ApiContext, batch: _Batch) -> None:
        """Read what the batch's events need from the database, then send them all (a
        read that fails sends nothing: the batch is tried again whole)."""
        order_ids = {r.order_id for r in batch.reports} | {
            r.list_ref for r in batch.reports if r.list_ref}
        orders = await context.reads.order_numbers(order_ids)
        trades = await context.reads.trade_numbers(
            {r.trade_id for r in batch.reports if r.trade_id})
        now = now_ms(context.clock)
        statuses = []
        for account, number in sorted({(r.account, orders[r.list_ref]) for r in batch.reports
                                       if r.list_ref and r.list_ref in orders}):
            members = await context.reads.account_list(account, number=number)
            if members:
                statuses.append((account, _list_status(members, now)))
        for report in batch.reports:
            event = report.event
            event["i"] = orders.get(report.order_id, -1)
            event["g"] = orders.get(report.list_ref, -1) if report.list_ref else -1
            event["t"] = trades.get(report.trade_id, -1) if report.trade_id else -1
            self._publish(report.account, event)
        for account, status in statuses:
            self._publish(account, status)
        for account, position in batch.positions.items():
            self._publish(account, position)

    def _publish(self, account: str, event: dict[str, Any]) -> None:
        for stream in self.streams_of(account):
            self.hub.publish(stream, event)


def _list_status(members: list[Order], now: int) -> dict[str, Any]:
    """An order list as the user data stream's `listStatus` shows it."""
    view = list_view(members)
    return {"e": "listStatus", "E": now, "s": view["symbol"], "g": view["orderListId"],
            "c": view["contingencyType"], "l": view["listStatusType"],
            "L": view["listOrderStatus"], "r": "NONE", "C": view["listClientOrderId"],
            "T": view["transactionTime"],
            "O": [{"s": o["symbol"], "i": o["orderId"], "c": o["clientOrderId"]}
                  for o in view["orders"]]}


def account_stream(account: str) -> str:
    """The hub's stream of an account's events for WebSocket API subscriptions."""
    return f"account:{account}"


def _accounts(effects: Effects) -> set[str]:
    return ({o.account for o in effects.created.values()}
            | {o.account for o, _ in effects.updated.values()}
            | {change.account for change in effects.balances})


def _filled_before(effects: Effects, orders: dict[str, Order]) -> dict[str, tuple[Decimal, Decimal]]:
    """Each order's executed quantity and quote before the batch: its state after it, less
    the batch's fills."""
    before = {order_id: (order.filled_quantity, order.filled_quantity * (order.avg_fill_price
                                                                         or ZERO))
              for order_id, order in orders.items()}
    for event in effects.history:
        if isinstance(event, Filled) and event.order_id in before:
            quantity, quote = before[event.order_id]
            before[event.order_id] = (quantity - event.trade.quantity,
                                      quote - event.trade.quantity * event.trade.price)
    return before


_REPORTED = {Pending: ("NEW", OrderStatus.PENDING_NEW), Accepted: ("NEW", OrderStatus.NEW),
             Canceled: ("CANCELED", OrderStatus.CANCELED), Expired: ("EXPIRED", OrderStatus.EXPIRED)}


def _report(event: Event, order: Order, filled: dict[str, tuple[Decimal, Decimal]],
            now_ms: int) -> _Report | None:
    """The executionReport of one event of `order`, if Binance sends one for it."""
    trade: Trade | None = None
    if isinstance(event, Filled):
        trade = event.trade
        quantity, quote = filled[order.order_id]
        filled[order.order_id] = (quantity + trade.quantity, quote + trade.quantity * trade.price)
        execution = "TRADE"
        status = OrderStatus.FILLED if event.complete else OrderStatus.PARTIALLY_FILLED
    elif type(event) in _REPORTED:
        execution, status = _REPORTED[type(event)]
    else:
        return None
    cumulative, cumulative_quote = filled[order.order_id]
    at = int(event.at.timestamp() * 1000)
    report = {
        "e": "executionReport", "E": now_ms, "s": order.symbol,
        "c": order.client_id or order.order_id, "S": order.side.value,
        "o": order.order_type.value,
        "f": order.time_in_force.value if order.time_in_force else "GTC",
        "q": text(order.quantity), "p": text(order.limit_price or ZERO),
        "P": text(order.stop_price or ZERO), "F": _ZERO, "g": -1,
        "C": order.client_id or order.order_id if execution == "CANCELED" else "",
        "x": execution, "X": status.value, "r": "NONE", "i": -1,
        "l": text(trade.quantity if trade else ZERO), "z": text(cumulative),
        "L": text(trade.price if trade else ZERO), "n": text(trade.fee) if trade else "0",
        "N": trade.fee_asset if trade else None, "T": at, "t": -1, "I": 0,
        "w": status in (OrderStatus.NEW, OrderStatus.PARTIALLY_FILLED)
        and not (order.order_type.has_stop_price and order.triggered_at is None),
        "m": trade is not None and trade.liquidity.value == "MAKER", "M": False,
        "O": int(order.created_at.timestamp() * 1000), "Z": text(cumulative_quote),
        "Y": text(trade.quantity * trade.price if trade else ZERO),
        "Q": text(Decimal(order.metadata.get(QUOTE_ORDER_QTY, 0))),
        "W": at if execution == "NEW" and status is OrderStatus.NEW else
        int((order.working_at or order.created_at).timestamp() * 1000),
        "V": "NONE"}
    return _Report(order.account, report, order.order_id, order.list_ref,
                   trade.trade_id if trade else None)


# Listen keys over REST

@router.post("/userDataStream", response_model=schemas.ListenKey, responses=_KEYED)
async def new_listen_key(context: Context, api_key: ApiKeyHeader = None
                         ) -> Answer[schemas.ListenKey]:
    """A listen key for the key's account (the one it holds, extended, if it has one)."""
    key = known_key(context.api_keys, api_key)
    users = _users(context)
    return Answer({"listenKey": users.open(key.key, key.account, now_ms(context.clock))})


@router.put("/userDataStream", response_model=schemas.Empty, responses=_KEYED)
async def keep_listen_key(context: Context, listenKey: str | None = None,  # noqa: N803
                          api_key: ApiKeyHeader = None) -> Answer[schemas.Empty]:
    """Another 60 minutes for the listen key."""
    key = known_key(context.api_keys, api_key)
    if not listenKey:
        raise BinanceError.missing("listenKey")
    if not _users(context).extend(listenKey, key.key, now_ms(context.clock)):
        raise BinanceError(-1125, "This listenKey does not exist.")
    return Answer({})


@router.delete("/userDataStream", response_model=schemas.Empty, responses=_KEYED)
async def close_listen_key(context: Context, listenKey: str | None = None,  # noqa: N803
                           api_key: ApiKeyHeader = None) -> Answer[schemas.Empty]:
    key = known_key(context.api_keys, api_key)
    if not listenKey:
        raise BinanceError.missing("listenKey")
    if not _users(context).close_key(listenKey, key.key, now_ms(context.clock)):
        raise BinanceError(-1125, "This listenKey does not exist.")
    return Answer({})


def _users(context: ApiContext) -> UserStreams:
    return context.streams.users
