"""The paper account: trades, balances, positions and equity."""

from __future__ import annotations

from datetime import UTC, datetime
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


@router.get("/positions")
async def positions(context: Context) -> JSONResponse:
    """Per symbol: net quantity, average entry price, realized PnL and fees, and the
    unrealized PnL marked to the last price."""
    views = []
    for position in await context.store.get_positions():
        last = context.pipeline.last_price(position.symbol)
        unrealized = position.unrealized(last)
        views.append({
            "symbol": position.symbol, "quantity": position.quantity,
            "avg_entry_price": position.avg_entry_price, "last_price": last,
            "realized_pnl": position.realized_pnl, "unrealized_pnl": unrealized,
            "fees": position.fees, "net_pnl": position.realized_pnl + unrealized - position.fees,
            "quote_asset": position.quote_asset,
            "updated_at": position.updated_at.isoformat() if position.updated_at else None,
        })
    return JSONResponse(views)


@router.get("/equity")
async def equity(
    context: Context,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 500,
    since: datetime | None = None,
) -> JSONResponse:
    """The account's value now, and the stored snapshots (every EQUITY_INTERVAL_S), oldest first."""
    if since is not None and since.tzinfo is None:
        since = since.replace(tzinfo=UTC)
    total, unpriced, detail = context.pipeline.valuation()
    return JSONResponse({
        "current": {"at": datetime.now(UTC).isoformat(), "quote_asset": context.pipeline.equity_quote,
                    "equity": total, "unpriced": unpriced, "assets": detail},
        "snapshots": await context.store.get_equity(limit, since),
    })
