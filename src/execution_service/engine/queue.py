"""Where a resting order stands in the queue at its price (QUEUE_MODEL), after hftbacktest's
family of models.

When an order comes to rest it has a quantity ahead of it: the book's at its price (the
real book's when a depth feed is live, else the synthetic level's), plus this service's
own orders resting there before it. Trades at its price on its side consume what is
ahead first; only what is left fills the order. A trade through its price fills it (the
whole level traded). When the real book's level shrinks by more than the trades there
explain, a share of the decrease came from ahead of the order:

- `risk_averse`: none of it (what is ahead only ever shrinks to the level's new size);
- `power:N`: a cancellation is behind the order with probability
  `f(back) / (f(back) + f(front))`, `f(x) = x^N` (the larger the queue behind, the likelier);
- `log`: the same with `f(x) = log(1 + x)`.

The models are expected values, not draws: the same tape gives the same fills.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import Decimal

ZERO = Decimal(0)


@dataclass(frozen=True, slots=True)
class QueueModel:
    kind: str = "none"  # none | risk_averse | power | log
    power: float = 2.0

    @classmethod
    def parse(cls, text: str) -> QueueModel:
        """`none`, `risk_averse`, `power:N` (N > 0) or `log`; ValueError otherwise."""
        name, _, argument = text.strip().lower().partition(":")
        if name in ("none", "risk_averse", "log") and not argument:
            return cls(name)
        if name == "power":
            try:
                exponent = float(argument or "2")
            except ValueError:
                exponent = 0.0
            if exponent > 0 and math.isfinite(exponent):
                return cls("power", exponent)
        raise ValueError(f"{text!r} is not none, risk_averse, power:N or log")

    @property
    def on(self) -> bool:
        return self.kind != "none"

    def after_depth(self, ahead: Decimal, traded: Decimal, before: Decimal,
                    after: Decimal) -> Decimal:
        """What is ahead once the level went from `before` to `after`, `traded` of the
        decrease being trades already counted."""
        change = before - after - traded
        if self.kind == "risk_averse" or change <= 0:
            return max(ZERO, min(ahead, after))
        front, back = float(ahead), float(max(ZERO, before - ahead))
        behind = self._probability(front, back)
        estimate = front - (1 - behind) * float(change) + min(back - behind * float(change), 0.0)
        return max(ZERO, min(Decimal(repr(max(estimate, 0.0))), after))

    def _probability(self, front: float, back: float) -> float:
        weight = (lambda x: x ** self.power) if self.kind == "power" else math.log1p
        total = weight(back) + weight(front)
        return 1.0 if total == 0 else weight(back) / total
