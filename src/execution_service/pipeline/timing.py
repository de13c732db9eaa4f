"""Where a batch's time goes: per phase into Prometheus, the last minute on /status, and
a log line for a slow batch.

The phases, in the order a batch passes them:

    read     taking the batch from the inbox (the market-data sync included), decoding
             it, and looking up the orders it names in the database
    plan     the paper exchange executing it, in memory
    commit   writing and committing its transaction
    publish  its results to Redis and its intake entries acknowledged (in the
             background, while the next batch is read, planned and committed)
"""

from __future__ import annotations

import logging
import math
from collections import Counter, deque
from dataclasses import dataclass, field
from typing import Any

from prometheus_client import Histogram

from execution_service.clock import Clock
from execution_service.metrics import Metrics

log = logging.getLogger(__name__)

PHASES = ("read", "plan", "commit", "publish")
_SIZE_CLASSES = ((1, "1"), (9, "2-9"), (99, "10-99"), (999, "100-999"))


def size_class(commands: int) -> str:
    """The batch-size label: a few classes, so that the series stay few."""
    return next((label for most, label in _SIZE_CLASSES if commands <= most), "1000+")


@dataclass(slots=True)
class BatchTiming:
    """One batch's seconds per phase."""

    commands: int
    read: float = 0.0
    plan: float = 0.0
    commit: float = 0.0
    publish: float = 0.0

    def phases(self) -> dict[str, float]:
        return {"read": self.read, "plan": self.plan, "commit": self.commit,
                "publish": self.publish}

    @property
    def total(self) -> float:
        return self.read + self.plan + self.commit + self.publish


class LastMinute:
    """The values observed in the last `window_s` seconds, counted in buckets 2 % wide
    (one per second of observation), so that p50 and p99 cost no sample per value and are
    right to within 1 %."""

    _GROWTH = 1.02
    _SMALLEST = 1e-6  # values below count as this

    def __init__(self, clock: Clock, window_s: int = 60) -> None:
        self._clock = clock
        self._window_s = window_s
        self._seconds: deque[tuple[int, Counter[int]]] = deque()

    def observe(self, value: float, times: int = 1) -> None:
        second = int(self._clock.monotonic())
        if not self._seconds or self._seconds[-1][0] != second:
            self._seconds.append((second, Counter()))
            self._forget(second)
        bucket = math.ceil(math.log(max(value, self._SMALLEST) / self._SMALLEST, self._GROWTH))
        self._seconds[-1][1][bucket] += times

    def quantiles(self, *qs: float) -> tuple[int, list[float]]:
        """How many values the window holds, and the value at each quantile (0 to 1) of them."""
        self._forget(int(self._clock.monotonic()))
        merged: Counter[int] = Counter()
        for _, counts in self._seconds:
            merged.update(counts)
        total = sum(merged.values())
        if not total:
            return 0, [math.nan for _ in qs]
        buckets = sorted(merged.items())
        return total, [self._value_at(buckets, max(1, math.ceil(q * total))) for q in qs]

    def _value_at(self, buckets: list[tuple[int, int]], rank: int) -> float:
        """The value of the `rank`-th smallest (1-based): its bucket's middle."""
        seen = 0
        for bucket, count in buckets:
            seen += count
            if seen >= rank:
                return float(self._SMALLEST * self._GROWTH ** (bucket - 0.5))
        raise ValueError(f"rank {rank} beyond the {seen} values counted")

    def _forget(self, now: int) -> None:
        while self._seconds and self._seconds[0][0] <= now - self._window_s:
            self._seconds.popleft()


@dataclass(slots=True)
class _Slow:
    threshold_s: float
    logged_at: float = -math.inf
    unlogged: int = 0  # slow batches since the last line (one line a second at most)


@dataclass
class BatchTimer:
    """Records each finished batch's timing; see the module docstring."""

    metrics: Metrics
    clock: Clock
    slow_batch_s: float = 0.0  # 0: no slow-batch lines
    _phases: dict[str, LastMinute] = field(init=False)
    _latency: LastMinute = field(init=False)
    _sizes: LastMinute = field(init=False)
    _slow: _Slow = field(init=False)
    _children: dict[tuple[str, str], Histogram] = field(init=False, default_factory=dict)

    def __post_init__(self) -> None:
        self._phases = {phase: LastMinute(self.clock) for phase in PHASES}
        self._latency = LastMinute(self.clock)
        self._sizes = LastMinute(self.clock)
        self._slow = _Slow(self.slow_batch_s)

    def latency(self, seconds: float) -> None:
        """One order's intake-to-result time."""
        self.metrics.order_latency.observe(seconds)
        self._latency.observe(seconds)

    def done(self, timing: BatchTiming) -> None:
        size = size_class(timing.commands)
        for phase, seconds in timing.phases().items():
            self._histogram(phase, size).observe(seconds)
            self._phases[phase].observe(seconds)
        self._sizes.observe(timing.commands)
        if self._slow.threshold_s and timing.total >= self._slow.threshold_s:
            self._log_slow(timing)

    def _histogram(self, phase: str, size: str) -> Histogram:
        """The phase's histogram child for the size class (prometheus-client's `labels()`
        costs a lock and a lookup each time: it was half of `done`)."""
        key = (phase, size)
        if (child := self._children.get(key)) is None:
            child = self._children[key] = self.metrics.batch_phase.labels(phase, size)
        return child

    def _log_slow(self, timing: BatchTiming) -> None:
        now = self.clock.monotonic()
        if now - self._slow.logged_at < 1.0:
            self._slow.unlogged += 1
            return
        phases = timing.phases()
        slowest = max(phases, key=lambda phase: phases[phase])
        log.warning("slow batch: %d commands in %.0f ms, most of it in %s (%s)%s",
                    timing.commands, timing.total * 1000, slowest,
                    ", ".join(f"{phase} {seconds * 1000:.1f} ms" for phase, seconds in phases.items()),
                    f"; {self._slow.unlogged} more slow batches since the last line"
                    if self._slow.unlogged else "")
        self._slow.logged_at, self._slow.unlogged = now, 0

    def last_minute(self) -> dict[str, Any]:
        """The last minute's p50 and p99 (milliseconds): orders' latency, each phase, and
        the batch sizes."""
        orders, (latency_p50, latency_p99) = self._latency.quantiles(0.5, 0.99)
        batches, (size_p50, size_p99) = self._sizes.quantiles(0.5, 0.99)
        phases = {}
        for phase, window in self._phases.items():
            _, (p50, p99) = window.quantiles(0.5, 0.99)
            phases[phase] = {"p50_ms": _ms(p50), "p99_ms": _ms(p99)}
        return {"orders": orders, "latency": {"p50_ms": _ms(latency_p50), "p99_ms": _ms(latency_p99)},
                "batches": batches,
                "batch_size": {"p50": _round(size_p50), "p99": _round(size_p99)},
                "phases": phases}


def _ms(seconds: float) -> float | None:
    return None if math.isnan(seconds) else round(seconds * 1000, 3)


def _round(value: float) -> float | None:
    return None if math.isnan(value) else round(value, 1)
