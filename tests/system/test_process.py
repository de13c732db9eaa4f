"""The real process, judged by the origin document's success criteria.

1. the process starts and stays up; 2. /health is 200; 3. /status shows Redis connected;
4. /status shows database stats; 5. the seed's test order published on `orders` is
answered on `order_results`; 6. it is stored in `orders` (and `trades` when filled);
and SIGTERM (or SIGINT) ends the process with exit code 0.
"""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
import redis

from tests.helpers import REDIS_URL, Names, pg_connect
from tests.processes import Start, clean_environment, starter

SEED_ORDER = '{"symbol":"BTCUSDT","side":"BUY","quantity":0.001}'


@pytest.fixture
def start(names: Names, tmp_path: Path) -> Iterator[Start]:
    with starter({**names.env(), "MOCK_SUCCESS_RATE": "1"}, tmp_path) as start:
        yield start


def published_result(names: Names, send: str) -> dict[str, object]:
    client = redis.Redis.from_url(REDIS_URL)
    pubsub = client.pubsub(ignore_subscribe_messages=True)
    pubsub.subscribe(names.results_channel)
    client.publish(names.orders_channel, send)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        message = pubsub.get_message(timeout=1.0)
        if message is not None:
            pubsub.close()
            return dict(orjson.loads(message["data"]))
    raise AssertionError("no result on " + names.results_channel)


def test_seed_success_criteria_with_postgresql(start: Start, names: Names, postgres_url: str) -> None:
    service = start(DATABASE_URL=postgres_url, LOG_FORMAT="json")
    service.wait_ready()
    assert service.get("/health").status_code == 200
    status = service.get("/status").json()
    assert status["redis"]["connected"] is True
    assert status["database"]["backend"] == "postgresql"
    assert status["database"]["total_orders"] == 0

    result = published_result(names, SEED_ORDER)
    assert result["status"] == "FILLED"
    with pg_connect(postgres_url) as conn:
        rows = conn.execute("SELECT order_id, symbol, side, quantity, status FROM orders").fetchall()
        trades = conn.execute("SELECT order_id, quantity FROM trades").fetchall()
    assert [(r[1], r[2], str(r[3].normalize()), r[4]) for r in rows] == [
        ("BTCUSDT", "BUY", "0.001", "FILLED")]
    assert rows[0][0] == result["order_id"]
    assert trades[0][0] == result["order_id"]
    status = service.get("/status").json()
    assert status["stats"]["orders_filled"] == 1
    # Where the time went: the last minute on /status, every phase in Prometheus.
    minute = status["last_minute"]
    assert minute["batches"] >= 1
    assert minute["phases"]["commit"]["p50_ms"] > 0
    assert minute["phases"]["commit"]["p99_ms"] >= minute["phases"]["commit"]["p50_ms"]
    exposition = service.get("/metrics").text
    for phase in ("read", "plan", "commit", "publish"):
        assert f'execution_batch_phase_seconds_count{{phase="{phase}",size="1"}}' in exposition

    code, took_s = service.stop(signal.SIGTERM)
    assert code == 0
    assert took_s < 10
    # JSON logs, and no secret or stack trace in them
    lines = [orjson.loads(line) for line in service.log.read_text().splitlines()]
    assert any(line["message"].startswith("stopped:") for line in lines)


def test_default_is_embedded_sqlite_in_the_working_directory(
    start: Start, names: Names, tmp_path: Path
) -> None:
    service = start()
    service.wait_ready()
    result = published_result(names, SEED_ORDER)
    code, _ = service.stop(signal.SIGINT)
    assert code == 0
    database = tmp_path / "data" / "execution.sqlite"
    with sqlite3.connect(database) as conn:
        assert conn.execute("SELECT order_id, quantity FROM orders").fetchall() == [
            (result["order_id"], "0.001")]
        assert conn.execute("SELECT count(*) FROM trades").fetchone() == (1,)


def test_bad_configuration_stops_at_start_with_one_line_and_exit_2(tmp_path: Path) -> None:
    env = clean_environment(TAKER_FEE="-0.5", API_TOKEN="do-not-print-me")
    finished = subprocess.run([sys.executable, "-m", "execution_service", "run"], env=env,
                              cwd=tmp_path, capture_output=True, text=True, timeout=30)
    assert finished.returncode == 2
    lines = finished.stderr.strip().splitlines()
    assert len(lines) == 1
    assert "TAKER_FEE" in lines[0]
    assert "do-not-print-me" not in finished.stderr


def test_migrate_command_creates_the_schema(tmp_path: Path) -> None:
    env = clean_environment(DATABASE_URL=f"sqlite:///{tmp_path / 'm.sqlite'}")
    finished = subprocess.run([sys.executable, "-m", "execution_service", "migrate"], env=env,
                              cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert finished.returncode == 0, finished.stderr
    with sqlite3.connect(tmp_path / "m.sqlite") as conn:
        tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert tables >= {"orders", "trades", "order_events", "balances", "outbox",
                      "rejected_messages", "alembic_version"}


def test_container_runs_the_commands_tested_here(start: Start, tmp_path: Path) -> None:
    dockerfile = (Path(__file__).resolve().parents[2] / "Dockerfile").read_text()
    assert "FROM python:3.1" in dockerfile
    assert "RUN pip install ." in dockerfile
    assert 'CMD ["execution-service", "healthcheck"]' in dockerfile
    assert 'CMD ["execution-service", "run"]' in dockerfile
    assert "\nUSER execution\n" in dockerfile

    service = start()
    service.wait_ready()
    env = clean_environment(HTTP_PORT=str(service.port))

    def healthcheck() -> int:
        return subprocess.run([sys.executable, "-m", "execution_service", "healthcheck"],
                              env=env, cwd=tmp_path, timeout=30).returncode

    assert healthcheck() == 0
    assert service.stop()[0] == 0
    assert healthcheck() == 1
