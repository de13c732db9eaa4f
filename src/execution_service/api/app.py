"""The FastAPI application factory."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException

from execution_service import __version__
from execution_service.api import binance
from execution_service.api.context import ApiContext
from execution_service.api.responses import JSONResponse
from execution_service.api.routes import account, health, kill_switch, orders
from execution_service.errors import DatabaseUnavailable

log = logging.getLogger(__name__)


def create_app(context: ApiContext) -> FastAPI:
    """Build the app around the service's parts; it holds no state of its own."""
    app = FastAPI(title="execution-service", version=__version__,
                  default_response_class=JSONResponse,
                  description="Paper-trading execution service (SPEC section 7).")
    app.state.context = context
    for module in (health, orders, account, kill_switch):
        app.include_router(module.router)
    app.include_router(binance.router)
    app.add_exception_handler(binance.BinanceError, binance.binance_error)  # type: ignore[arg-type]
    app.add_exception_handler(HTTPException, _http_error)  # type: ignore[arg-type]
    app.add_exception_handler(RequestValidationError, _validation_error)  # type: ignore[arg-type]
    app.add_exception_handler(DatabaseUnavailable, _database_unavailable)  # type: ignore[arg-type]
    app.add_exception_handler(Exception, _unexpected)
    return app


async def _http_error(_request: Request, exc: HTTPException) -> JSONResponse:
    return JSONResponse({"detail": exc.detail}, status_code=exc.status_code,
                        headers=getattr(exc, "headers", None))


async def _validation_error(_request: Request, exc: RequestValidationError) -> JSONResponse:
    problems = [f"{'.'.join(str(p) for p in error['loc'])}: {error['msg']}"
                for error in exc.errors()]
    return JSONResponse({"detail": "; ".join(problems)}, status_code=422)


async def _database_unavailable(_request: Request, exc: DatabaseUnavailable) -> JSONResponse:
    return JSONResponse({"detail": f"database unavailable: {exc}"}, status_code=503)


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    log.exception("unexpected error on %s %s", request.method, request.url.path)
    return JSONResponse({"detail": "internal error; see the service log"}, status_code=500)
