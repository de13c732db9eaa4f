"""The FastAPI application factory."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi_offline import FastAPIOffline
from pydantic import TypeAdapter
from starlette.exceptions import HTTPException
from starlette.routing import Match
from starlette.types import ASGIApp, Receive, Scope, Send

from execution_service import __version__
from execution_service.api import binance
from execution_service.api.context import ApiContext
from execution_service.api.headers import SecurityHeaders
from execution_service.api.responses import JSONResponse
from execution_service.api.routes import account, dashboard, health, kill_switch, orders
from execution_service.api.schemas import BinanceProblem, Problem
from execution_service.api.weights import BINANCE_PREFIX, RequestWeights, weight
from execution_service.bus.health import Health
from execution_service.errors import DatabaseUnavailable
from execution_service.logs import OncePerCause

log = logging.getLogger(__name__)
_unexpected_errors = OncePerCause(log)


def create_app(context: ApiContext) -> FastAPI:
    """Build the app around the service's parts; it holds no state of its own."""
    # FastAPIOffline: /docs and /redoc from assets shipped in a package, not from a CDN.
    app = FastAPIOffline(title="execution-service", version=__version__,
                         default_response_class=JSONResponse,
                         description="Paper-trading execution service (SPEC section 7).")
    app.state.context = context
    for module in (health, orders, account, kill_switch, dashboard):
        app.include_router(module.router)
    app.include_router(binance.router)
    app.include_router(binance.sapi_router)
    app.include_router(binance.socket_router)
    app.add_exception_handler(binance.BinanceError, binance.binance_error)  # type: ignore[arg-type]
    app.add_exception_handler(HTTPException, _http_error)  # type: ignore[arg-type]
    app.add_exception_handler(RequestValidationError, _validation_error)  # type: ignore[arg-type]
    app.add_exception_handler(DatabaseUnavailable, _database_unavailable)  # type: ignore[arg-type]
    app.add_exception_handler(Exception, _unexpected)
    app.openapi = _with_own_errors(app.openapi)  # type: ignore[method-assign]
    # Pure ASGI middlewares (Starlette's BaseHTTPMiddleware moved every chunk of an event
    # stream through a task and a memory stream of its own), innermost first.
    app.add_middleware(NotBeforeTheDatabase, health=context.health)
    app.add_middleware(RequestWeights, limit=context.weight_limit,
                       refused=context.metrics.http_refused.labels("weight").inc,
                       clock=context.clock)
    app.add_middleware(SecurityHeaders)  # (added last: around everything, 429s included)

    return app


# What reads the database (or the state loaded from it); the rest answers from the start.
_DATABASE_PATHS = ("/orders", "/trades", "/balances", "/positions", "/equity", "/accounts",
                   "/fill-quality", "/kill-switch", "/api/v3/account", "/api/v3/order",
                   "/api/v3/openOrders", "/api/v3/allOrders", "/api/v3/myTrades",
                   "/sapi/v1/capital")


def _needs_database(path: str) -> bool:
    return any(path == p or path.startswith(p + "/") for p in _DATABASE_PATHS)


class NotBeforeTheDatabase:
    """ASGI middleware: until the migrations have run and the state is loaded, what reads
    the database answers 503 with the reason (not a 500 from a table that does not exist
    yet), with Retry-After."""

    def __init__(self, app: ASGIApp, *, health: Health) -> None:
        self._app = app
        self._health = health

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or self._health.started or not _needs_database(scope["path"]):
            await self._app(scope, receive, send)
            return
        reason = ("starting: the database is not ready yet"
                  + (f" ({self._health.db_error})" if self._health.db_error else ""))
        body: dict[str, Any] = {"detail": reason}
        if scope["path"].startswith((BINANCE_PREFIX + "/", "/sapi/")):
            body = {"code": -1001, "msg": f"Internal error; {reason}."}
        answer = JSONResponse(body, status_code=503, headers={"Retry-After": "1"})
        await answer(scope, receive, send)


