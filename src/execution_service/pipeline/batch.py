"""One batch, planned: decode every envelope, drop duplicates, run the rest on the exchange.

The planner does no I/O. It is given the orders the store already holds under the
batch's keys, and returns a `Plan`: the unit of work to commit, the replies to send, the
entries to acknowledge and the counts to report. The exchange changes its own state as
the plan is made; if the commit fails, the pipeline reloads that state from the database.
"""

from __future__ import annotations

import logging
import uuid
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, cast

from execution_service.bus.envelope import EntryRef, Envelope, Outcome, Reply
from execution_service.domain import codec
from execution_service.domain.commands import (
    BookUpdate,
    CancelOrder,
    Command,
    MarketTrade,
    SetKillSwitch,
    SnapshotEquity,
    SubmitOrder,
    SubmitOrderList,
    Tick,
)
from execution_service.domain.orders import ErrorCode, Order, OrderStatus
from execution_service.domain.states import IllegalTransition
from execution_service.domain.wire import KillSwitchState
from execution_service.engine.events import Intake
from execution_service.engine.exchange import PaperExchange, Result
from execution_service.errors import InvalidMessage
from execution_service.logs import OncePerCause
from execution_service.pipeline.work import (
    EquitySnapshot,
    KeptInvalid,
    OutboxMessage,
    RejectedMessage,
    UnitOfWork,
)

log = logging.getLogger(__name__)
_unexpected = OncePerCause(log)

KILL_SWITCH_KEY = "kill_switch"
CONTROL_CURSOR_KEY = "control_stream"
_STORED_PAYLOAD_BYTES = 65_536


@dataclass(frozen=True, slots=True)
class KillSwitch:
    """Whether new orders are refused, since when and why."""

    active: bool = False
    reason: str | None = None
    since: str | None = None

    def as_dict(self) -> KillSwitchState:
        return {"active": self.active, "reason": self.reason, "since": self.since}

    @classmethod
    def from_dict(cls, value: dict[str, Any] | None) -> KillSwitch:
        if not value:
            return cls()
        return cls(bool(value.get("active")), value.get("reason"), value.get("since"))


Decoded = tuple[Envelope, Command | InvalidMessage]


def decode(envelope: Envelope, max_bytes: int, max_deliveries: int = 5) -> Command | InvalidMessage:
    """The envelope's command, or the reason it is not one. An entry delivered more than
    `max_deliveries` times without its batch committing is not read again: whatever it
    does (it may be what stopped the process each time) it is rejected unread."""
    if envelope.command is not None:
        return envelope.command
    if envelope.deliveries > max_deliveries:
        return InvalidMessage(f"delivered {envelope.deliveries} times without being committed; "
                              "quarantined unread")
    payload = envelope.payload
    try:
        if isinstance(payload, dict):
            size = sum(len(key) + len(value) for key, value in payload.items())
            _check_size(size, max_bytes)
            return codec.decode_stream_fields(payload)
        if isinstance(payload, bytes):
            _check_size(envelope.size or len(payload), max_bytes)
            return codec.decode_json(payload)
        return InvalidMessage("empty message")
    except InvalidMessage as invalid:
        return invalid
    except Exception as exc:  # one message may fail; the service may not
        _unexpected.exception("could not decode a %s message", exc, envelope.source.value)
        return InvalidMessage(f"could not be read ({type(exc).__name__})")


def _check_size(size: int, max_bytes: int) -> None:
    if size > max_bytes:
        raise InvalidMessage(f"message of {size} bytes exceeds the limit of {max_bytes}")


def lookup_keys(
    decoded: list[Decoded], recent: RecentKeys | None = None
) -> tuple[set[str], set[str], set[str]]:
    """The client ids, intake refs and order ids whose stored orders the plan must see.

    With `recent`, an order's key is looked up only if this process stored an order under
    it lately (a copy from the other intake, a retry): the unique indexes on `client_id`
    and `intake_ref` still refuse any other duplicate, and the batch is then run again with
    every key looked up. Cancel targets are always looked up.
    """
    client_ids: set[str] = set()
    intake_refs: set[str] = set()
    order_ids: set[str] = set()
    for envelope, command in decoded:
        if isinstance(command, SubmitOrderList):  # (a list's orders each have a client id)
            client_ids.update(order.client_id for order in command.orders if order.client_id
                              and (recent is None or order.client_id in recent))
        elif isinstance(command, SubmitOrder):
            if command.client_id:  # a client_id, when given, is the key
                if recent is None or command.client_id in recent:
                    client_ids.add(command.client_id)
            elif envelope.intake_ref and (recent is None or envelope.intake_ref in recent):
                intake_refs.add(envelope.intake_ref)
        elif isinstance(command, CancelOrder):
            if command.client_id:
                client_ids.add(command.client_id)
            if command.order_id:
                order_ids.add(command.order_id)
    return client_ids, intake_refs, order_ids


