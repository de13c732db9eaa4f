"""What a batch produces: the unit of work its commit writes, and the messages in it.

The planner (batch.py) makes it, the writer (store/) commits it, the publisher (bus/)
sends its outbox messages; none of them needs the others to know its shape.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from execution_service.domain.codec import dumps
from execution_service.domain.orders import DEFAULT_ACCOUNT, Source
from execution_service.engine.exchange import Effects


@dataclass(frozen=True, slots=True)
class OutboxMessage:
    """A result to publish once its transaction has committed."""

    event_id: str
    order_id: str | None
    result: dict[str, Any]
    payload: bytes  # the result as JSON, serialized once
    created_at: datetime

    @classmethod
    def of(cls, event_id: str, order_id: str | None, result: dict[str, Any],
           created_at: datetime) -> OutboxMessage:
        return cls(event_id, order_id, result, dumps(result), created_at)


@dataclass(slots=True)
class KeptInvalid:
    """Invalid messages already kept in rejected_messages, by what a copy of one shares
    with it: its (client_id, fingerprint), or the intake entry it came from (a redelivery)."""

    answers: set[tuple[str, str]] = field(default_factory=set)
    entries: set[str] = field(default_factory=set)


@dataclass(frozen=True, slots=True)
class UnsentMessage:
    """An outbox row not yet published: whose it is and where it stands in that instance's
    outbox."""

    instance: str
    outbox_id: int
    message: OutboxMessage


@dataclass(frozen=True, slots=True)
class RejectedMessage:
    """An intake payload that could not become a command, kept for inspection."""

    source: Source
    intake_ref: str | None
    client_id: str | None
    payload: bytes
    payload_bytes: int
    reason: str
    received_at: datetime
    fingerprint: str | None = None  # with `client_id`: a copy of it is not kept again


@dataclass(frozen=True, slots=True)
class EquitySnapshot:
    """A sub-account's value in one quote asset at one moment (`GET /equity`)."""

    at: datetime
    quote_asset: str
    equity: Decimal
    unpriced: list[str]  # assets held that have no price in the quote asset
    detail: dict[str, Any]
    account: str = DEFAULT_ACCOUNT


@dataclass(slots=True)
class UnitOfWork:
    """Everything one batch changes, committed together or not at all."""

    at: datetime
    effects: Effects = field(default_factory=Effects)
    outbox: list[OutboxMessage] = field(default_factory=list)
    rejected: list[RejectedMessage] = field(default_factory=list)
    control: dict[str, Any] = field(default_factory=dict)
    equity: list[EquitySnapshot] = field(default_factory=list)

    def is_empty(self) -> bool:
        e = self.effects
        return not (e.created or e.updated or e.trades or e.events or e.balances or e.positions
                    or self.outbox or self.rejected or self.control or self.equity)
