"""Planning cost alone: 1,000 market orders decoded, checked, filled and answered in-process.

No Redis, no database: the median over 31 batches of `BatchPlanner.plan`, the CPU work the
pipeline does per batch between reading it and committing it.

    python bench/plan.py
"""

from __future__ import annotations

import random
import statistics
import time
from datetime import UTC, datetime
from decimal import Decimal

from execution_service.bus.envelope import EntryRef, Envelope
from execution_service.config import load_settings
from execution_service.domain.orders import DEFAULT_ACCOUNT, Source
from execution_service.engine.account import Amounts
from execution_service.engine.prices import REFERENCE_PRICES, MarketPrices
from execution_service.pipeline.batch import BatchPlanner, Decoded, KillSwitch, decode
from execution_service.service import build_exchange

BATCH = 1000
BATCHES = 31


def batch(number: int | str, now: datetime, size: int = BATCH) -> list[Decoded]:
    """`size` market buys of 0.001 BTC from the order stream, each with its own client id."""
    envelopes = [Envelope(Source.STREAM, now, entry=EntryRef("stream.orders", f"{number}-{i}"),
                          payload={b"symbol": b"BTCUSDT", b"side": b"BUY", b"quantity": b"0.001",
                                   b"client_id": f"c{number}-{i}".encode()})
                 for i in range(size)]
    return [(envelope, decode(envelope, 65_536)) for envelope in envelopes]


def main() -> None:
    settings = load_settings(mock_success_rate=1.0)
    rng = random.Random(1)
    prices = MarketPrices(REFERENCE_PRICES, rng, settings.price_volatility_bps, 60)
    exchange = build_exchange(settings, prices, rng)
    exchange.load({(DEFAULT_ACCOUNT, "USDT"): Amounts(Decimal(10**12))}, [], [])
    planner = BatchPlanner(exchange)
    now = datetime.now(UTC)
    took = []
    for number in range(BATCHES):
        decoded = batch(number, now)
        started = time.perf_counter()
        planner.plan(decoded, [], KillSwitch(), now)
        took.append(time.perf_counter() - started)
    print(f"plan of {BATCH} market orders: median {statistics.median(took) * 1000:.1f} ms "
          f"({statistics.median(took) / BATCH * 1e6:.0f} µs per order)")


if __name__ == "__main__":
    main()