class RecentKeys:
    """The client ids and intake refs of the orders this process stored lately: between
    `size` and twice that many, in two generations, so memory stays flat."""

    def __init__(self, size: int = 100_000) -> None:
        self._size = size
        self._current: set[str] = set()
        self._previous: set[str] = set()

    def __contains__(self, key: str) -> bool:
        return key in self._current or key in self._previous

    def add(self, orders: Iterable[Order]) -> None:
        for order in orders:
            if order.client_id:
                self._current.add(order.client_id)
            if order.intake_ref:
                self._current.add(order.intake_ref)
        if len(self._current) >= self._size:
            self._previous, self._current = self._current, set()


@dataclass(slots=True)
class Plan:
    """What one batch does, ready to commit."""

    work: UnitOfWork
    kill_switch: KillSwitch
    replies: list[tuple[Envelope, Reply]] = field(default_factory=list)
    acks: list[EntryRef] = field(default_factory=list)
    messages: Counter[str] = field(default_factory=Counter)  # order messages, copies included
    received: Counter[str] = field(default_factory=Counter)  # orders: the first copy of each
    filled: int = 0
    rejected: Counter[str] = field(default_factory=Counter)
    duplicates: int = 0
    illegal: int = 0  # status changes the state machine refused
    answered: list[datetime] = field(default_factory=list)  # intake times of new results
    messages_by_event: dict[str, dict[str, Any]] = field(default_factory=dict)  # rendered once

    def message(self, result: Result) -> dict[str, Any]:
        """The result's `order_result` message, rendered once for its reply and its outbox row."""
        message = self.messages_by_event.get(result.event_id)
        if message is None:
            message = self.messages_by_event[result.event_id] = _rendered(result.state)
        return message


def invalid_keys(decoded: list[Decoded]) -> tuple[set[str], set[str]]:
    """The client ids and intake refs of the batch's invalid messages, whose kept copies
    the plan must see."""
    invalid = [(envelope, command) for envelope, command in decoded
               if isinstance(command, InvalidMessage)]
    return ({command.client_id for _, command in invalid if command.client_id},
            {envelope.intake_ref for envelope, _ in invalid if envelope.intake_ref})


class _Known:
    """Orders by client id, intake ref and order id, and the invalid messages kept: stored
    ones plus this batch's own."""

    def __init__(self, orders: list[Order], rejected: KeptInvalid) -> None:
        self.by_client: dict[str, list[Order]] = {}
        self.by_ref: dict[str, Order] = {}
        self.by_id: dict[str, Order] = {}
        self.rejected = KeptInvalid(set(rejected.answers), set(rejected.entries))
        for order in sorted(orders, key=lambda order: order.created_at):
            self.add(order)

    def add(self, order: Order) -> None:
        self.by_id[order.order_id] = order
        if order.client_id:
            self.by_client.setdefault(order.client_id, []).append(order)
        if order.intake_ref:
            self.by_ref[order.intake_ref] = order

    def original(self, envelope: Envelope, command: SubmitOrder) -> Order | None:
        """The order this command is a copy of: one under its client id with its fingerprint
        (stored before fingerprints were, without one), else the one from its intake entry."""
        for order in self.by_client.get(command.client_id or "", ()):
            if order.fingerprint in (command.fingerprint, None):
                return order
        ref = envelope.intake_ref
        return self.by_ref.get(ref) if ref and not command.client_id else None

    def target(self, command: CancelOrder, exchange: PaperExchange) -> Order | None:
        """The order a cancel names: by order id, or the newest under its client id, an open
        one first (a client id names several orders when they differ); of the cancel's
        account only, when it names one."""
        if command.order_id:
            order = self.by_id.get(command.order_id)
            return order if order and command.account in (None, order.account) else None
        named = [order for order in self.by_client.get(command.client_id or "", [])
                 if command.account in (None, order.account)]
        open_ones = [order for order in named if exchange.open_order(order.order_id)]
        newest = open_ones or named
        return newest[-1] if newest else None

    def seen_invalid(self, envelope: Envelope, invalid: InvalidMessage) -> bool:
        """Whether this invalid message was kept already, redelivered or copied from the
        other intake; remembers it if not."""
        if (ref := envelope.intake_ref) is not None:
            if ref in self.rejected.entries:
                return True
            self.rejected.entries.add(ref)
        if invalid.client_id is None or invalid.fingerprint is None:
            return False
        key = (invalid.client_id, invalid.fingerprint)
        if key in self.rejected.answers:
            return True
        self.rejected.answers.add(key)
        return False


