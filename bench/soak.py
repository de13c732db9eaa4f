"""The soak: two instances on one PostgreSQL database and one Redis, for a long while, with
orders, resting orders, cancels and a live tape; then the count. Not part of the tests.

    python bench/soak.py                       # 20 minutes, 200 orders/s, 50 trades/s
    python bench/soak.py --minutes 2 --rate 100

Orders go to `stream.orders` (both instances read it, one consumer group): market orders,
limit orders near the tape's price (they rest and fill from it) and far from it; every
second the resting orders older than `--cancel-after-s` are cancelled over REST, half at
each instance. The tape is a random walk around 90,000 on `market_data`, with random
sizes and aggressor sides. Reported: each instance's resident size when ready, after the
first minute and at the end; errors and warnings logged; the last minute's latency from
/status; whether every order was stored once and every entry acknowledged; whether the
maker fills stay within what the tape traded (one instance matches it: bus/lease.py);
and whether the books balance (initial balances + fills - fees == balances, summed by
PostgreSQL). The report is printed and appended to bench/results/soak-<date>.txt.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import random
import signal
import sys
import tempfile
import time
from collections import Counter, deque
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import httpx
import orjson
import psycopg
import redis.asyncio as aioredis

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.faults.counting import balances, expected_balances  # noqa: E402

from bench.run import REDIS_URL, RESULTS, Database, bench_names, free_port, rss_kib, wait_ready  # noqa: E402

TOKEN = "soak-token"
INITIAL = "USDT=1000000000,BTC=100000,ETH=1000000"
SYMBOLS = {"BTCUSDT": Decimal(90_000), "ETHUSDT": Decimal(3_000)}


@dataclass
class Instance:
    index: int
    port: int
    process: asyncio.subprocess.Process
    log: Path
    rss_kib: dict[str, int] = field(default_factory=dict)  # when: resident size

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@dataclass
class Load:
    """What was sent and seen."""

    sent: int = 0
    tape_trades: int = 0
    tape_quantity: dict[str, Decimal] = field(default_factory=dict)  # by symbol
    results: Counter[str] = field(default_factory=Counter)  # by status
    resting: deque[tuple[float, str]] = field(default_factory=deque)  # (seen at, order id)
    cancels: Counter[str] = field(default_factory=Counter)  # by outcome


class Walk:
    """The tape's prices: a random walk per symbol, 1 bp a step."""

    def __init__(self, rng: random.Random) -> None:
        self._rng = rng
        self.prices = dict(SYMBOLS)

    def step(self, symbol: str) -> Decimal:
        price = self.prices[symbol] * (1 + Decimal(self._rng.gauss(0, 1)) / 10_000)
        self.prices[symbol] = price.quantize(Decimal("0.01"))
        return self.prices[symbol]


async def start_instances(count: int, env: dict[str, str], workdir: Path) -> list[Instance]:
    instances = []
    for index in range(count):
        port = free_port()
        log = workdir / f"service-{index}.log"
        with log.open("wb") as out:
            process = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "execution_service", "run", cwd=workdir, stdout=out,
                stderr=out, env={**env, "HTTP_PORT": str(port), "CONSUMER_NAME": f"soak-{index}"})
        instances.append(Instance(index, port, process, log))
    for instance in instances:
        await wait_ready(instance.port, instance.process)
        instance.rss_kib["ready"] = rss_kib(instance.process.pid)
    return instances


