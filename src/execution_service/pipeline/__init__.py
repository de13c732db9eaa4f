r"""The pipeline: commands in, committed and published results out.

    intakes ---------- deliver() ---\
    market data ------ on_tape() ----> Inbox --take()--> commit loop --send()--> OutboxRelay
    Timers (ticks, equity, synthetic tape) /   plan, commit, answer     publish, acknowledge,
                                                                        mark sent, sweep

- `Inbox` (inbox.py): what waits, bounded for intakes (backpressure), never blocking for
  the tape, merged by arrival time into batches.
- `Timers` (timers.py): the service's clock-driven work, entering as commands.
- `Pipeline` (loop.py): the commit loop, one batch at a time, with its retries and
  quarantine; its ordering rule is commit -> answer -> publish and acknowledge -> mark sent.
- `OutboxRelay` (relay.py): results out after their commit, in commit order, at least once.
- `BatchPlanner` (batch.py): one batch planned (decode, dedupe, execute), no I/O; what it
  produces to commit and send (work.py: the unit of work, outbox and rejected messages).

Each part reads time from an injected `Clock`, and the store and publisher it is given
are Protocols (`PipelineStore`, `Publisher`) with in-package fakes for tests.
"""

from __future__ import annotations

from datetime import datetime

from execution_service.bus.envelope import Envelope
from execution_service.domain.orders import Source

__all__ = ["rest_envelope"]


def rest_envelope(payload: bytes, received_at: datetime) -> Envelope:
    """An order's JSON from `POST /orders`, received now unless told when."""
    return Envelope(source=Source.REST, received_at=received_at,
                    payload=payload)
