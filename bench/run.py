"""The benchmark: the real service against local Redis and PostgreSQL (or SQLite), driven by
`bench/load.py` in a second process; prints one summary line per run.

    python bench/run.py                       # 20,000 orders flat out through stream.orders,
                                              # PostgreSQL, then the seed's design on the same load
    python bench/run.py --rate 1000 --count 10000   # latency at 1,000 orders/s offered
    python bench/run.py --db sqlite --intake pubsub
    python bench/run.py --count 1000000       # memory: resident size at 100,000 and at the end
    python bench/run.py --curve               # throughput and p99 from 100/s to saturation,
                                              # table and PNG in bench/results/

Throughput counts orders committed (checked in the database afterwards) per second from
the first send to the last result; latency is intake-to-result as seen by a subscriber of
`order_results`: the send time travels in the order and comes back in the result. With
`--runs N` every run is printed, then the medians.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import socket
import statistics
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO

import httpx
import orjson
import psycopg
import redis.asyncio as aioredis

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
REDIS_URL = "redis://127.0.0.1:6379/0"
PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
MEMORY_MARK = 100_000  # resident size is also read when this many results have arrived
# (offered orders/s, orders sent) for the scaling curve; 0 is flat out (saturation).
CURVE = ((100, 1_000), (1_000, 10_000), (5_000, 25_000), (10_000, 40_000), (0, 40_000))


@dataclass
class Run:
    """What one run measured."""

    label: str
    offered: float
    orders: int
    stored: int
    throughput: float
    latencies_s: list[float] = field(repr=False)
    rss_mib: float
    rss_at_mark_mib: float | None = None
    cpu: CpuUse | None = None
    bare_commits_s: list[float] = field(default_factory=list, repr=False)

    def percentile_ms(self, share: float) -> float:
        if not self.latencies_s:
            return float("nan")
        ordered = sorted(self.latencies_s)
        return ordered[min(len(ordered) - 1, int(share * len(ordered)))] * 1000

    def line(self) -> str:
        offered = f"{self.offered:g}/s" if self.offered > 0 else "max"
        memory = f"rss={self.rss_mib:.0f}MiB"
        if self.rss_at_mark_mib is not None:
            memory = f"rss@{MEMORY_MARK:,}={self.rss_at_mark_mib:.0f}MiB rss@end={self.rss_mib:.0f}MiB"
        cpu = ""
        if self.cpu is not None:
            cpu = (f" cpu/order: service={self.cpu.process_us(self.stored):.0f}µs"
                   f" machine={self.cpu.machine_us(self.stored):.0f}µs")
        bare = ""
        if self.bare_commits_s:
            bare = (f" bare-commit: p50={_ms(self.bare_commits_s, 0.5):.2f}ms"
                    f" p99={_ms(self.bare_commits_s, 0.99):.2f}ms")
        return (f"{self.label} offered={offered} orders={self.orders} stored={self.stored} "
                f"results={len(self.latencies_s)} throughput={self.throughput:,.0f}/s "
                f"p50={self.percentile_ms(0.5):.2f}ms p99={self.percentile_ms(0.99):.2f}ms "
                f"{memory}{cpu}{bare}")


@dataclass
class CpuUse:
    """CPU seconds spent while the load ran: by the process under test, and by the whole
    machine (every process: database, Redis, load generator, this script). Per order, these
    are steadier on a shared machine than times are."""

    process_s: float
    machine_s: float

    @classmethod
    def since(cls, pid: int, before: CpuUse) -> CpuUse:
        now = cls.now(pid)
        return cls(now.process_s - before.process_s, now.machine_s - before.machine_s)

    @classmethod
    def now(cls, pid: int) -> CpuUse:
        ticks = os.sysconf("SC_CLK_TCK")
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        process = int(fields[11]) + int(fields[12])  # utime, stime
        user, nice, system, _idle, _iowait, irq, softirq, *_ = (
            int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:])
        return cls(process / ticks, (user + nice + system + irq + softirq) / ticks)

    def process_us(self, orders: int) -> float:
        return self.process_s / max(orders, 1) * 1e6

    def machine_us(self, orders: int) -> float:
        return self.machine_s / max(orders, 1) * 1e6


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Database:
    """A fresh PostgreSQL database (or SQLite file) for one run, dropped afterwards."""

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
            # The service's own schema (DATABASE_SCHEMA's default), or public for a build
            # from before it had one (a before/after comparison).
            with psycopg.connect(self.url, options="-c search_path=execution,public") as conn:
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


@dataclass
class Collected:
    latencies_s: list[float]
    last: float
    rss_at_mark_kib: int | None
    cpu: CpuUse


async def collect(channel: str, count: int, timeout_s: float, pid: int) -> Collected:
    """Latencies of `count` results, the wall time of the last one, and the service's resident
    size when `MEMORY_MARK` results had arrived."""
    client = aioredis.Redis.from_url(REDIS_URL)
    pubsub = client.pubsub(ignore_subscribe_messages=True)
    await pubsub.subscribe(channel)
    latencies: list[float] = []
    last = 0.0
    rss_at_mark = None
    deadline = time.monotonic() + timeout_s
    cpu = CpuUse.now(pid)
    while len(latencies) < count and time.monotonic() < deadline:
        message = await pubsub.get_message(timeout=1.0)
        if message is None:
            continue
        now_ns = time.time_ns()
        sent = orjson.loads(message["data"]).get("client_timestamp")
        if sent is not None:
            latencies.append((now_ns - int(sent)) / 1e9)
        last = time.time()
        if len(latencies) == MEMORY_MARK:
            rss_at_mark = rss_kib(pid)
    cpu = CpuUse.since(pid, cpu)
    await client.aclose()
    return Collected(latencies, last, rss_at_mark, cpu)


async def drive(args: argparse.Namespace, names: dict[str, str], target: str, pid: int,
                pubsub: bool) -> tuple[float, Collected]:
    """Send the load from a second process and collect the results; returns the start time."""
    collector = asyncio.create_task(collect(names["RESULTS_CHANNEL"], args.count,
                                            args.timeout, pid))
    await asyncio.sleep(0.2)  # subscribed before the first order goes out
    started = time.time()
    load = await asyncio.create_subprocess_exec(
        sys.executable, str(ROOT / "bench" / "load.py"), "--redis", REDIS_URL, "--target",
        target, "--count", str(args.count), "--rate", str(args.rate), "--run", names["RUN"],
        *(["--pubsub"] if pubsub else []))
    await load.wait()
    return started, await collector


def bench_names() -> dict[str, str]:
    prefix = f"bench{uuid.uuid4().hex[:8]}"
    return {"RUN": prefix, "ORDERS_CHANNEL": f"{prefix}.orders",
            "ORDERS_STREAM": f"{prefix}.stream.orders", "RESULTS_CHANNEL": f"{prefix}.results",
            "FILLS_STREAM": f"{prefix}.fills", "JOURNAL_STREAM": f"{prefix}.journal",
            "CONTROL_STREAM": f"{prefix}.control", "MARKET_DATA_CHANNEL": f"{prefix}.md"}


async def bench_service(args: argparse.Namespace) -> Run:
    workdir = Path(tempfile.mkdtemp(prefix="exec-bench-"))
    names = bench_names()
    database = Database(args.db, workdir)
    port = free_port()
    if not args.market_data:
        names["MARKET_DATA_CHANNEL"] = ""
    log = (workdir / "service.log").open("wb")
    service = await start_service(names, database, port, workdir, log)
    try:
        await wait_ready(port, service)
        target = names["ORDERS_CHANNEL"] if args.intake == "pubsub" else names["ORDERS_STREAM"]
        bare: list[float] = []
        probing = (asyncio.create_task(probe_commits(database.url, bare))
                   if args.db == "postgresql" and args.rate > 0 else None)
        try:
            started, collected = await drive(args, names, target, service.pid,
                                             args.intake == "pubsub")
        finally:
            if probing is not None:
                probing.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await probing
        rss = rss_kib(service.pid)
    finally:
        service.send_signal(signal.SIGTERM)
        await asyncio.wait_for(service.wait(), timeout=30)
        log.close()
    stored = database.count_orders()
    database.drop()
    await forget(names)
    return Run(f"service intake={args.intake} db={args.db}", args.rate, args.count, stored,
               stored / max(collected.last - started, 1e-9), collected.latencies_s, rss / 1024,
               collected.rss_at_mark_kib / 1024 if collected.rss_at_mark_kib else None,
               collected.cpu, bare)


async def start_service(names: dict[str, str], database: Database, port: int, workdir: Path,
                        log: IO[bytes], **settings: str) -> asyncio.subprocess.Process:
    """`python -m execution_service run` on `database` with the run's names, logging to
    `log`; `settings` add to or override the benchmark's."""
    env = {**os.environ, **{k: v for k, v in names.items() if k != "RUN"},
           "DATABASE_URL": database.url, "REDIS_URL": REDIS_URL, "HTTP_PORT": str(port),
           "HTTP_HOST": "127.0.0.1", "MOCK_SUCCESS_RATE": "1",
           "INITIAL_BALANCES": "USDT=1000000000000,BTC=1000000",
           "LOG_LEVEL": os.environ.get("BENCH_LOG_LEVEL", "WARNING"), **settings}
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "execution_service", "run", env=env, cwd=workdir, stdout=log,
        stderr=log)