def order(rng: random.Random, seq: int, run: str, walk: Walk) -> dict[str, str]:
    symbol = "BTCUSDT" if rng.random() < 0.8 else "ETHUSDT"
    side = rng.choice(("BUY", "SELL"))
    quantity = "0.001" if symbol == "BTCUSDT" else "0.02"
    fields = {"symbol": symbol, "side": side, "quantity": quantity, "client_id": f"{run}-{seq}",
              "timestamp": str(time.time_ns())}
    kind = rng.random()
    if kind < 0.15:  # near the price: rests, then the tape may fill it
        away = Decimal(1) + Decimal(rng.uniform(0.0001, 0.002)) * (-1 if side == "BUY" else 1)
        fields.update(order_type="LIMIT", price=str((walk.prices[symbol] * away).quantize(
            Decimal("0.01"))))
    elif kind < 0.2:  # far from it: rests until cancelled
        away = Decimal("0.9") if side == "BUY" else Decimal("1.1")
        fields.update(order_type="LIMIT", price=str((walk.prices[symbol] * away).quantize(
            Decimal("0.01"))))
    return fields


async def send_orders(redis: aioredis.Redis, stream: str, run: str, rate: float, until: float,
                      load: Load, walk: Walk, rng: random.Random) -> None:
    tick = 0.05
    began = time.monotonic()
    while (now := time.monotonic()) < until:
        due = int((now - began) * rate) - load.sent
        if due > 0:
            pipe = redis.pipeline(transaction=False)
            for _ in range(due):
                pipe.xadd(stream, order(rng, load.sent, run, walk))  # type: ignore[arg-type]
                load.sent += 1
            await pipe.execute()
        await asyncio.sleep(tick)


async def send_tape(redis: aioredis.Redis, channel: str, rate: float, until: float,
                    load: Load, walk: Walk, rng: random.Random) -> None:
    began = time.monotonic()
    while (now := time.monotonic()) < until:
        due = int((now - began) * rate) - load.tape_trades
        for _ in range(max(0, due)):
            symbol = "BTCUSDT" if rng.random() < 0.8 else "ETHUSDT"
            quantity = Decimal(rng.choice(("0.001", "0.002", "0.005"))) * (
                1 if symbol == "BTCUSDT" else 20)
            await redis.publish(channel, orjson.dumps({
                "symbol": symbol, "price": str(walk.step(symbol)), "trade_qty": str(quantity),
                "ts_ms": int(time.time() * 1000), "side": rng.choice(("buy", "sell"))}))
            load.tape_trades += 1
            load.tape_quantity[symbol] = load.tape_quantity.get(symbol, Decimal(0)) + quantity
        await asyncio.sleep(0.01)


async def follow_results(redis: aioredis.Redis, channel: str, load: Load) -> None:
    pubsub = redis.pubsub()
    await pubsub.subscribe(channel)
    async for message in pubsub.listen():
        if message["type"] != "message":
            continue
        result = orjson.loads(message["data"])
        load.results[result.get("status", "?")] += 1
        if result.get("status") == "NEW" and result.get("order_type") == "LIMIT":
            load.resting.append((time.monotonic(), result["order_id"]))


async def cancel_old(instances: list[Instance], after_s: float, until: float, load: Load) -> None:
    """Every second, cancel the resting orders older than `after_s`, at most 50 at a time
    in flight, by turns at each instance (as a bot cancels: not one after the other)."""
    async with httpx.AsyncClient(headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10) as http:
        in_flight = asyncio.Semaphore(50)

        async def cancel(instance: Instance, order_id: str) -> None:
            async with in_flight:
                try:
                    response = await http.delete(f"{instance.url}/orders/{order_id}")
                except httpx.TimeoutException:
                    load.cancels["no answer within 10 s"] += 1
                    return
            load.cancels[f"{response.status_code} {response.json().get('status', '')}"] += 1

        turn = 0
        while time.monotonic() < until:
            due = []
            while load.resting and load.resting[0][0] < time.monotonic() - after_s:
                due.append(load.resting.popleft()[1])
            await asyncio.gather(*(cancel(instances[(turn + i) % len(instances)], order_id)
                                   for i, order_id in enumerate(due)), asyncio.sleep(1.0))
            turn += len(due)


async def sample_memory(instances: list[Instance], at_s: float, name: str) -> None:
    await asyncio.sleep(at_s)
    for instance in instances:
        instance.rss_kib[name] = rss_kib(instance.process.pid)


