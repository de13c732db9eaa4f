"""The HTTP server's side of the app: the connection's protocol, with the bounds uvicorn
lacks, and the app as uvicorn runs it.

The protocol is uvicorn's h11 protocol with two bounds added:

- A deadline for the request head: uvicorn times out only an idle keep-alive connection,
  so a client that sends its head a byte at a time (slowloris) held a connection for
  ever; 1,500 of them stayed open indefinitely. Here a head not complete within
  `head_timeout_s` of its first byte (or of the connection) closes the connection.
- A cap on open connections: one beyond `max_connections` is answered 503 and closed at
  once, before anything of it is read or parsed.

uvicorn's own `limit_concurrency` keeps such a connection open and logs a line per
request refused, which a flood turns into a flood of log lines.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import h11
from starlette.types import ASGIApp, Receive, Scope, Send
from uvicorn.protocols.http.h11_impl import H11Protocol

_BUSY = (b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
         b"Content-Length: 51\r\nRetry-After: 1\r\nConnection: close\r\n\r\n"
         b'{"detail":"too many connections; try again later"}')


def bounded_protocol(*, head_timeout_s: float, max_connections: int,
                     refused: Callable[[str], None] = lambda reason: None) -> type[H11Protocol]:
    """uvicorn's h11 protocol with these bounds; `refused` is told of each connection
    closed by one ("busy" or "head_timeout")."""

    class BoundedH11Protocol(H11Protocol):
        _head_deadline: asyncio.TimerHandle | None = None

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            if len(self.connections) > max_connections:
                refused("busy")
                transport.write(_BUSY)
                transport.close()
                return
            self._watch_head()

        def data_received(self, data: bytes) -> None:
            super().data_received(data)
            self._watch_head()

        def connection_lost(self, exc: Exception | None) -> None:
            self._stop_watching()
            super().connection_lost(exc)

        def _watch_head(self) -> None:
            """A deadline runs while a request head is awaited or half read; a complete
            head (the request is being answered) ends it."""
            reading_head = self.conn.their_state is h11.IDLE and not self.transport.is_closing()
            if reading_head and self._head_deadline is None:
                self._head_deadline = self.loop.call_later(head_timeout_s, self._head_too_slow)
            elif not reading_head:
                self._stop_watching()

        def _stop_watching(self) -> None:
            if self._head_deadline is not None:
                self._head_deadline.cancel()
                self._head_deadline = None

        def _head_too_slow(self) -> None:
            self._head_deadline = None
            if self.conn.their_state is h11.IDLE and not self.transport.is_closing():
                refused("head_timeout")
                self.transport.close()

    return BoundedH11Protocol


class Contained:
    """The app as the server runs it. A request that raised has been answered 500 and its
    cause logged once by the app's last-resort handler; Starlette raises the exception
    again all the same, and uvicorn would log its traceback for every such request."""

    def __init__(self, app: ASGIApp) -> None:
        self._app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await self._app(scope, receive, send)
        except Exception:
            if scope["type"] != "http":
                raise