async def probe_commits(url: str, took_s: list[float], every_s: float = 0.01) -> None:
    """The physical reference, measured beside the service in the same run: one row
    INSERTed and COMMITted on the same PostgreSQL every `every_s` (a table of its own in
    the run's database), its round trip timed."""
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        await conn.execute("CREATE TABLE bench_probe (id bigserial PRIMARY KEY, at timestamptz)")
        while True:
            began = time.perf_counter()
            await conn.execute("INSERT INTO bench_probe (at) VALUES (now())")
            took_s.append(time.perf_counter() - began)
            await asyncio.sleep(max(0.0, every_s - (time.perf_counter() - began)))


async def bench_reference(args: argparse.Namespace) -> Run:
    """The seed's design (bench/reference.py) on the same load, through pub/sub."""
    workdir = Path(tempfile.mkdtemp(prefix="exec-bench-ref-"))
    names = bench_names()
    database = Database("postgresql", workdir)
    reference = await asyncio.create_subprocess_exec(
        sys.executable, str(ROOT / "bench" / "reference.py"), "--db", database.url,
        "--redis", REDIS_URL, "--channel", names["ORDERS_CHANNEL"], "--results",
        names["RESULTS_CHANNEL"], "--count", str(args.count), stdout=asyncio.subprocess.PIPE)
    try:
        assert reference.stdout is not None
        await asyncio.wait_for(reference.stdout.readline(), timeout=30)  # "subscribed"
        started, collected = await drive(args, names, names["ORDERS_CHANNEL"], reference.pid,
                                         pubsub=True)
        rss = rss_kib(reference.pid)
    finally:
        if reference.returncode is None:
            reference.terminate()
        await reference.wait()
    stored = database.count_orders()
    database.drop()
    await forget(names)
    return Run("reference (seed design: pub/sub, INSERT+COMMIT per order)", args.rate, args.count,
               stored, stored / max(collected.last - started, 1e-9), collected.latencies_s,
               rss / 1024, cpu=collected.cpu)


