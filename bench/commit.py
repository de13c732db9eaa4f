"""Commit cost alone: batches of market orders planned in-process and committed to a fresh
PostgreSQL (or SQLite) database through the service's own writer, without Redis.

Prints, per batch size, the median wall time and CPU time of one batch's transaction
(the same `session()`/`write()` the pipeline runs), over `--batches` batches.

    python bench/commit.py                      # batch sizes 1, 5, 100, 1000 on PostgreSQL
    python bench/commit.py --sizes 5 --db sqlite
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import tempfile
import time
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

from execution_service.config import load_settings
from execution_service.engine.prices import REFERENCE_PRICES, MarketPrices
from execution_service.pipeline.batch import BatchPlanner, KillSwitch
from execution_service.service import build_exchange
from execution_service.store.database import Database
from execution_service.store.writer import BatchWriter
from plan import batch  # bench/plan.py and bench/run.py, beside this script
from run import Database as BenchDatabase


async def measure(url: str, sizes: list[int], batches: int) -> None:
    settings = load_settings(mock_success_rate=1.0, database_url=url)
    database = Database(settings.database(), schema=settings.database_schema)
    await database.migrate()
    writer = BatchWriter(database)
    await writer.open_account({"USDT": Decimal(10**12)}, datetime.now(UTC))
    rng = random.Random(1)
    exchange = build_exchange(settings, MarketPrices(REFERENCE_PRICES, rng,
                                                     settings.price_volatility_bps, 60), rng)
    exchange.load(*await writer.exchange_state())
    planner = BatchPlanner(exchange)
    for size in sizes:
        walls, cpus = [], []
        for number in range(batches):
            decoded = batch(f"{size}-{number}", datetime.now(UTC), size)
            wall, cpu = time.perf_counter(), time.process_time()
            async with writer.session() as session:
                plan = planner.plan(decoded, [], KillSwitch(), datetime.now(UTC))
                await session.write(plan.work)
            walls.append(time.perf_counter() - wall)
            cpus.append(time.process_time() - cpu)
        wall_ms, cpu_ms = statistics.median(walls) * 1000, statistics.median(cpus) * 1000
        print(f"{database.backend} batch of {size:>5}: wall {wall_ms:7.2f} ms, cpu {cpu_ms:7.2f} ms"
              f" ({wall_ms / size * 1000:6.0f} µs wall per order)")
    await database.dispose()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--db", choices=("postgresql", "sqlite"), default="postgresql")
    parser.add_argument("--sizes", type=int, nargs="+", default=[1, 5, 100, 1000])
    parser.add_argument("--batches", type=int, default=200)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as directory:
        database = BenchDatabase(args.db, Path(directory))  # a fresh one, as bench/run.py makes
        try:
            asyncio.run(measure(database.url, args.sizes, args.batches))
        finally:
            database.drop()


if __name__ == "__main__":
    main()