async def settled(redis: aioredis.Redis, stream: str, group: str, timeout_s: float) -> bool:
    """Until every entry of the stream is acknowledged by the group."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        info = next(g for g in await redis.xinfo_groups(stream) if g["name"].decode() == group)
        if int(info["pending"]) + int(info["lag"] or 0) == 0:
            return True
        await asyncio.sleep(1)
    return False


def _sample(exposition: str, name: str) -> float | None:
    """A sample's value in Prometheus text."""
    for line in exposition.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    return None


def log_levels(path: Path) -> tuple[Counter[str], Counter[str]]:
    """Lines by level, and the messages of the warnings and errors (first 80 characters)."""
    levels: Counter[str] = Counter()
    messages: Counter[str] = Counter()
    for line in path.read_text(errors="replace").splitlines():
        try:
            record = orjson.loads(line)
        except orjson.JSONDecodeError:
            levels["unparsed"] += 1
            continue
        levels[record.get("level", "?")] += 1
        if record.get("level") in ("WARNING", "ERROR", "CRITICAL"):
            messages[f"{record['level']}: {record.get('message', '')[:80]}"] += 1
    return levels, messages


def database_counts(url: str) -> dict[str, object]:
    with psycopg.connect(url, options="-c search_path=execution") as conn:
        orders, clients = conn.execute(
            "SELECT count(*), count(DISTINCT client_id) FROM orders").fetchone() or (0, 0)
        statuses = dict(conn.execute("SELECT status, count(*) FROM orders GROUP BY status"))
        maker = dict(conn.execute("SELECT symbol, sum(quantity) FROM trades"
                                  " WHERE liquidity = 'maker' GROUP BY symbol"))
        over = conn.execute("SELECT count(*) FROM orders o WHERE filled_quantity <> (SELECT"
                            " coalesce(sum(quantity), 0) FROM trades t WHERE t.order_id ="
                            " o.order_id) OR filled_quantity > quantity").fetchone()
    return {"orders": orders, "client_ids": clients, "statuses": statuses, "maker": maker,
            "inconsistent_orders": over[0] if over else None}


async def soak(args: argparse.Namespace) -> str:
    workdir = Path(tempfile.mkdtemp(prefix="exec-soak-"))
    names = bench_names()
    group = f"{names['RUN']}.group"
    database = Database("postgresql", workdir)
    env = {**os.environ, **{k: v for k, v in names.items() if k != "RUN"},
           "DATABASE_URL": database.url, "REDIS_URL": REDIS_URL, "HTTP_HOST": "127.0.0.1",
           "API_TOKEN": TOKEN, "INITIAL_BALANCES": INITIAL, "CONSUMER_GROUP": group,
           "LOG_FORMAT": "json", "LOG_LEVEL": "INFO"}
    redis = aioredis.Redis.from_url(REDIS_URL)
    await redis.xgroup_create(names["ORDERS_STREAM"], group, id="0", mkstream=True)
    instances = await start_instances(args.instances, env, workdir)
    rng = random.Random(args.seed)
    walk, load = Walk(rng), Load()
    began = time.monotonic()
    until = began + args.minutes * 60
    results = asyncio.create_task(follow_results(redis, names["RESULTS_CHANNEL"], load))
    await asyncio.sleep(0.5)  # subscribed
    await asyncio.gather(
        send_orders(redis, names["ORDERS_STREAM"], names["RUN"], args.rate, until, load, walk, rng),
        send_tape(redis, names["MARKET_DATA_CHANNEL"], args.trades, until, load, walk, rng),
        cancel_old(instances, args.cancel_after_s, until, load),
        sample_memory(instances, min(60.0, args.minutes * 30), "after 1 min"))
    drained = await settled(redis, names["ORDERS_STREAM"], group, timeout_s=120)
    statuses = []
    async with httpx.AsyncClient(timeout=10) as http:
        for instance in instances:
            instance.rss_kib["end"] = rss_kib(instance.process.pid)
            status = (await http.get(f"{instance.url}/status")).json()
            status["write_conflicts"] = _sample((await http.get(f"{instance.url}/metrics")).text,
                                                "execution_write_conflicts_total")
            statuses.append(status)
    for instance in instances:
        instance.process.send_signal(signal.SIGTERM)
    codes = [await asyncio.wait_for(instance.process.wait(), 30) for instance in instances]
    results.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await results
    counts = database_counts(database.url)
    expected, actual = expected_balances(database.url, INITIAL), balances(database.url)
    balanced = ({a: v.normalize() for a, v in actual.items() if v}
                == {a: v.normalize() for a, v in expected.items() if v})
    report = render(args, time.monotonic() - began, load, instances, statuses, codes, drained,
                    counts, balanced)
    await redis.delete(*(v for k, v in names.items() if k != "RUN"), f"{group}:matcher")
    await redis.aclose()
    database.drop()
    return report


