"""Test helpers: polling instead of sleeping, free ports, unique Redis names."""

from __future__ import annotations

import asyncio
import socket
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass
from typing import Any, TypeVar

import psycopg

from execution_service.config import load_settings
from execution_service.store.database import Database

T = TypeVar("T")

REDIS_URL = "redis://127.0.0.1:6379/0"
POSTGRES_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"


async def wait_for(
    probe: Callable[[], Awaitable[T]], *, timeout_s: float = 10.0, interval_s: float = 0.02,
    what: str = "condition",
) -> T:
    """Poll `probe` until it returns something truthy; fail after `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = await probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s} s waiting for {what} (last: {value!r})")
        await asyncio.sleep(interval_s)


def wait_for_sync(probe: Callable[[], T], *, timeout_s: float = 10.0, what: str = "condition") -> T:
    deadline = time.monotonic() + timeout_s
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s} s waiting for {what} (last: {value!r})")
        time.sleep(0.05)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True)
class Names:
    """Redis channel and stream names private to one test, so tests never see each other."""

    prefix: str
    orders_channel: str
    orders_stream: str
    results_channel: str
    fills_stream: str
    market_data_channel: str
    control_stream: str
    journal_stream: str

    @classmethod
    def new(cls) -> Names:
        p = f"t{uuid.uuid4().hex[:10]}"
        return cls(p, f"{p}.orders", f"{p}.stream.orders", f"{p}.order_results",
                   f"{p}.stream.fills", f"{p}.market_data", f"{p}.stream.bot_shutdown",
                   f"{p}.journal")

    def settings(self) -> dict[str, Any]:
        return {key: value for key, value in asdict(self).items() if key != "prefix"}

    def env(self) -> dict[str, str]:
        """As environment variables for a service process, with a consumer group of its
        own: a test may kill the process, and what it holds in the group (the matcher
        lease, pending entries) must not reach into the next test."""
        return {**{key.upper(): value for key, value in self.settings().items()},
                "CONSUMER_GROUP": f"{self.prefix}.group"}


SCHEMA = "execution"  # DATABASE_SCHEMA's default: where the service's tables live on PostgreSQL


def pg_connect(url: str, **kwargs: Any) -> psycopg.Connection[Any]:
    """A psycopg connection that sees the service's tables, as the service's own do."""
    return psycopg.connect(url, options=f"-c search_path={SCHEMA}", **kwargs)


def database_for(url: str) -> Database:
    """The service's `Database` for `url`, configured as the service configures it."""
    settings = load_settings(database_url=url)
    return Database(settings.database(), schema=settings.database_schema)
