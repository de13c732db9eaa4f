"""What /ready and /status say about Redis: refusals and the eviction policy."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from redis.exceptions import OutOfMemoryError, ResponseError

from execution_service.bus import health as health_module
from execution_service.bus.connection import eviction_warning
from execution_service.bus.health import Health
from execution_service.clock import ManualClock


def test_a_refusal_is_a_reason_naming_the_part_and_the_error_until_the_part_succeeds() -> None:
    health = Health()
    health.redis_up()
    health.db_up()
    health.redis_refused("result publisher", OutOfMemoryError(
        "command not allowed when used memory > 'maxmemory'."))
    health.redis_refused("stream intake", ResponseError("WRONGTYPE Operation against a key"))
    assert health.not_ready_reasons() == [
        "redis refuses the result publisher's commands: OutOfMemoryError: command not allowed "
        "when used memory > 'maxmemory'.",
        "redis refuses the stream intake's commands: WRONGTYPE Operation against a key"]
    health.redis_accepted("result publisher")
    health.redis_accepted("stream intake")
    assert health.not_ready_reasons() == []


def test_a_refusal_not_seen_again_is_forgotten() -> None:
    clock = ManualClock(datetime(2026, 12, 5, tzinfo=UTC))
    health = Health(clock=clock)
    health.redis_refused("control stream", ResponseError("WRONGTYPE"))
    assert health.refusals() == {"control stream": "WRONGTYPE"}
    clock.advance(health_module.REFUSAL_MEMORY_S)
    assert health.refusals() == {}


@pytest.mark.parametrize(("policy", "maxmemory", "drops"), [
    ("noeviction", 268_435_456, None),
    ("allkeys-lru", 0, None),  # no limit: nothing is ever evicted
    ("allkeys-lru", 268_435_456, "stream.orders"),
    ("allkeys-lfu", 1, "stream.orders"),
    ("allkeys-random", 1, "stream.orders"),
    ("volatile-lru", 1, "liveness keys"),
    ("volatile-ttl", 1, "liveness keys"),
])
def test_eviction_policies_that_can_drop_the_services_keys_are_named(
    policy: str, maxmemory: int, drops: str | None
) -> None:
    warning = eviction_warning(policy, maxmemory)
    if drops is None:
        assert warning is None
    else:
        assert warning is not None
        assert warning.startswith(f"maxmemory-policy {policy} with maxmemory {maxmemory} bytes")
        assert drops in warning
        assert warning.endswith("set maxmemory-policy noeviction")
