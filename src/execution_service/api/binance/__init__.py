"""Binance's spot REST API (`/api/v3/...`) on the service's HTTP port, so that a bot built
on ccxt or python-binance can point at this service. Field names, decimal strings and
error codes follow Binance's documentation (binance-spot-api-docs: rest-api.md,
errors.md): the public market data now (`market.py`) and its history (`history.py`),
and the SIGNED account and order endpoints (`trading.py`, checked by `signing.py`); beside
them, the `/sapi` calls clients make of a spot account (`sapi.py`)."""

from fastapi import APIRouter

from execution_service.api.binance import (
    history,
    lists,
    market,
    sapi,
    sockets,
    trading,
    user_data,
)
from execution_service.api.binance.errors import BinanceError, binance_error

router = APIRouter(prefix="/api/v3", tags=["binance"])
router.include_router(market.router)
router.include_router(history.router)
router.include_router(trading.router)
router.include_router(lists.router)
router.include_router(user_data.router)

sapi_router = sapi.router  # /sapi: the wallet calls clients make beside /api/v3
socket_router = sockets.router  # /ws, /stream, /ws-api/v3: Binance's WebSockets
BinanceStreams = sockets.BinanceStreams

__all__ = ["BinanceError", "BinanceStreams", "binance_error", "router", "sapi_router",
           "socket_router"]
