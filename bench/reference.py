"""The reference consumer: the seed's design, rebuilt for comparison (origin document).

A loop subscribed to the orders channel; for each message: parse it, execute it with a
mock price, `save_order()` (one INSERT + COMMIT), then PUBLISH the result. One order at a
time, one transaction per order, no batching. `bench/run.py` runs it on the same load as
the service and prints the ratio between the two.

    python bench/reference.py --db postgresql://... --channel orders --results order_results --count 20000
"""

from __future__ import annotations

import argparse
import random
import time
import uuid
from datetime import UTC, datetime

import orjson
import psycopg
import redis

PRICES = {"BTCUSDT": 50_000.0, "ETHUSDT": 3_000.0}
SCHEMA = """
CREATE TABLE IF NOT EXISTS orders (
    order_id TEXT PRIMARY KEY, symbol TEXT NOT NULL, side TEXT NOT NULL,
    quantity NUMERIC NOT NULL, status TEXT NOT NULL, price NUMERIC, created_at TIMESTAMPTZ NOT NULL);
"""


def execute(order: dict[str, object]) -> dict[str, object]:
    """The seed's mock executor: 95 % filled at a jittered price, MOCK_<uuid> ids."""
    symbol = str(order["symbol"])
    filled = random.random() < 0.95
    price = PRICES.get(symbol, 100.0) * (1 + random.uniform(-0.001, 0.001))
    return {"order_id": f"MOCK_{uuid.uuid4().hex[:12]}", "symbol": symbol,
            "side": order["side"], "quantity": float(str(order["quantity"])),
            "status": "FILLED" if filled else "REJECTED", "price": price if filled else None,
            "timestamp": datetime.now(UTC).isoformat(),
            "client_timestamp": order.get("timestamp")}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--db", required=True)
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/0")
    parser.add_argument("--channel", required=True)
    parser.add_argument("--results", required=True)
    parser.add_argument("--count", type=int, required=True)
    args = parser.parse_args()

    conn = psycopg.connect(args.db)
    conn.execute(SCHEMA)
    conn.commit()
    client = redis.Redis.from_url(args.redis)
    pubsub = client.pubsub(ignore_subscribe_messages=True)
    pubsub.subscribe(args.channel)
    print("subscribed", flush=True)
    handled = 0
    while handled < args.count:
        message = pubsub.get_message(timeout=1.0)
        if message is None:
            continue
        order = orjson.loads(message["data"])
        result = execute(order)
        now = datetime.now(UTC)
        conn.execute("INSERT INTO orders VALUES (%s, %s, %s, %s, %s, %s, %s)",
                     (result["order_id"], result["symbol"], result["side"], result["quantity"],
                      result["status"], result["price"], now))
        conn.commit()  # save_order()
        client.publish(args.results, orjson.dumps(result))
        handled += 1
    time.sleep(0.1)
    conn.close()


if __name__ == "__main__":
    main()
