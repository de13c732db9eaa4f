"""The dashboard: its page (`/`, plain HTML, CSS and JavaScript shipped in the package, no
build step), the live events it listens to (`/events`, server-sent events from the
pipeline's memory) and the fill-quality figures it shows (`/fill-quality`)."""

from __future__ import annotations

import statistics
from collections.abc import AsyncIterator
from decimal import Decimal
from importlib import resources

from fastapi import APIRouter, HTTPException
from fastapi.responses import Response, StreamingResponse

from execution_service.api.deps import Context
from execution_service.api.responses import Answer, JSONResponse
from execution_service.api.routes.orders import AccountFilter
from execution_service.api.schemas import FillQuality, LatencyBucket
from execution_service.domain.orders import Liquidity
from execution_service.metrics import LATENCY_BUCKETS_S

router = APIRouter(tags=["dashboard"])

_ASSETS = {"dashboard.css": "text/css", "dashboard.js": "text/javascript"}


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
async def events(context: Context, account: AccountFilter = None) -> Response:
    """Server-sent events: `order`, `trade`, `balance`, `position`, `equity`,
    `kill_switch`, as each batch commits (of one account, with `account`), a few times a
    second at most; 503 beyond EVENTS_MAX_VIEWERS open streams."""
    feed = context.monitor.live
    viewer = feed.subscribe(account)
    if viewer is None:
        context.metrics.http_refused.labels("viewers").inc()
        return JSONResponse({"detail": f"{feed.max_viewers} viewers are watching already "
                             "(EVENTS_MAX_VIEWERS); try again later"}, status_code=503,
                            headers={"Retry-After": "10"})

    async def stream() -> AsyncIterator[bytes]:
        try:
            yield b"retry: 1000\n\n"
            while (chunk := await viewer.next()) is not None:
                yield chunk
        finally:
            feed.unsubscribe(viewer)

    return StreamingResponse(stream(), media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})


@router.get("/fill-quality", response_model=FillQuality)
async def fill_quality(context: Context, account: AccountFilter = None) -> Answer[FillQuality]:
    """How good the fills were: slippage of taker fills against the price at arrival,
    maker/taker share (of the newest 1,000 fills), rejections by reason (of the newest
    10,000 orders), and the intake-to-result latency histogram since the service started."""
    trades, rejected = await context.reads.fill_quality(account)
    taker = [t for t in trades if t.liquidity is Liquidity.TAKER]
    slippage = sorted(t.slippage_bps for t in taker)
    notional = {kind: sum((t.notional for t in trades if t.liquidity is kind), Decimal(0))
                for kind in Liquidity}
    return Answer({
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


def _latency_histogram(context: Context) -> list[LatencyBucket]:
    """Orders per latency bucket (upper bound in ms; None: beyond the last)."""
    cumulative: dict[float, float] = {}
    for metric in context.metrics.order_latency.collect():
        for sample in metric.samples:
            if sample.name.endswith("_bucket"):
                cumulative[float(sample.labels["le"])] = sample.value
    bounds = [*LATENCY_BUCKETS_S, float("inf")]
    counts: list[LatencyBucket] = []
    below = 0.0
    for bound in bounds:
        total = cumulative.get(bound, below)
        counts.append({"le_ms": None if bound == float("inf") else bound * 1000,
                       "orders": int(total - below)})
        below = total
    return counts
