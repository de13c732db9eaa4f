"""Liveness, readiness, status and metrics."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import PlainTextResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from execution_service import SERVICE_NAME, __version__
from execution_service.api.deps import Context
from execution_service.api.responses import Answer
from execution_service.api.schemas import Counters, Health, Readiness, Status
from execution_service.bus.connection import REDIS_DOWN, REDIS_REFUSED
from execution_service.errors import DatabaseUnavailable

router = APIRouter(tags=["health"])


@router.get("/health", response_model=Health)
async def health() -> Answer[Health]:
    """200 while the process lives."""
    return Answer({"service": SERVICE_NAME, "status": "ok", "version": __version__})


@router.get("/ready", response_model=Readiness,
            responses={503: {"description": "not ready, with the reasons", "model": Readiness}})
async def ready(context: Context) -> Answer[Readiness]:
    """200 once the intake is in place and Redis and the database answer; else 503 with reasons."""
    reasons = context.health.not_ready_reasons()
    if reasons:
        return Answer({"ready": False, "reasons": reasons}, status_code=503)
    return Answer({"ready": True, "reasons": []})


@router.get("/status", response_model=Status)
async def status(context: Context) -> Answer[Status]:
    """Version, uptime, counters since start, the last minute's timings (p50 and p99 of the
    orders' latency, of each batch phase and of the batch size), Redis intake state and
    database totals."""
    stats = context.monitor.stats
    health = context.health
    counters: Counters = {
        "orders_received": stats.orders_received,
        "orders_filled": stats.orders_filled,
        "orders_rejected": stats.orders_rejected,
        "duplicates": stats.duplicates,
        "batches": stats.batches,
        "start_time": stats.start_time.isoformat(),
    }
    return Answer({
        "service": SERVICE_NAME,
        "version": __version__,
        "status": "ok" if not health.not_ready_reasons() else "degraded",
        "uptime_s": round(context.clock.now().timestamp() - context.metrics.started, 3),
        "stats": counters,
        "last_minute": context.monitor.timer.last_minute(),
        "kill_switch": context.exchange.kill_switch.as_dict(),
        "matcher": _matcher_status(context),
        "redis": await _redis_status(context),
        "database": await _database_status(context),
    })


@router.get("/metrics", response_class=PlainTextResponse,
            responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}}}})
async def metrics(context: Context) -> Response:
    """Prometheus text format."""
    return Response(generate_latest(context.metrics.registry), media_type=CONTENT_TYPE_LATEST)


def _matcher_status(context: Context) -> dict[str, Any]:
    """Which instance matches the tape (bus/lease.py)."""
    lease = context.monitor.lease
    if lease is None:
        return {"lease": False, "this_instance": True, "holder": None}
    return {"lease": True, "this_instance": lease.held(), "holder": lease.holder}


async def _redis_status(context: Context) -> dict[str, Any]:
    health = context.health
    section: dict[str, Any] = {"connected": health.redis_connected, "error": health.redis_error,
                               "subscribed": health.subscribed,
                               "consumer_group_ready": health.streams_ready,
                               "refusing": health.refusals(),
                               "eviction_warning": health.eviction_warning}
    if health.redis_connected:
        try:
            section["intake"] = await context.intake_probe()
        except REDIS_DOWN as exc:
            section.update(connected=False, error=str(exc))
        except REDIS_REFUSED as exc:  # (a key of the wrong type, say)
            section["intake_error"] = str(exc)
    return section


async def _database_status(context: Context) -> dict[str, Any]:
    store = context.reads
    section: dict[str, Any] = {"backend": store.backend,
                               "connected": context.health.db_connected,
                               "error": context.health.db_error}
    if not context.health.started:  # the tables may not exist yet
        section["starting"] = True
        return section
    try:
        section.update(await store.get_stats())
        section["outbox_unsent"] = await store.count_unsent()
        section["rejected_messages"] = await store.count_rejected_messages()
    except DatabaseUnavailable as exc:
        section.update(connected=False, error=str(exc))
    return section
