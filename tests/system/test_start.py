"""No 500 at start: on a fresh PostgreSQL database, the real process answers from its first
moment, and every endpoint that reads the database says 503 with the reason until the
migrations have run and the state is loaded, then 200."""

from __future__ import annotations

import time
from pathlib import Path

import httpx

from tests.helpers import Names
from tests.processes import starter

READERS = ("/orders", "/equity", "/balances", "/trades", "/positions", "/kill-switch",
           "/fill-quality", "/status")  # (/status answers 200 at once, "starting": true)


def test_reads_answer_503_with_the_reason_until_ready_then_200(
        postgres_url: str, tmp_path: Path) -> None:
    with starter({**Names.new().env(), "DATABASE_URL": postgres_url}, tmp_path) as start:
        service = start()
        seen: dict[str, set[int]] = {path: set() for path in READERS}
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not all(200 in codes for codes in seen.values()):
            for path in READERS:
                try:
                    answer = httpx.get(service.url + path, timeout=5)
                except httpx.TransportError:
                    continue  # not listening yet
                seen[path].add(answer.status_code)
                if answer.status_code == 503:
                    assert answer.json()["detail"].startswith("starting: the database is not ready")
                    assert answer.headers["retry-after"] == "1"
        assert all(codes <= {200, 503} for codes in seen.values()), seen  # never a 500
        assert all(200 in codes for codes in seen.values()), seen
        assert service.alive()