def render(args: argparse.Namespace, took_s: float, load: Load, instances: list[Instance],
           statuses: list[dict[str, object]], codes: list[int], drained: bool,
           counts: dict[str, object], balanced: bool) -> str:
    maker = counts["maker"]
    assert isinstance(maker, dict)
    within = all(Decimal(maker.get(symbol, 0)) <= quantity
                 for symbol, quantity in load.tape_quantity.items())
    lines = [
        f"soak {datetime.now(UTC):%Y-%m-%d %H:%M} UTC: {args.instances} instances, "
        f"{args.minutes:g} min ({took_s:.0f} s with the drain), {args.rate:g} orders/s, "
        f"{args.trades:g} trades/s, cancels after {args.cancel_after_s:g} s",
        f"  sent {load.sent:,} orders, {load.tape_trades:,} tape trades; results seen "
        f"{sum(load.results.values()):,} {dict(load.results)}; cancels {dict(load.cancels)}",
        f"  stored {counts['orders']:,} orders, {counts['client_ids']:,} client ids "
        f"(sent {load.sent:,}); every entry acknowledged: {drained}; orders whose fills do not "
        f"add up: {counts['inconsistent_orders']}; statuses {counts['statuses']}",
        f"  maker fills within the tape: {within} (filled {dict(maker)} of traded "
        f"{dict(load.tape_quantity)})",
        f"  books balance: {balanced}; exit codes {codes}",
    ]
    for instance, status in zip(instances, statuses, strict=True):
        levels, messages = log_levels(instance.log)
        rss = ", ".join(f"{when} {kib / 1024:.0f} MiB" for when, kib in instance.rss_kib.items())
        minute = status.get("last_minute", {})
        assert isinstance(minute, dict)
        matcher = status.get("matcher", {})
        assert isinstance(matcher, dict)
        lines += [
            f"  instance {instance.index}: rss {rss}; matched the tape at the end: "
            f"{matcher.get('this_instance')}; last minute latency {minute.get('latency')}; "
            f"write conflicts {status.get('write_conflicts')}; log lines {dict(levels)}",
            *(f"    {count} x {message}" for message, count in messages.most_common(8)),
        ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=20)
    parser.add_argument("--rate", type=float, default=200, help="orders/s")
    parser.add_argument("--trades", type=float, default=50, help="tape trades/s")
    parser.add_argument("--instances", type=int, default=2)
    parser.add_argument("--cancel-after-s", type=float, default=5)
    parser.add_argument("--seed", type=int, default=16)
    args = parser.parse_args()
    report = asyncio.run(soak(args))
    print(report)
    RESULTS.mkdir(exist_ok=True)
    with (RESULTS / f"soak-{datetime.now(UTC):%Y-%m-%d}.txt").open("a") as out:
        out.write(report + "\n\n")


if __name__ == "__main__":
    main()
