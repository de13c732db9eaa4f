"""Fixtures of the fault suite: private servers, and the real service started against them."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.faults.servers import PrivatePostgres, PrivateRedis, private_redis
from tests.processes import Start, starter

TOKEN = "fault-suite-token"
INITIAL_BALANCES = "USDT=10000000,BTC=10,ETH=100"


@pytest.fixture(scope="session")
def postgres_cluster() -> Iterator[PrivatePostgres]:
    cluster = PrivatePostgres()
    cluster.start()
    yield cluster
    cluster.remove()


@pytest.fixture
def pg_url(postgres_cluster: PrivatePostgres) -> str:
    if not postgres_cluster.running():  # a test that stopped it failed before starting it again
        postgres_cluster.start()
    return postgres_cluster.create_database()


@pytest.fixture
def workdir() -> Iterator[Path]:
    """A directory the service and the servers may write to; removed afterwards."""
    directory = Path(tempfile.mkdtemp(prefix="execution-faults-"))
    yield directory
    shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture
def redis_server(workdir: Path) -> Iterator[PrivateRedis]:
    """A private Redis that keeps its streams across a stop (append-only file), with
    Redis's default limit for slow pub/sub subscribers (32 MB, or 8 MB for 60 s)."""
    (workdir / "redis").mkdir()
    with private_redis(workdir / "redis", persistent=True,
                       client_output_buffer_limit="pubsub 32mb 8mb 60") as server:
        yield server


@pytest.fixture
def start(redis_server: PrivateRedis, pg_url: str, workdir: Path) -> Iterator[Start]:
    """Start the real service on the private servers; every process is killed afterwards."""
    defaults = {"DATABASE_URL": pg_url, "API_TOKEN": TOKEN, "LOG_FORMAT": "json",
                "INITIAL_BALANCES": INITIAL_BALANCES, "CLAIM_IDLE_MS": "2000"}
    with starter(defaults, workdir, redis_url=redis_server.url) as start:
        yield start
