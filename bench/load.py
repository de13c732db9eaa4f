"""Load generator: writes orders to the intake stream (or channel), as fast as possible or paced.

Each order carries its send time in `timestamp` (ns), which the service echoes back as
`client_timestamp`, so a subscriber of `order_results` can measure intake-to-result.

    python bench/load.py --target stream.orders --count 20000 [--rate 1000] [--pubsub]
"""

from __future__ import annotations

import argparse
import time

import orjson
import redis

CHUNK = 500


def order(seq: int, run: str) -> dict[str, str]:
    side = "BUY" if seq % 2 == 0 else "SELL"
    return {"symbol": "BTCUSDT", "side": side, "quantity": "0.001", "client_id": f"{run}-{seq}",
            "timestamp": str(time.time_ns())}


def send(client: redis.Redis, target: str, pubsub: bool, orders: list[dict[str, str]]) -> None:
    pipe = client.pipeline(transaction=False)
    for fields in orders:
        if pubsub:
            pipe.publish(target, orjson.dumps(fields))
        else:
            pipe.xadd(target, fields)  # type: ignore[arg-type]
    pipe.execute()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/0")
    parser.add_argument("--target", required=True)
    parser.add_argument("--count", type=int, required=True)
    parser.add_argument("--rate", type=float, default=0, help="orders/s, one at a time; 0: flat out")
    parser.add_argument("--pubsub", action="store_true")
    parser.add_argument("--run", default="bench")
    args = parser.parse_args()
    client = redis.Redis.from_url(args.redis)
    if args.rate <= 0:
        for start in range(0, args.count, CHUNK):
            send(client, args.target, args.pubsub,
                 [order(seq, args.run) for seq in range(start, min(start + CHUNK, args.count))])
        return
    interval = 1.0 / args.rate
    began = time.perf_counter()
    for seq in range(args.count):
        delay = began + seq * interval - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        send(client, args.target, args.pubsub, [order(seq, args.run)])


if __name__ == "__main__":
    main()
