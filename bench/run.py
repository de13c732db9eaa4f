"""The benchmark: the real service against local Redis and PostgreSQL (or SQLite), driven by
`bench/load.py` in a second process; prints one summary line.

    python bench/run.py                       # 20,000 orders flat out through stream.orders, PostgreSQL
    python bench/run.py --rate 1000 --count 10000   # latency at 1,000 orders/s offered
    python bench/run.py --db sqlite --intake pubsub

Throughput counts orders committed (checked in the database afterwards) per second from
the first send to the last result; latency is intake-to-result as seen by a subscriber of
`order_results`: the send time travels in the order and comes back in the result.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx
import orjson
import psycopg
import redis.asyncio as aioredis

ROOT = Path(__file__).resolve().parent.parent
REDIS_URL = "redis://127.0.0.1:6379/0"
PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


class Database:
    def __init__(self, kind: str, workdir: Path) -> None:
        self.kind = kind
        if kind == "postgresql":
            self.name = f"bench_{uuid.uuid4().hex[:10]}"
            with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
                conn.execute(f'CREATE DATABASE "{self.name}"')
            self.url = f"postgresql://postgres@127.0.0.1:5432/{self.name}"
        else:
            self.url = f"sqlite:///{workdir / 'bench.sqlite'}"

    def count_orders(self) -> int:
        if self.kind == "postgresql":
            with psycopg.connect(self.url) as conn:
                row = conn.execute("SELECT count(*) FROM orders").fetchone()
        else:
            import sqlite3

            with sqlite3.connect(self.url.removeprefix("sqlite:///")) as conn:
                row = conn.execute("SELECT count(*) FROM orders").fetchone()
        return int(row[0]) if row else 0

    def drop(self) -> None:
        if self.kind == "postgresql":
            with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')


async def collect(channel: str, count: int, timeout_s: float) -> tuple[list[float], float, float]:
    """Latencies (s) of `count` results, and the wall times of the first and last one."""
    client = aioredis.Redis.from_url(REDIS_URL)
    pubsub = client.pubsub(ignore_subscribe_messages=True)
    await pubsub.subscribe(channel)
    latencies: list[float] = []
    first = last = 0.0
    deadline = time.monotonic() + timeout_s
    while len(latencies) < count and time.monotonic() < deadline:
        message = await pubsub.get_message(timeout=1.0)
        if message is None:
            continue
        now_ns = time.time_ns()
        result = orjson.loads(message["data"])
        sent = result.get("client_timestamp")
        if sent is not None:
            latencies.append((now_ns - int(sent)) / 1e9)
        last = time.time()
        first = first or last
    await client.aclose()
    return latencies, first, last


async def bench(args: argparse.Namespace) -> str:
    workdir = Path(tempfile.mkdtemp(prefix="exec-bench-"))
    prefix = f"bench{uuid.uuid4().hex[:8]}"
    names = {"ORDERS_CHANNEL": f"{prefix}.orders", "ORDERS_STREAM": f"{prefix}.stream.orders",
             "RESULTS_CHANNEL": f"{prefix}.results", "FILLS_STREAM": f"{prefix}.fills",
             "JOURNAL_STREAM": f"{prefix}.journal", "CONTROL_STREAM": f"{prefix}.control",
             "MARKET_DATA_CHANNEL": f"{prefix}.md"}
    database = Database(args.db, workdir)
    port = free_port()
    env = {**os.environ, **names, "DATABASE_URL": database.url, "REDIS_URL": REDIS_URL,
           "HTTP_PORT": str(port), "HTTP_HOST": "127.0.0.1", "MOCK_SUCCESS_RATE": "1",
           "INITIAL_BALANCES": "USDT=1000000000000,BTC=1000000", "LOG_LEVEL": "WARNING"}
    log = (workdir / "service.log").open("wb")
    service = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "execution_service", "run", env=env, cwd=workdir, stdout=log,
        stderr=log)
    try:
        await wait_ready(port, service)
        target = names["ORDERS_CHANNEL"] if args.intake == "pubsub" else names["ORDERS_STREAM"]
        collector = asyncio.create_task(collect(names["RESULTS_CHANNEL"], args.count,
                                                timeout_s=args.timeout))
        await asyncio.sleep(0.2)  # subscribed before the first order goes out
        started = time.time()
        load = await asyncio.create_subprocess_exec(
            sys.executable, str(ROOT / "bench" / "load.py"), "--redis", REDIS_URL, "--target",
            target, "--count", str(args.count), "--rate", str(args.rate), "--run", prefix,
            *(["--pubsub"] if args.intake == "pubsub" else []))
        await load.wait()
        latencies, _first, last = await collector
        rss_kb = rss_of(service.pid)
    finally:
        service.send_signal(signal.SIGTERM)
        await asyncio.wait_for(service.wait(), timeout=30)
        log.close()
    stored = database.count_orders()
    database.drop()
    await forget(names.values())
    elapsed = max(last - started, 1e-9)
    offered = f"{args.rate:g}/s" if args.rate > 0 else "max"
    return (f"intake={args.intake} db={args.db} offered={offered} orders={args.count} "
            f"stored={stored} results={len(latencies)} "
            f"throughput={stored / elapsed:,.0f}/s "
            f"p50={percentile(latencies, 0.5) * 1000:.2f}ms "
            f"p99={percentile(latencies, 0.99) * 1000:.2f}ms rss={rss_kb / 1024:.0f}MiB")


async def forget(keys: object) -> None:
    client = aioredis.Redis.from_url(REDIS_URL)
    await client.delete(*keys)  # type: ignore[misc]
    await client.aclose()


async def wait_ready(port: int, service: asyncio.subprocess.Process) -> None:
    deadline = time.monotonic() + 30
    async with httpx.AsyncClient() as client:
        while time.monotonic() < deadline:
            if service.returncode is not None:
                raise SystemExit("the service exited at start")
            try:
                if (await client.get(f"http://127.0.0.1:{port}/ready")).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.1)
    raise SystemExit("the service did not become ready")


def rss_of(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--count", type=int, default=20_000)
    parser.add_argument("--rate", type=float, default=0, help="orders/s offered; 0: flat out")
    parser.add_argument("--db", choices=["postgresql", "sqlite"], default="postgresql")
    parser.add_argument("--intake", choices=["stream", "pubsub"], default="stream")
    parser.add_argument("--runs", type=int, default=1, help="repeat and print each line")
    parser.add_argument("--timeout", type=float, default=300)
    args = parser.parse_args()
    for _ in range(args.runs):
        print(asyncio.run(bench(args)), flush=True)


if __name__ == "__main__":
    main()
