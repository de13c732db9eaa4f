"""The `/sapi` calls an exchange client makes of a spot account beside `/api/v3` (found by
running ccxt and Freqtrade against the service): system status, trade fees, the delisting
schedule and the coins' configuration, so that a client whose `api` and `sapi` URLs point
here sends every request here. A paper account has no wallet: nothing can be deposited,
withdrawn or delisted.
"""

from __future__ import annotations

from decimal import Decimal

from fastapi import APIRouter

from execution_service.api import schemas
from execution_service.api.binance.errors import BinanceError
from execution_service.api.binance.params import text
from execution_service.api.binance.signing import SignedRequest
from execution_service.api.deps import Context
from execution_service.api.responses import Answer
from execution_service.domain.symbols import split_symbol

router = APIRouter(prefix="/sapi", tags=["binance"])
_SIGNED = schemas.problems(400, 401, binance=True)


@router.get("/v1/system/status", response_model=schemas.SystemStatus)
async def system_status() -> Answer[schemas.SystemStatus]:
    """0: normal (1 would be "system maintenance")."""
    return Answer({"status": 0, "msg": "normal"})


@router.get("/v1/asset/tradeFee", response_model=list[schemas.TradeFee], responses=_SIGNED)
async def trade_fee(context: Context, request: SignedRequest) -> Answer[list[schemas.TradeFee]]:
    """Each symbol's maker and taker fee (the service's one schedule), or `symbol`'s."""
    markets = context.exchange.markets()
    symbol = request.params.get("symbol") or None
    if symbol is not None and symbol not in markets:
        raise BinanceError.bad_symbol()
    fees = context.fees
    return Answer([{"symbol": name, "makerCommission": text(fees.maker),
                    "takerCommission": text(fees.taker)}
                   for name in ([symbol] if symbol else sorted(markets))
                   if split_symbol(name) is not None])


@router.get("/v1/spot/delist-schedule", response_model=list[schemas.DelistSchedule],
            responses=_SIGNED)
async def delist_schedule(request: SignedRequest) -> Answer[list[schemas.DelistSchedule]]:
    """Nothing is delisted here."""
    return Answer([])


@router.get("/v1/capital/config/getall", response_model=list[schemas.Coin], responses=_SIGNED)
async def coins(context: Context, request: SignedRequest) -> Answer[list[schemas.Coin]]:
    """Every asset the markets trade, with the key's balance of it; no network: nothing
    can be deposited or withdrawn."""
    balances = await context.reads.get_balances(request.account)
    assets = sorted({part for name in context.exchange.markets()
                     if (pair := split_symbol(name)) is not None
                     for part in (pair.base, pair.quote)} | set(balances))
    zero = {"free": Decimal(0), "locked": Decimal(0)}
    return Answer([{"coin": asset, "name": asset, "depositAllEnable": False,
                    "withdrawAllEnable": False, "trading": True, "isLegalMoney": False,
                    "free": text(balances.get(asset, zero)["free"]),
                    "locked": text(balances.get(asset, zero)["locked"]),
                    "networkList": []} for asset in assets])
