"""Request dependencies: the service context and the bearer-token guard."""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Depends, Header, HTTPException
from starlette.requests import HTTPConnection

from execution_service.api.context import ApiContext


def get_context(connection: HTTPConnection) -> ApiContext:
    """The service's parts, for a request or a WebSocket."""
    context: ApiContext = connection.app.state.context
    return context


Context = Annotated[ApiContext, Depends(get_context)]


def require_token(context: Context, authorization: Annotated[str | None, Header()] = None) -> None:
    """Allow state changes only with `Authorization: Bearer $API_TOKEN`."""
    if context.api_token is None:
        raise HTTPException(403, "state-changing endpoints are disabled: API_TOKEN is not set")
    scheme, _, given = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(
            given.strip().encode(), context.api_token.encode()):
        raise HTTPException(401, "missing or wrong bearer token",
                            headers={"WWW-Authenticate": "Bearer"})


Authorized = Depends(require_token)