def _with_own_errors(build: Callable[[], dict[str, Any]]) -> Callable[[], dict[str, Any]]:
    """The OpenAPI document, its validation errors (422) as this service answers them:
    `{"detail": "<field>: <problem>; ..."}`, and the 429 of every operation that costs
    request weight (api/weights.py)."""
    def document() -> dict[str, Any]:
        schema = build()
        components = schema["components"]["schemas"]
        problem = TypeAdapter(Problem).json_schema()
        components["HTTPValidationError"] = problem
        components.setdefault("Problem", problem)
        components.setdefault("BinanceProblem", TypeAdapter(BinanceProblem).json_schema())
        for path, operations in schema["paths"].items():
            for method, operation in operations.items():
                if weight(method.upper(), path, b"") or path.startswith(BINANCE_PREFIX):
                    operation["responses"].setdefault("429", _too_many(path))
        return schema
    return document


def _too_many(path: str) -> dict[str, Any]:
    model = "BinanceProblem" if path.startswith(BINANCE_PREFIX) else "Problem"
    return {"description": "this client address used its request weight for the minute "
                           "(HTTP_WEIGHT_LIMIT); Retry-After says when to come back",
            "headers": {"Retry-After": {"schema": {"type": "integer"},
                                        "description": "seconds until the next minute"}},
            "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{model}"}}}}


def _is_binance(request: Request) -> bool:
    """Whether the request is under Binance's paths, where every error is Binance's
    `{"code", "msg"}` (its clients read nothing else)."""
    path: str = request.url.path
    return any(path == prefix or path.startswith(prefix + "/")
               for prefix in (binance.router.prefix, binance.sapi_router.prefix))


async def _http_error(request: Request, exc: HTTPException) -> JSONResponse:
    headers = dict(getattr(exc, "headers", None) or {})
    if exc.status_code == 405:  # every method the path has, not only the first route's
        headers["Allow"] = ", ".join(_allowed(request))
    if _is_binance(request):
        code, msg = _BINANCE_HTTP_ERRORS.get(exc.status_code, (-1000, str(exc.detail)))
        return JSONResponse({"code": code, "msg": msg.format(request=request)},
                            status_code=exc.status_code, headers=headers or None)
    return JSONResponse({"detail": exc.detail}, status_code=exc.status_code,
                        headers=headers or None)


# Binance's errors.md: -1020 UNSUPPORTED_OPERATION, -1000 UNKNOWN.
_BINANCE_HTTP_ERRORS = {
    404: (-1020, "This operation is not supported."),  # (Binance's own words, nothing more)
    405: (-1020, "This operation is not supported."),
}


def _allowed(request: Request) -> list[str]:
    methods: set[str] = set()
    for route in request.app.router.routes:
        match, _ = route.matches(request.scope)
        if match is not Match.NONE:
            methods.update(getattr(route, "methods", None) or ())
    return sorted(methods)


async def _validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
    errors = exc.errors()
    if _is_binance(request) and errors:
        return await binance.binance_error(request, binance.BinanceError.from_validation(errors[0]))
    problems = [f"{'.'.join(str(p) for p in error['loc'])}: {error['msg']}" for error in errors]
    return JSONResponse({"detail": "; ".join(problems)}, status_code=422)


async def _database_unavailable(request: Request, exc: DatabaseUnavailable) -> JSONResponse:
    if _is_binance(request):
        return JSONResponse({"code": -1001, "msg": "Internal error; unable to process your "
                             "request. Please try again."}, status_code=503,
                            headers={"Retry-After": "1"})
    return JSONResponse({"detail": f"database unavailable: {exc}"}, status_code=503,
                        headers={"Retry-After": "1"})


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    """The last resort: a bug. Its traceback is logged once per cause, not per request."""
    _unexpected_errors.exception("unexpected error on %s %s", exc, request.method,
                                 request.url.path)
    if _is_binance(request):
        return JSONResponse({"code": -1000, "msg": "An unknown error occurred while "
                             "processing the request."}, status_code=500)
    return JSONResponse({"detail": "internal error; see the service log"}, status_code=500)
