"""The service's own clock-driven work, as commands the commit loop runs like any other.

- `Tick` when an exchange timer is due (a latency delay ending, a good-till-date).
- `SnapshotEquity` every `equity_interval_s`: the account's value is stored.
- Trades from the synthetic tape every `synthetic_tape_s`, for orders waiting on a tape
  that has no live price (none when nothing waits, or a feed is live).
"""

from __future__ import annotations

from decimal import Decimal

from execution_service.bus.envelope import Envelope
from execution_service.clock import Clock
from execution_service.domain.commands import Command, MarketTrade, SnapshotEquity, Tick
from execution_service.domain.orders import Source
from execution_service.engine.exchange import PaperExchange

IDLE_WAIT_S = 0.5  # the longest the loop sleeps without looking at the clock


class Timers:
    def __init__(self, exchange: PaperExchange, clock: Clock, *, equity_interval_s: float,
                 synthetic_tape_s: float = 0.0,
                 synthetic_notional: Decimal = Decimal(10_000)) -> None:
        self._exchange = exchange
        self._clock = clock
        self._equity_interval_s = equity_interval_s
        self._equity_due = clock.monotonic() + equity_interval_s
        self._synthetic_s = synthetic_tape_s
        self._synthetic_notional = synthetic_notional
        self._synthetic_due = clock.monotonic() + synthetic_tape_s

    def due(self) -> tuple[list[Envelope], list[MarketTrade]]:
        """The timer commands due now, and the synthetic tape's trades due now."""
        now, monotonic = self._clock.now(), self._clock.monotonic()
        commands: list[Command] = []
        exchange_due = self._exchange.next_due()
        if exchange_due is not None and exchange_due <= now:
            commands.append(Tick())
        if monotonic >= self._equity_due:
            self._equity_due = monotonic + self._equity_interval_s
            commands.append(SnapshotEquity())
        trades: list[MarketTrade] = []
        if self._synthetic_s and monotonic >= self._synthetic_due:
            self._synthetic_due = monotonic + self._synthetic_s
            trades = self._exchange.synthetic_trades(self._synthetic_notional, now)
        return [Envelope(source=Source.TIMER, received_at=now, command=command)
                for command in commands], trades

    def next_in(self) -> float:
        """Seconds until the next timer is due (at most `IDLE_WAIT_S`)."""
        wait = IDLE_WAIT_S
        exchange_due = self._exchange.next_due()
        if exchange_due is not None:
            wait = min(wait, (exchange_due - self._clock.now()).total_seconds())
        wait = min(wait, self._equity_due - self._clock.monotonic())
        if self._synthetic_s:
            wait = min(wait, self._synthetic_due - self._clock.monotonic())
        return max(0.0, wait)