class BatchPlanner:
    """Plans batches against the exchange."""

    def __init__(self, exchange: PaperExchange, equity_quote: str = "USDT") -> None:
        self.exchange = exchange
        self.equity_quote = equity_quote  # the asset equity snapshots are valued in

    def plan(
        self, decoded: list[Decoded], stored: list[Order], kill_switch: KillSwitch, now: datetime,
        rejected: KeptInvalid | None = None,
    ) -> Plan:
        """Plan `decoded` given the `stored` orders under its keys and the invalid messages
        kept under its invalid ones' client ids and intake refs (`rejected`)."""
        plan = Plan(work=UnitOfWork(at=now), kill_switch=kill_switch)
        known = _Known(stored, rejected or KeptInvalid())
        self.exchange.begin()
        self._guarded(plan, self.exchange.advance, now)  # every batch runs the due timers
        snapshot = False
        for envelope, command in decoded:
            if envelope.entry is not None:
                plan.acks.append(envelope.entry)
            if isinstance(command, MarketTrade):
                self._guarded(plan, self.exchange.on_trade, command, envelope.received_at)
            elif isinstance(command, BookUpdate):
                self._guarded(plan, self.exchange.on_book, command, envelope.received_at)
            elif isinstance(command, InvalidMessage):
                self._invalid(plan, known, envelope, command, now)
            elif isinstance(command, SubmitOrder):
                self._guarded(plan, self._submit, plan, known, envelope, command)
            elif isinstance(command, SubmitOrderList):
                self._guarded(plan, self._submit_list, plan, known, envelope, command)
            elif isinstance(command, CancelOrder):
                self._guarded(plan, self._cancel, plan, known, envelope, command, now)
            elif isinstance(command, SetKillSwitch):
                self._kill_switch(plan, envelope, command, now)
            elif isinstance(command, SnapshotEquity):
                snapshot = True
            else:
                assert isinstance(command, Tick)  # nothing more to do: advance() ran them
        effects = self.exchange.end()
        plan.work.effects = effects
        if snapshot:
            plan.work.equity.extend(
                EquitySnapshot(now, self.equity_quote,
                               *self.exchange.valuation(self.equity_quote, account), account)
                for account in self.exchange.accounts.names())
        for result in effects.results:
            plan.work.outbox.append(OutboxMessage.of(result.event_id, result.order.order_id,
                                                     plan.message(result), plan.work.at))
        for event in effects.events:
            if event.status is OrderStatus.FILLED:
                plan.filled += 1
            elif event.status is OrderStatus.REJECTED:
                order = effects.created.get(event.order_id) or effects.updated[event.order_id][0]
                plan.rejected[str(order.error_code)] += 1
        return plan

    def _guarded(self, plan: Plan, step: Any, *args: Any) -> None:
        """Run one step; a transition the state machine refuses stops the step where it was
        asked for and is counted (and logged), and the batch goes on with the next command."""
        try:
            step(*args)
        except IllegalTransition as refused:
            plan.illegal += 1
            log.error("refused: %s", refused)

    def _submit(self, plan: Plan, known: _Known, envelope: Envelope, command: SubmitOrder) -> None:
        plan.messages[envelope.source.value] += 1
        original = known.original(envelope, command)
        if original is not None:
            plan.duplicates += 1
            original_result = _rendered(self.exchange.current(original))
            plan.replies.append((envelope, Reply(Outcome.DUPLICATE, {**original_result,
                                                               "duplicate": True})))
            return
        plan.received[envelope.source.value] += 1
        intake = Intake(envelope.source, envelope.intake_ref, envelope.received_at)
        halted = plan.kill_switch.reason if plan.kill_switch.active else None
        result = self.exchange.submit(command, intake, halted)
        known.add(result.order)
        plan.answered.append(envelope.received_at)
        plan.replies.append((envelope, Reply(Outcome.CREATED, plan.message(result))))

    def _submit_list(self, plan: Plan, known: _Known, envelope: Envelope,
                     command: SubmitOrderList) -> None:
        """Orders that stand or fall together; a copy of any of them is a copy of the list
        (answered with the originals, nothing executed)."""
        plan.messages[envelope.source.value] += 1
        originals = [known.original(envelope, order) for order in command.orders]
        if any(originals):
            plan.duplicates += 1
            plan.replies.append((envelope, Reply(Outcome.DUPLICATE, {"orders": [
                _rendered(self.exchange.current(original)) for original in originals
                if original is not None], "duplicate": True})))
            return
        plan.received[envelope.source.value] += 1
        intake = Intake(envelope.source, envelope.intake_ref, envelope.received_at)
        halted = plan.kill_switch.reason if plan.kill_switch.active else None
        results = self.exchange.submit_list(command.orders, intake, halted, command.pending)
        for result in results:
            known.add(result.order)
        plan.answered.append(envelope.received_at)
        plan.replies.append((envelope, Reply(Outcome.CREATED, {
            "orders": [plan.message(result) for result in results]})))

    def _cancel(
        self, plan: Plan, known: _Known, envelope: Envelope, command: CancelOrder, now: datetime
    ) -> None:
        target = known.target(command, self.exchange)
        canceled: Result | None = None
        if target is not None:
            canceled = self.exchange.cancel(target.order_id, envelope.received_at)
        if canceled is not None:
            plan.replies.append((envelope, Reply(Outcome.OK, plan.message(canceled))))
            return
        if target is None:
            code, message, outcome = ErrorCode.UNKNOWN_ORDER, "Unknown order sent.", Outcome.NOT_FOUND
        else:
            current = self.exchange.current(target)
            code, outcome = ErrorCode.ORDER_NOT_OPEN, Outcome.NOT_OPEN
            message = f"order {target.order_id} is {current.status}; only open orders can be canceled"
        result = codec.cancel_result(target.order_id if target else command.order_id,
                                     target.client_id if target else command.client_id,
                                     OrderStatus.REJECTED.value, code.value, message, _ms(now))
        plan.work.outbox.append(OutboxMessage.of(f"cancel:{uuid.uuid4().hex}",
                                                 target.order_id if target else None, result, now))
        plan.replies.append((envelope, Reply(outcome, result)))

    def _invalid(
        self, plan: Plan, known: _Known, envelope: Envelope, invalid: InvalidMessage,
        now: datetime,
    ) -> None:
        reply = Reply(Outcome.INVALID, {"client_id": invalid.client_id, "status": "REJECTED",
                                  "error_code": ErrorCode.INVALID_ORDER.value,
                                  "error_message": invalid.reason})
        plan.messages[envelope.source.value] += 1
        if known.seen_invalid(envelope, invalid):  # kept already: answered once
            plan.duplicates += 1
            plan.replies.append((envelope, reply))
            return
        plan.received[envelope.source.value] += 1
        plan.rejected[ErrorCode.INVALID_ORDER.value] += 1
        raw = envelope.raw_bytes()
        plan.work.rejected.append(RejectedMessage(
            source=envelope.source, intake_ref=envelope.intake_ref, client_id=invalid.client_id,
            payload=raw[:_STORED_PAYLOAD_BYTES], payload_bytes=envelope.size or len(raw),
            reason=invalid.reason, received_at=envelope.received_at,
            fingerprint=invalid.fingerprint))
        if invalid.client_id is not None:
            result = codec.invalid_result(invalid, _ms(now))
            plan.work.outbox.append(OutboxMessage.of(f"invalid:{uuid.uuid4().hex}", None,
                                                     result, now))
        plan.replies.append((envelope, reply))

    def _kill_switch(
        self, plan: Plan, envelope: Envelope, command: SetKillSwitch, now: datetime
    ) -> None:
        if command.active:
            plan.kill_switch = KillSwitch(True, command.reason, now.isoformat())
        else:
            plan.kill_switch = KillSwitch()
        plan.work.control[KILL_SWITCH_KEY] = plan.kill_switch.as_dict()
        if command.control_id is not None:
            plan.work.control[CONTROL_CURSOR_KEY] = {"last_id": command.control_id}
        plan.replies.append((envelope, Reply(Outcome.OK, plan.kill_switch.as_dict())))


def _rendered(order: Order) -> dict[str, Any]:
    """The order's `order_result` message, as of its latest change."""
    # (a typed dict; the outbox and the replies carry messages of every shape)
    return cast(dict[str, Any], codec.order_result(order, _ms(order.updated_at)))


def _ms(at: datetime) -> int:
    return int(at.timestamp() * 1000)
