"""Running the real service inside the test's event loop, and listening to what it says."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import httpx
import orjson
import redis.asyncio as aioredis

from execution_service.config import load_settings
from execution_service.service import ExecutionService
from tests.helpers import REDIS_URL, Names, free_port, wait_for


@contextlib.asynccontextmanager
async def running_service(names: Names, database_url: str, *, wait_ready: bool = True,
                          **overrides: Any) -> AsyncIterator[ExecutionService]:
    """Start the service with private names and a free HTTP port; stop it gracefully after.

    Waits until /ready would say 200, or with `wait_ready=False` until /health answers.
    """
    settings = load_settings(**{
        "redis_url": REDIS_URL, "database_url": database_url, "http_host": "127.0.0.1",
        "http_port": free_port(), "consumer_group": "execution-service",
        "mock_success_rate": 1.0, "log_format": "text", **names.settings(), **overrides})
    service = ExecutionService(settings)
    task = asyncio.create_task(service.run(handle_signals=False))

    async def ready() -> bool:
        if task.done():
            task.result()  # raises what made it stop
        if wait_ready:
            return not service.health.not_ready_reasons()
        try:
            async with httpx.AsyncClient() as client:
                return (await client.get(base_url(service) + "/health")).status_code == 200
        except httpx.TransportError:
            return False

    try:
        await wait_for(ready, timeout_s=15, what="service ready")
        yield service
    finally:
        service.stop()
        await asyncio.wait_for(task, timeout=15)


def base_url(service: ExecutionService) -> str:
    return f"http://127.0.0.1:{service.settings.http_port}"


class Listener:
    """Collects every message published on a channel, from the moment it is created."""

    def __init__(self, channel: str) -> None:
        self._channel = channel
        self.messages: list[dict[str, Any]] = []
        self._client = aioredis.Redis.from_url(REDIS_URL)
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Listener:
        pubsub = self._client.pubsub(ignore_subscribe_messages=True)
        await pubsub.subscribe(self._channel)
        self._task = asyncio.create_task(self._listen(pubsub))
        return self

    async def _listen(self, pubsub: Any) -> None:
        async for message in pubsub.listen():
            self.messages.append(orjson.loads(message["data"]))

    async def __aexit__(self, *_: object) -> None:
        assert self._task is not None
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        await self._client.aclose()

    async def wait_count(self, count: int, timeout_s: float = 15) -> list[dict[str, Any]]:
        async def enough() -> bool:
            return len(self.messages) >= count
        await wait_for(enough, timeout_s=timeout_s, what=f"{count} results")
        return self.messages
