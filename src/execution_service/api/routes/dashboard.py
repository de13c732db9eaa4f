"""The dashboard: its page (`/`, plain HTML, CSS and JavaScript shipped in the package, no
build step), the live events it listens to (`/events`, server-sent events from the
pipeline's memory) and the fill-quality figures it shows (`/fill-quality`)."""

from __future__ import annotations

import asyncio
import statistics
from collections.abc import AsyncIterator
from decimal import Decimal
from importlib import resources
from typing import Any

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import Response, StreamingResponse

from execution_service.api.deps import Context
from execution_service.api.responses import JSONResponse
from execution_service.api.routes.orders import AccountFilter
from execution_service.api.schemas import FillQuality
from execution_service.domain import codec
from execution_service.domain.orders import Liquidity
from execution_service.metrics import LATENCY_BUCKETS_S

router = APIRouter(tags=["dashboard"])

_ASSETS = {"dashboard.css": "text/css", "dashboard.js": "text/javascript"}
_HEARTBEAT_S = 15.0  # a comment line this often keeps proxies from closing a quiet stream


def _asset(name: str) -> bytes:
    return resources.files("execution_service.api").joinpath("dashboard", name).read_bytes()


@router.get("/", include_in_schema=False)
async def page() -> Response:
    return Response(_asset("index.html"), media_type="text/html; charset=utf-8")


@router.get("/dashboard/{name}", include_in_schema=False)
async def asset(name: str) -> Response:
    if name not in _ASSETS:
        raise HTTPException(404, f"no asset {name!r}")
    return Response(_asset(name), media_type=_ASSETS[name],
                    headers={"Cache-Control": "no-cache"})


@router.get("/events", include_in_schema=False)
async def events(context: Context, request: Request, account: AccountFilter = None) -> Response:
    """Server-sent events: `order`, `trade`, `balance`, `position`, `equity`,
    `kill_switch`, as each batch commits (of one account, with `account`)."""
    feed = context.pipeline.live

    async def stream() -> AsyncIterator[bytes]:
        yield b"retry: 1000\n\n"
        updates = feed.subscribe()
        next_event = asyncio.ensure_future(anext(updates))
        try:
            while not await request.is_disconnected():
                done, _ = await asyncio.wait({next_event}, timeout=_HEARTBEAT_S)
                if not done:
                    yield b": heartbeat\n\n"
                    continue
                try:
                    kind, data = next_event.result()
                except StopAsyncIteration:  # dropped, or the service is stopping
                    return
                next_event = asyncio.ensure_future(anext(updates))
                if account is None or data.get("account") in (None, account):
                    yield b"event: " + kind.encode() + b"\ndata: " + codec.dumps(data) + b"\n\n"
        finally:
            next_event.cancel()
            await updates.aclose()

    return StreamingResponse(stream(), media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})


@router.get("/fill-quality", response_model=FillQuality)
async def fill_quality(context: Context, account: AccountFilter = None) -> JSONResponse:
    """How good the fills were: slippage of taker fills against the price at arrival,
    maker/taker share (of the newest 1,000 fills), rejections by reason (of the newest
    10,000 orders), and the intake-to-result latency histogram since the service started."""
    trades, rejected = await context.store.fill_quality(account)
    taker = [t for t in trades if t.liquidity is Liquidity.TAKER]
    slippage = sorted(t.slippage_bps for t in taker)
    notional = {kind: sum((t.notional for t in trades if t.liquidity is kind), Decimal(0))
                for kind in Liquidity}
    return JSONResponse({
        "account": account, "fills": len(trades),
        "slippage_bps": {
            "fills": len(slippage),
            "mean": statistics.fmean(slippage) if slippage else None,
            "p50": _quantile(slippage, 0.5), "p95": _quantile(slippage, 0.95),
            "max": slippage[-1] if slippage else None},
        "liquidity": {kind.value: {"fills": sum(t.liquidity is kind for t in trades),
                                   "notional": notional[kind]} for kind in Liquidity},
        "rejections": rejected,
        "latency": _latency_histogram(context),
    })


def _quantile(ordered: list[Decimal], q: float) -> Decimal | None:
    if not ordered:
        return None
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _latency_histogram(context: Context) -> list[dict[str, Any]]:
    """Orders per latency bucket (upper bound in ms; None: beyond the last)."""
    cumulative: dict[float, float] = {}
    for metric in context.metrics.order_latency.collect():
        for sample in metric.samples:
            if sample.name.endswith("_bucket"):
                cumulative[float(sample.labels["le"])] = sample.value
    bounds = [*LATENCY_BUCKETS_S, float("inf")]
    counts, below = [], 0.0
    for bound in bounds:
        total = cumulative.get(bound, below)
        counts.append({"le_ms": None if bound == float("inf") else bound * 1000,
                       "orders": int(total - below)})
        below = total
    return counts
