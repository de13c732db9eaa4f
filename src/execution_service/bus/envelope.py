"""What the intakes hand to the pipeline: a payload with where it came from."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from execution_service.domain.commands import Command
from execution_service.domain.orders import Source

StreamFields = dict[bytes, bytes]


@dataclass(frozen=True, slots=True)
class EntryRef:
    """A stream entry read through the consumer group; acknowledged after its batch commits."""

    stream: str
    entry_id: str

    @property
    def intake_ref(self) -> str:
        return f"{self.stream}:{self.entry_id}"


class Outcome(StrEnum):
    """What became of a command, as its REST caller is told (each is one HTTP status:
    api/routes/orders.py)."""

    CREATED = "created"
    DUPLICATE = "duplicate"  # a copy of an order stored before: its original result
    INVALID = "invalid"
    NOT_FOUND = "not_found"
    NOT_OPEN = "not_open"
    OK = "ok"
    UNAVAILABLE = "unavailable"  # not committed: the database is away, or the service stops


@dataclass(frozen=True, slots=True)
class Reply:
    """The answer to a REST caller: what happened, and the JSON body."""

    outcome: Outcome
    body: Mapping[str, Any]


@dataclass(slots=True)
class Envelope:
    """One intake message on its way through the pipeline.

    `payload` is raw JSON bytes (pub/sub, REST) or a stream entry's fields; `command` is
    set instead for commands the service makes itself (the kill switch). `reply` is the
    future a REST caller awaits. `size` is the full size of a payload of which only the
    head was kept (an oversized REST body).
    """

    source: Source
    received_at: datetime
    payload: bytes | StreamFields | None = None
    entry: EntryRef | None = None
    command: Command | None = None
    reply: asyncio.Future[Reply] | None = None
    size: int | None = None
    tape_at: datetime | None = None  # where it goes among the tape's trades, when not received_at
    deliveries: int = 1  # how often Redis has delivered this entry (its delivery count)

    @property
    def tape_key(self) -> datetime:
        return self.tape_at or self.received_at

    @property
    def intake_ref(self) -> str | None:
        return self.entry.intake_ref if self.entry else None

    @property
    def entry_id(self) -> str:
        """The stream entry's id ("" for a message that came from no stream)."""
        return self.entry.entry_id if self.entry else ""

    def raw_bytes(self) -> bytes:
        """The payload as bytes, for `rejected_messages`."""
        if isinstance(self.payload, bytes):
            return self.payload
        if isinstance(self.payload, dict):
            return b"\n".join(key + b"=" + value for key, value in self.payload.items())
        return b""

    def answer(self, reply: Reply) -> None:
        if self.reply is not None and not self.reply.done():
            self.reply.set_result(reply)
