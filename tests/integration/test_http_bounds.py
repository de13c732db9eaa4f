"""The HTTP server's bounds, with real sockets: a request head that never completes
(slowloris) is cut off, connections beyond the cap are answered 503 and closed at once,
and a well-behaved client is served throughout."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator

import uvicorn
from starlette.types import Receive, Scope, Send

from execution_service.api.server import bounded_protocol
from tests.helpers import free_port, wait_for


async def hello(scope: Scope, receive: Receive, send: Send) -> None:
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"text/plain")]})
    await send({"type": "http.response.body", "body": b"hello"})


@contextlib.asynccontextmanager
async def serving(refused: list[str], **bounds: float) -> AsyncIterator[int]:
    port = free_port()
    protocol = bounded_protocol(refused=refused.append, **bounds)  # type: ignore[arg-type]
    server = uvicorn.Server(uvicorn.Config(hello, host="127.0.0.1", port=port, http=protocol,
                                           log_config=None, lifespan="off"))
    task = asyncio.create_task(server.serve())
    await wait_for(lambda: _started(server), timeout_s=10, what="the server listening")
    try:
        yield port
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 10)


async def _started(server: uvicorn.Server) -> bool:
    return server.started


async def get(port: int) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"GET / HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n")
    answer = await asyncio.wait_for(reader.read(), 5)
    writer.close()
    return answer


async def test_a_head_sent_a_byte_at_a_time_is_cut_off_and_others_are_served() -> None:
    refused: list[str] = []
    async with serving(refused, head_timeout_s=0.5, max_connections=100) as port:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        started = time.monotonic()

        async def trickle() -> None:
            for byte in b"GET / HTTP/1.1\r\nHost: test\r\nX-Slow: " + b"a" * 100:
                writer.write(bytes([byte]))
                await asyncio.sleep(0.05)

        sending = asyncio.create_task(trickle())
        served = [await get(port) for _ in range(3)]  # other clients meanwhile
        assert await asyncio.wait_for(reader.read(), 3) == b""  # cut off
        closed_after = time.monotonic() - started
        sending.cancel()
        writer.close()
        assert 0.4 < closed_after < 2.0
        assert all(b"hello" in answer for answer in served)
        assert b"hello" in await get(port)
    assert refused == ["head_timeout"]


async def test_a_connection_that_sends_nothing_is_closed_after_the_head_timeout() -> None:
    refused: list[str] = []
    async with serving(refused, head_timeout_s=0.3, max_connections=100) as port:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        assert await asyncio.wait_for(reader.read(), 3) == b""
        writer.close()
    assert refused == ["head_timeout"]


async def test_connections_beyond_the_cap_are_answered_503_at_once() -> None:
    refused: list[str] = []
    async with serving(refused, head_timeout_s=30, max_connections=20) as port:
        idle = [await asyncio.open_connection("127.0.0.1", port) for _ in range(20)]
        await asyncio.sleep(0.1)
        extra_reader, extra_writer = await asyncio.open_connection("127.0.0.1", port)
        answer = await asyncio.wait_for(extra_reader.read(), 3)
        assert answer.startswith(b"HTTP/1.1 503 ")
        assert b"too many connections" in answer
        extra_writer.close()
        for _, writer in idle[:5]:  # five leave: five places free
            writer.close()
        await asyncio.sleep(0.1)
        assert b"hello" in await get(port)
        for _, writer in idle[5:]:
            writer.close()
    assert refused == ["busy"]
