"""What the routes need from the service, handed to `create_app` (no globals)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from execution_service.bus.health import Health
from execution_service.clock import Clock, SystemClock
from execution_service.config import ApiKey
from execution_service.engine.models import FeeSchedule
from execution_service.metrics import Metrics
from execution_service.pipeline.loop import Pipeline
from execution_service.store.repository import Store

IntakeProbe = Callable[[], Awaitable[dict[str, Any]]]


@dataclass(frozen=True, slots=True)
class ApiContext:
    pipeline: Pipeline
    store: Store
    health: Health
    metrics: Metrics
    intake_probe: IntakeProbe
    api_token: str | None
    max_body_bytes: int
    fees: FeeSchedule
    api_keys: Mapping[str, ApiKey] = field(default_factory=dict)  # the Binance API's, by key
    weight_limit: int = 6000  # request weight per client address per minute (api/weights.py)
    clock: Clock = field(default_factory=SystemClock)  # the service's one clock
