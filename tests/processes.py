"""The real service as a child process: start it, ask it over HTTP, stop it or kill it."""

from __future__ import annotations

import contextlib
import itertools
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx

from tests.helpers import REDIS_URL, free_port, wait_for_sync

# Settings a developer's shell may carry that must not leak into a service under test.
INHERITED = ("DATABASE_URL", "POSTGRES_HOST", "REDIS_URL", "REDIS_HOST", "API_TOKEN",
             "RANDOM_SEED", "MOCK_SUCCESS_RATE", "CONSUMER_NAME")
_numbers = itertools.count(1)


def clean_environment(**env: str) -> dict[str, str]:
    environment = {k: v for k, v in os.environ.items() if k not in INHERITED}
    environment.update(env)
    return environment


class ServiceProcess:
    """`python -m execution_service run` with the given settings, logging to a file in `cwd`."""

    def __init__(self, env: dict[str, str], cwd: Path, *, redis_url: str = REDIS_URL) -> None:
        self.port = free_port()
        self.log = cwd / f"service-{next(_numbers)}.log"
        self.url = f"http://127.0.0.1:{self.port}"
        redis = {"REDIS_URL": redis_url} if redis_url else {}  # "": REDIS_HOST and the rest
        environment = clean_environment(HTTP_PORT=str(self.port), HTTP_HOST="127.0.0.1",
                                        **redis, **env)
        with self.log.open("wb") as log:
            self.popen = subprocess.Popen([sys.executable, "-m", "execution_service", "run"],
                                          env=environment, cwd=cwd, stdout=log, stderr=log)

    def get(self, path: str) -> httpx.Response:
        return httpx.get(self.url + path, timeout=5)

    def send(self, method: str, path: str, token: str | None = None, **kwargs: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.request(method, self.url + path, headers=headers, timeout=15, **kwargs)

    def alive(self) -> bool:
        return self.popen.poll() is None

    def ready(self) -> bool:
        assert self.alive(), f"the service exited:\n{self.output()}"
        try:
            return self.get("/ready").status_code == 200
        except httpx.TransportError:
            return False

    def wait_ready(self, timeout_s: float = 30) -> None:
        wait_for_sync(self.ready, timeout_s=timeout_s, what="/ready 200")

    def matching(self) -> bool:
        """Whether this instance holds the matcher lease (matches the tape)."""
        return bool(self.get("/status").json()["matcher"]["this_instance"])

    def wait_matching(self, timeout_s: float = 15) -> None:
        """Until this instance matches the tape: after a crash, the dead instance's lease
        must expire first (MATCHER_LEASE_MS)."""
        wait_for_sync(self.matching, timeout_s=timeout_s, what="the matcher lease")

    def wait_answering(self, timeout_s: float = 30) -> None:
        """Until /health answers, whatever /ready says (a dependency may be down on purpose)."""
        def answering() -> bool:
            assert self.alive(), f"the service exited:\n{self.output()}"
            try:
                return self.get("/health").status_code == 200
            except httpx.TransportError:
                return False
        wait_for_sync(answering, timeout_s=timeout_s, what="/health 200")

    def stop(self, sig: signal.Signals = signal.SIGTERM, timeout_s: float = 15) -> tuple[int, float]:
        """Send `sig` and wait for the exit; returns the exit code and how long it took."""
        started = time.monotonic()
        self.popen.send_signal(sig)
        code = self.popen.wait(timeout=timeout_s)
        return code, time.monotonic() - started

    def kill(self) -> None:
        """SIGKILL: no shutdown code runs, as in a crash or an OOM kill."""
        self.popen.kill()
        self.popen.wait(timeout=15)

    def output(self) -> str:
        return self.log.read_text(errors="replace")[-5000:]


Start = Callable[..., ServiceProcess]


@contextlib.contextmanager
def starter(defaults: dict[str, str], cwd: Path, *, redis_url: str = REDIS_URL) -> Iterator[Start]:
    """A `start(**env)` that runs the service with `defaults` overridden by `env`; every
    process it started and that still runs is killed afterwards."""
    processes: list[ServiceProcess] = []

    def start(**env: str) -> ServiceProcess:
        process = ServiceProcess({**defaults, **env}, cwd, redis_url=redis_url)
        processes.append(process)
        return process

    try:
        yield start
    finally:
        for process in processes:
            if process.alive():
                process.kill()
