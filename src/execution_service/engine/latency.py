"""The latency model: how long an order takes to reach the exchange, and to be filled.

Both delays are `base + jitter`, the jitter drawn from an exponential distribution with
mean `jitter_ms` out of the exchange's seeded generator, so a run with `RANDOM_SEED`
repeats exactly. All zero (the default): orders are matched the moment they arrive.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import timedelta


@dataclass(frozen=True, slots=True)
class LatencyModel:
    ack_ms: float = 0.0  # intake -> the exchange has the order (PENDING_NEW until then)
    fill_ms: float = 0.0  # the order is marketable -> it takes the book (at the price then)
    jitter_ms: float = 0.0  # mean of the exponential jitter added to each

    def ack(self, rng: random.Random) -> timedelta | None:
        return self._delay(self.ack_ms, rng)

    def fill(self, rng: random.Random) -> timedelta | None:
        return self._delay(self.fill_ms, rng)

    def _delay(self, base_ms: float, rng: random.Random) -> timedelta | None:
        if base_ms <= 0 and self.jitter_ms <= 0:
            return None
        jitter = rng.expovariate(1.0 / self.jitter_ms) if self.jitter_ms > 0 else 0.0
        return timedelta(milliseconds=base_ms + jitter)