async def forget(names: dict[str, str]) -> None:
    client = aioredis.Redis.from_url(REDIS_URL)
    await client.delete(*(v for k, v in names.items() if k != "RUN"))
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


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def medians(runs: list[Run]) -> str:
    throughput = statistics.median(run.throughput for run in runs)
    p50 = statistics.median(run.percentile_ms(0.5) for run in runs)
    p99 = statistics.median(run.percentile_ms(0.99) for run in runs)
    cpu = ""
    if all(run.cpu for run in runs):
        service = statistics.median(run.cpu.process_us(run.stored) for run in runs if run.cpu)
        machine = statistics.median(run.cpu.machine_us(run.stored) for run in runs if run.cpu)
        cpu = f" cpu/order: service={service:.0f}µs machine={machine:.0f}µs"
    bare = ""
    if all(run.bare_commits_s for run in runs):
        bare = (f" bare-commit: p50={statistics.median(_ms(r.bare_commits_s, 0.5) for r in runs):.2f}ms"
                f" p99={statistics.median(_ms(r.bare_commits_s, 0.99) for r in runs):.2f}ms")
    return (f"median of {len(runs)}: throughput={throughput:,.0f}/s p50={p50:.2f}ms "
            f"p99={p99:.2f}ms{cpu}{bare}")


