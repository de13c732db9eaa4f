"""The command line beside `run`: `submit` an order on each intake and read its result,
`tail` the results as they are published, `status` readable; against the real process."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import REDIS_URL, Names
from tests.processes import ServiceProcess, clean_environment, starter

TOKEN = "cli-token"


@pytest.fixture(scope="module")
def names() -> Names:
    return Names.new()


@pytest.fixture(scope="module")
def service(names: Names, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServiceProcess]:
    env = {**names.env(), "API_TOKEN": TOKEN, "MOCK_SUCCESS_RATE": "1", "ACCOUNTS": "bot-a"}
    with starter(env, Path(tmp_path_factory.mktemp("cli"))) as start:
        process = start()
        process.wait_ready()
        yield process


def cli(service: ServiceProcess, names: Names, *args: str,
        token: str = TOKEN) -> subprocess.CompletedProcess[str]:
    env = clean_environment(**names.env(), REDIS_URL=REDIS_URL, API_TOKEN=token,
                            HTTP_PORT=str(service.port))
    return subprocess.run([sys.executable, "-m", "execution_service", *args], env=env,
                          capture_output=True, text=True, timeout=60, check=False)


@pytest.mark.parametrize("intake", ["rest", "pubsub", "stream"])
def test_submit_prints_the_result_on_every_intake(
        service: ServiceProcess, names: Names, intake: str) -> None:
    done = cli(service, names, "submit", "buy", "0.01", "BTC/USDT", "--intake", intake,
               "--client-id", f"cli-{intake}")
    assert done.returncode == 0, done.stdout + done.stderr
    line = done.stdout.strip()
    assert "FILLED" in line
    assert "BUY 0.01/0.01 BTCUSDT @ " in line
    assert f"client cli-{intake}" in line
    assert "account default" in line
    stored = service.get("/orders?limit=10").json()
    assert any(o["client_id"] == f"cli-{intake}" and o["status"] == "FILLED" for o in stored)


def test_submit_a_rejected_order_exits_1_with_the_reason(
        service: ServiceProcess, names: Names) -> None:
    done = cli(service, names, "submit", "sell", "5", "ETHUSDT", "--account", "bot-a")
    assert done.returncode == 1
    assert "REJECTED" in done.stdout
    assert "INSUFFICIENT_BALANCE" in done.stdout
    refused = cli(service, names, "submit", "buy", "0.01", "BTCUSDT", token="wrong")
    assert (refused.returncode, refused.stdout.split(":")[0]) == (1, "refused (401)")


def test_tail_follows_the_results_with_filters(service: ServiceProcess, names: Names) -> None:
    env = clean_environment(**names.env(), REDIS_URL=REDIS_URL, API_TOKEN=TOKEN,
                            HTTP_PORT=str(service.port))
    follower = subprocess.Popen(
        [sys.executable, "-m", "execution_service", "tail", "--symbol", "SOLUSDT",
         "--count", "2"], env=env, stdout=subprocess.PIPE, text=True)
    try:
        time.sleep(2)  # subscribed (the command takes about a second to start)
        for symbol in ("BTCUSDT", "SOLUSDT", "ETHUSDT", "SOLUSDT"):
            assert service.send("POST", "/orders", TOKEN, json={
                "symbol": symbol, "side": "BUY", "quantity": "1"}).status_code == 201
        out, _ = follower.communicate(timeout=30)
    finally:
        follower.kill()
    lines = out.strip().splitlines()
    assert len(lines) == 2
    assert all(" SOLUSDT" in line for line in lines)


def test_status_is_readable(service: ServiceProcess, names: Names) -> None:
    done = cli(service, names, "status")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith("execution_service ")
    assert ": ok, up " in lines[0]
    assert lines[1].startswith("orders: ")
    assert "kill switch: released" in done.stdout
    assert "redis: connected" in done.stdout
    assert "database: sqlite, connected" in done.stdout
