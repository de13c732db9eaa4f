"""Connection state shared by the parts, read by /ready, /status and the metrics."""

from __future__ import annotations

from dataclasses import dataclass, field

from execution_service.clock import Clock, SystemClock

# How long a refusal is remembered without being seen again: a loop whose commands are
# refused tries again at least every 5 s, and one that succeeds forgets it at once.
REFUSAL_MEMORY_S = 15.0


@dataclass(slots=True)
class Health:
    """What is connected and what is in place. Parts set it; the API reads it."""

    redis_connected: bool = False
    redis_error: str | None = None
    db_connected: bool = False
    db_error: str | None = None
    streams_ready: bool = False
    subscribed: bool = False
    intakes: set[str] = field(default_factory=set)
    started: bool = False  # migrations applied and the exchange's state loaded
    # Parts whose commands Redis refuses although it answers (out of memory, read-only,
    # a key of the wrong type): the error reply and when it was last seen, per part.
    redis_refusals: dict[str, tuple[str, float]] = field(default_factory=dict)
    eviction_warning: str | None = None  # Redis's eviction policy may drop the service's keys
    clock: Clock = field(default_factory=SystemClock, repr=False)

    def redis_up(self) -> None:
        self.redis_connected, self.redis_error = True, None

    def redis_down(self, error: BaseException | str) -> None:
        self.redis_connected, self.redis_error = False, _text(error)
        self.streams_ready = self.subscribed = False

    def redis_refused(self, part: str, error: BaseException | str) -> None:
        if isinstance(error, BaseException) and type(error).__name__ != "ResponseError":
            error = f"{type(error).__name__}: {error}"  # redis-py cuts the code (OOM, READONLY)
        self.redis_refusals[part] = (_text(error), self.clock.monotonic())

    def redis_accepted(self, part: str) -> None:
        """`part`'s commands went through: whatever Redis refused it before is over."""
        self.redis_refusals.pop(part, None)

    def refusals(self) -> dict[str, str]:
        """The parts whose commands Redis refused lately, with its reply."""
        now = self.clock.monotonic()
        return {part: error for part, (error, seen) in dict(self.redis_refusals).items()
                if now - seen < REFUSAL_MEMORY_S}

    def db_up(self) -> None:
        self.db_connected, self.db_error = True, None

    def db_down(self, error: BaseException | str) -> None:
        self.db_connected, self.db_error = False, _text(error)

    def not_ready_reasons(self) -> list[str]:
        """Empty when the service is ready; otherwise why not, one phrase each."""
        reasons = []
        if not self.redis_connected:
            reasons.append(f"redis unreachable: {self.redis_error or 'not connected yet'}")
        reasons += [f"redis refuses the {part}'s commands: {error}"
                    for part, error in self.refusals().items()]
        if not self.db_connected:
            reasons.append(f"database unreachable: {self.db_error or 'not connected yet'}")
        if self.redis_connected and "stream" in self.intakes and not self.streams_ready:
            reasons.append("stream consumer group not in place yet")
        if self.redis_connected and "pubsub" in self.intakes and not self.subscribed:
            reasons.append("not subscribed yet")
        return reasons


def _text(error: BaseException | str) -> str:
    return error if isinstance(error, str) else (str(error) or type(error).__name__)[:300]