def _ms(times_s: list[float], share: float) -> float:
    ordered = sorted(times_s)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))] * 1000


def repeat(args: argparse.Namespace, bench: object) -> list[Run]:
    runs = []
    for _ in range(args.runs):
        run = asyncio.run(bench(args))  # type: ignore[operator]
        print(run.line(), flush=True)
        runs.append(run)
    if len(runs) > 1:
        print(medians(runs), flush=True)
    return runs


def curve(args: argparse.Namespace) -> None:
    """Throughput and p99 from 100/s offered to saturation: a table and a PNG."""
    rows = []
    for rate, count in CURVE:
        runs = repeat(argparse.Namespace(**{**vars(args), "rate": rate, "count": count}),
                      bench_service)
        rows.append((rate, statistics.median(r.throughput for r in runs),
                     statistics.median(r.percentile_ms(0.5) for r in runs),
                     statistics.median(r.percentile_ms(0.99) for r in runs)))
    stamp = datetime.now(UTC).strftime("%Y-%m-%d")
    table = ["| offered | committed orders/s | p50 | p99 |", "|---|---|---|---|"]
    for rate, throughput, p50, p99 in rows:
        offered = f"{rate:,}/s" if rate else "flat out"
        table.append(f"| {offered} | {throughput:,.0f} | {p50:.1f} ms | {p99:.1f} ms |")
    header = (f"# Scaling curve, {stamp}: `python bench/run.py --curve --runs {args.runs}`\n\n"
              f"stream.orders into {args.db}, medians of {args.runs} runs per row, load "
              "generator on the same 2-core machine.\n\n")
    (RESULTS / f"curve-{stamp}.md").write_text(header + "\n".join(table) + "\n")
    print("\n".join(table))
    plot(rows, RESULTS / f"curve-{stamp}.png", args)


def plot(rows: list[tuple[int, float, float, float]], path: Path, args: argparse.Namespace) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is not installed (pip install -e '.[bench]'): no PNG written")
        return
    labels = [f"{rate:,}/s" if rate else "flat out" for rate, *_ in rows]
    figure, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2))
    left.bar(labels, [r[1] for r in rows], color="#4c72b0")
    left.set_title("committed orders/s")
    left.set_xlabel("offered")
    right.bar(labels, [r[3] for r in rows], color="#c44e52")
    right.set_yscale("log")
    right.set_title("p99 intake-to-result (ms, log scale)")
    right.set_xlabel("offered")
    figure.suptitle(f"execution-service, stream.orders into {args.db}, medians of {args.runs}")
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    print(f"wrote {path.relative_to(ROOT)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--count", type=int, default=20_000)
    parser.add_argument("--rate", type=float, default=0, help="orders/s offered; 0: flat out")
    parser.add_argument("--db", choices=["postgresql", "sqlite"], default="postgresql")
    parser.add_argument("--intake", choices=["stream", "pubsub"], default="stream")
    parser.add_argument("--runs", type=int, default=1, help="repeat; medians are printed too")
    parser.add_argument("--timeout", type=float, default=600)
    parser.add_argument("--reference", action=argparse.BooleanOptionalAction, default=None,
                        help="also run the seed's design (default: for flat-out runs)")
    parser.add_argument("--curve", action="store_true", help="the scaling curve")
    parser.add_argument("--no-market-data", dest="market_data", action="store_false",
                        help="no market-data channel (and so no tape sync before batches)")
    args = parser.parse_args()
    if args.curve:
        curve(args)
        return
    service = repeat(args, bench_service)
    if args.reference if args.reference is not None else args.rate <= 0:
        reference = repeat(args, bench_reference)
        ratio = (statistics.median(r.throughput for r in service)
                 / statistics.median(r.throughput for r in reference))
        print(f"ratio service/reference: {ratio:.1f}x", flush=True)


if __name__ == "__main__":
    main()
