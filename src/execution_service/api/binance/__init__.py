"""Binance's spot REST API (`/api/v3/...`) on the service's HTTP port, so that a bot built
on ccxt or python-binance can point at this service. Field names, decimal strings and
error codes follow Binance's documentation (binance-spot-api-docs: rest-api.md,
errors.md). So far the public market data: now (`market.py`) and its history
(`history.py`); the signed account and order endpoints are to come."""

from fastapi import APIRouter

from execution_service.api.binance import history, market
from execution_service.api.binance.errors import BinanceError, binance_error

router = APIRouter(prefix="/api/v3", tags=["binance"])
router.include_router(market.router)
router.include_router(history.router)

__all__ = ["BinanceError", "binance_error", "router"]
