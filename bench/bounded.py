"""Whether readers can take the pipeline's time: a REST order's latency with nobody else
around (quiet), with 1,000 idle dashboard viewers (`viewers`), with 8 clients flooding
the heaviest reads (`flood`), and with 1,000 Binance WebSocket listeners, each on the
trades, one-minute klines and best prices of the symbol ordered (`listeners`), each
scenario on a fresh service (PostgreSQL), the unwelcome clients in a process of their own
(`bench/clients.py`). Interleaved, `--runs` times; then the medians and each scenario's
ratio to quiet (the target: at most 2x).

    python bench/bounded.py --runs 3
    python bench/bounded.py --runs 3 --before ../old-checkout/src   # the same, interleaved,
                                                                      # with another build

Per scenario: POST /orders one at a time every 50 ms (`--orders` of them), the median and
p99 of their round trips, the median of GET /health's, the service's CPU share while they
ran, its resident size then and 5 s after the clients left, and what the clients got.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.run import (  # noqa: E402
    CpuUse,
    Database,
    bench_names,
    forget,
    free_port,
    rss_kib,
    start_service,
    wait_ready,
)

TOKEN = "bench-bounded-token"
SCENARIOS = {"quiet": [], "viewers": ["--viewers", "1000"], "flood": ["--flood", "8"],
             "listeners": ["--listeners", "1000"]}
SETTLE_S = 5.0  # for the clients to connect before orders are timed


@dataclass
class Measured:
    build: str
    scenario: str
    order_ms: list[float]
    health_ms: list[float]
    cpu_share: float
    rss_mib: float
    rss_after_mib: float
    clients: str

    def p(self, share: float) -> float:
        ordered = sorted(self.order_ms)
        return ordered[min(len(ordered) - 1, int(share * len(ordered)))]

    def line(self) -> str:
        return (f"{self.build:>6} {self.scenario:<8} order p50={self.p(0.5):7.1f}ms "
                f"p99={self.p(0.99):7.1f}ms health p50={statistics.median(self.health_ms):6.1f}ms "
                f"service cpu={self.cpu_share:4.0%} rss={self.rss_mib:.0f}MiB "
                f"after={self.rss_after_mib:.0f}MiB clients: {self.clients or '-'}")


async def measure(build: str, source: str | None, scenario: str, orders: int) -> Measured:
    workdir = Path(tempfile.mkdtemp(prefix="exec-bench-bounded-"))
    names = bench_names()
    database = Database("postgresql", workdir)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = (workdir / "service.log").open("wb")
    service = await start_service(names, database, port, workdir, log, API_TOKEN=TOKEN,
                                  **({"PYTHONPATH": source} if source else {}))
    try:
        await wait_ready(port, service)
        async with httpx.AsyncClient(base_url=url, timeout=30,
                                     headers={"Authorization": f"Bearer {TOKEN}"}) as http:
            for _ in range(20):  # warm up
                await _order(http)
            clients = None
            if SCENARIOS[scenario]:
                clients = await asyncio.create_subprocess_exec(
                    sys.executable, str(ROOT / "bench" / "clients.py"), "--url", url,
                    *SCENARIOS[scenario], "--seconds", str(SETTLE_S + orders * 0.05 + 5),
                    stdout=asyncio.subprocess.PIPE)
                await asyncio.sleep(SETTLE_S)
            before = CpuUse.now(service.pid)
            began = time.monotonic()
            order_ms, health_ms = [], []
            for n in range(orders):
                order_ms.append(await _order(http))
                if n % 5 == 0:
                    health_ms.append(await _timed(http.get("/health")))
                await asyncio.sleep(max(0.0, began + (n + 1) * 0.05 - time.monotonic()))
            cpu = CpuUse.since(service.pid, before).process_s / (time.monotonic() - began)
            rss = rss_kib(service.pid) / 1024
            seen = ""
            if clients is not None:
                out, _ = await clients.communicate()
                seen = out.decode().strip()
                await asyncio.sleep(5)
            rss_after = rss_kib(service.pid) / 1024
    finally:
        service.send_signal(signal.SIGTERM)
        await asyncio.wait_for(service.wait(), timeout=30)
        log.close()
        database.drop()
        await forget(names)
    return Measured(build, scenario, order_ms, health_ms, cpu, rss, rss_after, seen)


async def _order(http: httpx.AsyncClient) -> float:
    return await _timed(http.post("/orders", json={"symbol": "BTCUSDT", "side": "BUY",
                                                   "quantity": "0.001"}))


async def _timed(request: object) -> float:
    began = time.perf_counter()
    answer = await request  # type: ignore[misc]
    answer.raise_for_status()
    return (time.perf_counter() - began) * 1000


def summary(results: list[Measured]) -> None:
    print("medians of the runs' figures:")
    for build in dict.fromkeys(r.build for r in results):
        quiet = None
        for scenario in SCENARIOS:
            runs = [r for r in results if r.build == build and r.scenario == scenario]
            if not runs:
                continue
            p50 = statistics.median(r.p(0.5) for r in runs)
            p99 = statistics.median(r.p(0.99) for r in runs)
            quiet = quiet or p50
            print(f"{build:>6} {scenario:<8} order p50={p50:7.1f}ms ({p50 / quiet:4.1f}x quiet) "
                  f"p99={p99:7.1f}ms health p50="
                  f"{statistics.median(statistics.median(r.health_ms) for r in runs):6.1f}ms "
                  f"cpu={statistics.median(r.cpu_share for r in runs):4.0%} "
                  f"rss={statistics.median(r.rss_mib for r in runs):.0f}MiB "
                  f"after={statistics.median(r.rss_after_mib for r in runs):.0f}MiB", flush=True)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--orders", type=int, default=200)
    parser.add_argument("--before", help="another build's src/ directory, run interleaved")
    parser.add_argument("--scenarios", default=",".join(SCENARIOS))
    args = parser.parse_args()
    builds = [("after", None)] + ([("before", args.before)] if args.before else [])
    results = []
    for _ in range(args.runs):
        for build, source in builds:
            for scenario in args.scenarios.split(","):
                result = await measure(build, source, scenario, args.orders)
                print(result.line(), flush=True)
                results.append(result)
    summary(results)


if __name__ == "__main__":
    asyncio.run(main())
