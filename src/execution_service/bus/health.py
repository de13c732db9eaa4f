"""Connection state shared by the parts, read by /ready, /status and the metrics."""

from __future__ import annotations

from dataclasses import dataclass, field


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

    def redis_up(self) -> None:
        self.redis_connected, self.redis_error = True, None

    def redis_down(self, error: BaseException | str) -> None:
        self.redis_connected, self.redis_error = False, _text(error)
        self.streams_ready = self.subscribed = False

    def db_up(self) -> None:
        self.db_connected, self.db_error = True, None

    def db_down(self, error: BaseException | str) -> None:
        self.db_connected, self.db_error = False, _text(error)

    def not_ready_reasons(self) -> list[str]:
        """Empty when the service is ready; otherwise why not, one phrase each."""
        reasons = []
        if not self.redis_connected:
            reasons.append(f"redis unreachable: {self.redis_error or 'not connected yet'}")
        if not self.db_connected:
            reasons.append(f"database unreachable: {self.db_error or 'not connected yet'}")
        if self.redis_connected and "stream" in self.intakes and not self.streams_ready:
            reasons.append("stream consumer group not in place yet")
        if self.redis_connected and "pubsub" in self.intakes and not self.subscribed:
            reasons.append("not subscribed yet")
        return reasons


def _text(error: BaseException | str) -> str:
    return error if isinstance(error, str) else (str(error) or type(error).__name__)[:300]
