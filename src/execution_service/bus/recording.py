"""A `Publisher` that records what it is given, for tests of the pipeline without Redis.
Set `down` to make it fail like a Redis that is away."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from execution_service.bus.envelope import EntryRef
from execution_service.bus.publisher import Publisher
from execution_service.pipeline.work import OutboxMessage


@dataclass
class RecordingPublisher:
    published: list[OutboxMessage] = field(default_factory=list)
    acked: list[EntryRef] = field(default_factory=list)
    calls: int = 0
    down: bool = False

    async def publish(self, messages: Sequence[OutboxMessage], acks: Sequence[EntryRef]) -> None:
        if self.down:
            raise ConnectionError("the recording publisher is down")
        self.calls += 1
        self.published += messages
        self.acked += acks


if TYPE_CHECKING:  # mypy checks that the fake keeps to the Protocol
    _CONFORMS: Publisher = RecordingPublisher()
