"""The paper account: trades and balances."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from execution_service.api.deps import Context
from execution_service.api.responses import JSONResponse, trade_view
from execution_service.api.routes.orders import symbol_filter

router = APIRouter(tags=["account"])


@router.get("/trades")
async def list_trades(
    context: Context,
    limit: Annotated[int, Query(ge=1, le=1000)] = 20,
    symbol: Annotated[str | None, Query(max_length=32)] = None,
) -> JSONResponse:
    """The most recent fills first."""
    trades = await context.store.get_trades(limit, symbol_filter(symbol))
    return JSONResponse([trade_view(trade) for trade in trades])


@router.get("/balances")
async def balances(context: Context) -> JSONResponse:
    """Free and locked amount per asset."""
    return JSONResponse(await context.store.get_balances())
