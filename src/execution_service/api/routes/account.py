"""The paper accounts: trades, balances, positions and equity.

Trades are every account's unless `account` names one; balances, positions and equity are
one account's: the default one unless `account` names another."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Query

from execution_service.api.deps import Context
from execution_service.api.responses import Answer
from execution_service.api.routes.orders import AccountFilter, SymbolFilter, symbol_filter
from execution_service.api.schemas import (
    Balances,
    Equity,
    EquitySnapshotView,
    Fill,
    PositionView,
    problems,
)
from execution_service.domain import codec
from execution_service.domain.orders import DEFAULT_ACCOUNT

router = APIRouter(tags=["account"])


@router.get("/trades", response_model=list[Fill])
async def list_trades(
    context: Context,
    limit: Annotated[int, Query(ge=1, le=1000)] = 20,
    symbol: SymbolFilter = None,
    account: AccountFilter = None,
) -> Answer[list[Fill]]:
    """The most recent fills first."""
    trades = await context.reads.get_trades(limit, symbol_filter(symbol), account)
    return Answer([codec.trade_view(trade) for trade in trades])


@router.get("/accounts", response_model=list[str])
async def accounts(context: Context) -> Answer[list[str]]:
    """The sub-accounts: the default one, those configured and those holding balances."""
    return Answer(context.exchange.accounts())


@router.get("/balances", response_model=Balances, responses=problems(404))
async def balances(context: Context, account: AccountFilter = None) -> Answer[Balances]:
    """Free and locked amount per asset."""
    held = await context.reads.get_balances(_known(context, account))
    return Answer({asset: {"free": amounts["free"], "locked": amounts["locked"]}
                   for asset, amounts in held.items()})


@router.get("/positions", response_model=list[PositionView], responses=problems(404))
async def positions(context: Context, account: AccountFilter = None
                    ) -> Answer[list[PositionView]]:
    """Per symbol: net quantity, average entry price, realized PnL and fees, and the
    unrealized PnL marked to the last price."""
    views: list[PositionView] = []
    for position in await context.reads.get_positions(_known(context, account)):
        last = context.exchange.last_price(position.symbol)
        unrealized = position.unrealized(last)
        views.append({
            "symbol": position.symbol, "quantity": position.quantity,
            "avg_entry_price": position.avg_entry_price, "last_price": last,
            "realized_pnl": position.realized_pnl, "unrealized_pnl": unrealized,
            "fees": position.fees, "net_pnl": position.realized_pnl + unrealized - position.fees,
            "quote_asset": position.quote_asset, "account": position.account,
            "updated_at": position.updated_at.isoformat() if position.updated_at else None,
        })
    return Answer(views)


@router.get("/equity", response_model=Equity, responses=problems(404))
async def equity(
    context: Context,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 500,
    since: Annotated[str | None, Query(pattern=codec.TIME_PATTERN,
                                       description="epoch milliseconds or ISO 8601")] = None,
    account: AccountFilter = None,
) -> Answer[Equity]:
    """The account's value now, and the stored snapshots (every EQUITY_INTERVAL_S), oldest first."""
    try:
        after = codec.parse_moment(since, "since") if since else None
    except ValueError as invalid:
        raise HTTPException(422, str(invalid)) from None
    name = _known(context, account)
    valued = context.exchange.valuation(name)
    assert valued is not None  # (_known checked it)
    total, unpriced, detail = valued
    snapshots: list[EquitySnapshotView] = [
        {"at": s["at"], "quote_asset": s["quote_asset"], "equity": s["equity"],
         "unpriced": s["unpriced"]} for s in await context.reads.get_equity(limit, after, name)]
    return Answer({
        "current": {"at": context.clock.now().isoformat(), "quote_asset": context.exchange.equity_quote,
                    "account": name, "equity": total, "unpriced": unpriced, "assets": detail},
        "snapshots": snapshots,
    })


def _known(context: Context, account: str | None) -> str:
    """The account named (the default one when none is), which must exist."""
    name = account or DEFAULT_ACCOUNT
    if name not in context.exchange.accounts():
        raise HTTPException(404, f"unknown account {name!r}")
    return name
