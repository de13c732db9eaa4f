"""The OpenAPI document tells the truth: schemathesis, with every check, against the real
process, finds nothing. Every operation's answers match their documented schema, status
codes and content types; what the schema allows is accepted and what it forbids refused;
405 answers list the methods a path has."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import Names
from tests.processes import ServiceProcess, starter

TOKEN = "openapi-test-token"
CONFIG = Path(__file__).with_name("schemathesis.toml")
SCHEMATHESIS = Path(sys.executable).with_name("st")


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServiceProcess]:
    # Schemathesis sends far more than a client's request weight per minute: were the
    # limit in force, most operations would be answered 429 instead of being tested.
    env = {**Names.new().env(), "API_TOKEN": TOKEN, "MOCK_SUCCESS_RATE": "1",
           "BINANCE_API_KEYS": "schemathesisKey:its-secret:bot",
           "HTTP_WEIGHT_LIMIT": "100000000"}
    with starter(env, Path(tmp_path_factory.mktemp("openapi"))) as start:
        process = start()
        process.wait_ready()
        yield process


def test_schemathesis_with_every_check_finds_nothing(service: ServiceProcess) -> None:
    run = subprocess.run(
        [str(SCHEMATHESIS), "--config-file", str(CONFIG), "--no-color", "run",
         f"{service.url}/openapi.json", "--checks", "all", "--max-examples", "25",
         "--seed", "20261201", "--header", f"Authorization: Bearer {TOKEN}"],
        capture_output=True, text=True, timeout=600, check=False)
    summary = run.stdout[run.stdout.rfind("SUMMARY"):]
    assert run.returncode == 0, run.stdout[-20_000:] + run.stderr[-2_000:]
    document = service.get("/openapi.json").json()
    operations = sum(len(methods) for methods in document["paths"].values())
    assert operations >= 35
    assert f"Tested: {operations}" in summary  # every operation, none skipped
