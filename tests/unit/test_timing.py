"""Where a batch's time goes: the last minute's quantiles, the phase histograms, the
slow-batch line."""

from __future__ import annotations

import logging

import orjson
import pytest
from prometheus_client import CollectorRegistry

from execution_service.clock import ManualClock
from execution_service.metrics import Metrics
from execution_service.pipeline import rest_envelope
from execution_service.pipeline.timing import BatchTimer, BatchTiming, LastMinute, size_class
from tests.paper import T0
from tests.unit.test_pipeline import Rig, order, until


def test_the_last_minute_gives_p50_and_p99_to_within_a_percent_and_forgets_older_values() -> None:
    clock = ManualClock(T0)
    window = LastMinute(clock)
    for ms in range(1, 1001):  # 1 ms to 1 s, evenly
        window.observe(ms / 1000)
    count, (p50, p99) = window.quantiles(0.5, 0.99)
    assert count == 1000
    assert p50 == pytest.approx(0.500, rel=0.01)
    assert p99 == pytest.approx(0.990, rel=0.01)

    clock.advance(30)
    window.observe(5.0, times=1000)  # as many again, all slow
    assert window.quantiles(0.25)[1][0] == pytest.approx(0.5, rel=0.01)
    clock.advance(30.5)  # the first second's values are a minute old
    count, (p50,) = window.quantiles(0.5)
    assert (count, p50) == (1000, pytest.approx(5.0, rel=0.01))
    clock.advance(60)
    assert window.quantiles(0.5)[0] == 0


def test_batch_sizes_fall_in_a_few_classes() -> None:
    assert [size_class(n) for n in (1, 2, 9, 10, 99, 100, 999, 1000, 10_000)] == [
        "1", "2-9", "2-9", "10-99", "10-99", "100-999", "100-999", "1000+", "1000+"]


def test_a_slow_batch_is_logged_naming_its_slowest_phase_once_a_second_at_most(
    caplog: pytest.LogCaptureFixture
) -> None:
    clock = ManualClock(T0)
    metrics = Metrics(CollectorRegistry())
    timer = BatchTimer(metrics, clock, slow_batch_s=0.25)
    caplog.set_level(logging.WARNING)
    timer.done(BatchTiming(3, read=0.002, plan=0.001, commit=0.3, publish=0.004))
    timer.done(BatchTiming(4, read=0.4, plan=0.001, commit=0.001, publish=0.001))  # same second
    timer.done(BatchTiming(5, read=0.001, plan=0.001, commit=0.001, publish=0.001))  # fast
    clock.advance(1)
    timer.done(BatchTiming(6, read=0.001, plan=0.001, commit=0.001, publish=0.5))
    assert [record.getMessage() for record in caplog.records] == [
        "slow batch: 3 commands in 307 ms, most of it in commit "
        "(read 2.0 ms, plan 1.0 ms, commit 300.0 ms, publish 4.0 ms)",
        "slow batch: 6 commands in 503 ms, most of it in publish "
        "(read 1.0 ms, plan 1.0 ms, commit 1.0 ms, publish 500.0 ms); "
        "1 more slow batches since the last line"]
    commit_seconds = metrics.registry.get_sample_value(
        "execution_batch_phase_seconds_sum", {"phase": "commit", "size": "2-9"})
    assert commit_seconds == pytest.approx(0.303)


async def test_each_committed_batch_is_timed_through_its_publish() -> None:
    rig = Rig(batch_max=5)
    async with rig.running():
        for i in range(3):
            reply = await rig.pipeline.submit(rest_envelope(orjson.dumps(order(f"t{i}")), rig.clock.now()))
            assert reply.outcome == "created"
        await until(lambda: rig.pipeline.timer.last_minute()["batches"] == 3)
    minute = rig.pipeline.timer.last_minute()
    # Each order's latency, but the first's: the first batch after a start leaves through
    # the sweep (a previous run may have left results unsent), which is not timed.
    assert minute["orders"] == 2
    assert minute["batch_size"] == {"p50": 1.0, "p99": 1.0}
    assert set(minute["phases"]) == {"read", "plan", "commit", "publish"}
    for phase in ("read", "plan", "commit", "publish"):
        assert rig.pipeline.timer.metrics.registry.get_sample_value(
            "execution_batch_phase_seconds_count", {"phase": phase, "size": "1"}) == 3
