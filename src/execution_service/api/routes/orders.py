"""Orders: list, look up, submit (bearer token), cancel (bearer token)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Path, Query, Request

from execution_service.api.deps import Authorized, Context
from execution_service.api.responses import Answer, event_view, order_view
from execution_service.api.schemas import (
    OrderDetail,
    OrderResult,
    Problem,
    Refusal,
    StoredOrder,
    Unavailable,
    problems,
)
from execution_service.bus.envelope import Envelope, Outcome, Reply
from execution_service.domain import codec
from execution_service.domain.commands import CancelOrder
from execution_service.domain.orders import OrderStatus, Source
from execution_service.domain.symbols import normalize_symbol
from execution_service.pipeline import rest_envelope

router = APIRouter(tags=["orders"])

# Bodies above this are refused without a record: reading them would only feed an attack.
_DRAIN_LIMIT = 16 * 1024 * 1024
STATUS_CODES = {Outcome.CREATED: 201, Outcome.DUPLICATE: 200, Outcome.INVALID: 400,
                Outcome.NOT_FOUND: 404, Outcome.NOT_OPEN: 409, Outcome.OK: 200,
                Outcome.UNAVAILABLE: 503}

_ORDER_BODY: dict[str, Any] = {
    "requestBody": {"required": True,
                    "content": {"application/json": {"schema": codec.ORDER_SCHEMA}}}}


AccountFilter = Annotated[str | None, Query(max_length=64, pattern=r"^[A-Za-z0-9_.-]+$",
                                           description="one sub-account's only")]


OrderId = Annotated[str, Path(max_length=64)]
SymbolFilter = Annotated[str | None, Query(pattern=f"^({codec.SYMBOL_TEXT})?$",
                                          description="BTCUSDT, BTC/USDT, btc-usdt, ...")]


def symbol_filter(symbol: str | None) -> str | None:
    if not symbol:
        return None
    normalized = normalize_symbol(symbol)
    if normalized is None:
        raise HTTPException(422, f"symbol {symbol!r} is not a trading pair like BTCUSDT")
    return normalized


@router.get("/orders", response_model=list[StoredOrder])
async def list_orders(
    context: Context,
    limit: Annotated[int, Query(ge=1, le=1000)] = 20,
    symbol: SymbolFilter = None,
    status: OrderStatus | None = None,
    account: AccountFilter = None,
) -> Answer[list[StoredOrder]]:
    """The most recent orders first (of every account, or of `account`)."""
    orders = await context.reads.get_recent_orders(limit, symbol_filter(symbol), status, account)
    return Answer([order_view(order) for order in orders])


@router.get("/orders/{order_id}", response_model=OrderDetail, responses=problems(404))
async def get_order(context: Context, order_id: OrderId) -> Answer[OrderDetail]:
    """One order with its trades and its events."""
    detail = await context.reads.get_order_by_id(order_id)
    if detail is None:
        raise HTTPException(404, f"unknown order {order_id!r}")
    return Answer({
        **order_view(detail.order),
        "trades": [codec.trade_view(trade) for trade in detail.trades],
        "events": [event_view(event) for event in detail.events],
    })


@router.post("/orders", dependencies=[Authorized], status_code=201, openapi_extra=_ORDER_BODY,
             response_model=OrderResult,
             responses={200: {"description": "the same order again: the original's result",
                              "model": OrderResult},
                        400: {"description": "not an order", "model": Refusal},
                        413: {"description": "body too large", "model": Refusal | Problem},
                        503: {"description": "not committed in time", "model": Unavailable},
                        **problems(401, 403)})
async def submit_order(context: Context, request: Request) -> Answer[OrderResult]:
    """Execute an order; answers once it is committed (201), or with the original if known (200)."""
    head, size = await _read_body(request, context.max_body_bytes)
    envelope = rest_envelope(head, context.clock.now())
    if size > len(head):  # recorded in rejected_messages like an oversized message on Redis
        envelope.size = size
        reply = await context.gateway.submit(envelope)
        return Answer.relayed(reply.body, 413 if reply.outcome is Outcome.INVALID else 503)
    return _answer(await context.gateway.submit(envelope))


@router.delete("/orders/{order_id}", dependencies=[Authorized], response_model=OrderResult,
               responses={404: {"description": "unknown order", "model": Refusal},
                          409: {"description": "the order is no longer open", "model": Refusal},
                          503: {"description": "not committed in time", "model": Unavailable},
                          **problems(401, 403)})
async def cancel_order(context: Context, order_id: OrderId) -> Answer[OrderResult]:
    """Cancel an open order."""
    envelope = Envelope(source=Source.REST, received_at=context.clock.now(),
                        command=CancelOrder(order_id=order_id))
    return _answer(await context.gateway.submit(envelope))


def _answer(reply: Reply) -> Answer[OrderResult]:
    return Answer.relayed(reply.body, STATUS_CODES[reply.outcome])


async def _read_body(request: Request, limit: int) -> tuple[bytes, int]:
    """The body's first `limit` bytes and its full size; the rest of an oversized body is
    read and dropped, up to `_DRAIN_LIMIT`, so the caller gets an answer, not a reset."""
    declared = request.headers.get("content-length", "")
    size = codec.whole_number(declared, 9) if declared else 0
    if size is None or size > _DRAIN_LIMIT:
        raise HTTPException(413, f"body larger than {limit} bytes")
    head = bytearray()
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if len(head) < limit:
            head.extend(chunk[:limit - len(head)])
        if size > _DRAIN_LIMIT:
            raise HTTPException(413, f"body larger than {limit} bytes")
    return bytes(head), size
