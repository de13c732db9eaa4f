"""Unwelcome clients for `bench/bounded.py`, from a process of their own: idle dashboard
viewers, a flood of the heaviest reads, or idle Binance WebSocket listeners, for
`--seconds`, then one line of what they got.

    python bench/clients.py --url http://127.0.0.1:8003 --viewers 1000 --seconds 30
    python bench/clients.py --url http://127.0.0.1:8003 --flood 8 --seconds 30
    python bench/clients.py --url http://127.0.0.1:8003 --listeners 1000 --seconds 30
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections import Counter
from urllib.parse import urlsplit

import httpx
import websockets

# The heaviest public reads (the hardening issue's measure): a thousand one-second candles
# and the thousand newest orders.
# Another address than the measuring client's (127.0.0.1): request weights are counted per
# address, and these clients stand for strangers, not for the bot being measured.
SOURCE = "127.0.0.2"
FLOODED = ("/api/v3/klines?symbol=BTCUSDT&interval=1s&limit=1000", "/orders?limit=1000")
# What a listener follows: the ordered symbol's trades, one-minute klines and best prices.
LISTENED = "/stream?streams=btcusdt@trade/btcusdt@kline_1m/btcusdt@bookTicker"


async def viewer(host: str, port: int, until: float, seen: Counter[str]) -> None:
    """One `GET /events` that reads whatever comes, as a browser's EventSource does."""
    try:
        reader, writer = await asyncio.open_connection(host, port, local_addr=(SOURCE, 0))
    except OSError:
        seen["connect failed"] += 1
        return
    writer.write(f"GET /events HTTP/1.1\r\nHost: {host}\r\nAccept: text/event-stream\r\n\r\n"
                 .encode())
    try:
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 30)
        seen[head.split(b" ", 2)[1].decode()] += 1
        while (left := until - time.monotonic()) > 0:
            try:
                if not await asyncio.wait_for(reader.read(65536), left):
                    seen["closed by the service"] += 1
                    break
            except TimeoutError:
                break
    except (OSError, asyncio.IncompleteReadError, TimeoutError):
        seen["failed"] += 1
    finally:
        writer.close()


async def listener(url: str, until: float, seen: Counter[str], number: int) -> None:
    """One WebSocket on Binance's combined streams that reads whatever comes, from one of
    several addresses (an address may open 300 sockets in 5 minutes, as on Binance)."""
    source = f"127.0.1.{number % 250 + 1}"
    try:
        async with websockets.connect(url.replace("http://", "ws://") + LISTENED,
                                      local_addr=(source, 0), open_timeout=30) as socket:
            seen["connected"] += 1
            while (left := until - time.monotonic()) > 0:
                try:
                    await asyncio.wait_for(socket.recv(), left)
                    seen["events"] += 1
                except TimeoutError:
                    break
    except websockets.ConnectionClosed:
        seen["closed by the service"] += 1
    except (OSError, websockets.InvalidHandshake, TimeoutError):
        seen["failed"] += 1


async def flooder(url: str, until: float, seen: Counter[str]) -> None:
    """Ask for the heavy reads back to back, as fast as they are answered."""
    transport = httpx.AsyncHTTPTransport(local_address=SOURCE)
    async with httpx.AsyncClient(base_url=url, timeout=30, transport=transport) as client:
        turn = 0
        while time.monotonic() < until:
            try:
                answer = await client.get(FLOODED[turn % len(FLOODED)])
                seen[str(answer.status_code)] += 1
            except httpx.HTTPError:
                seen["failed"] += 1
            turn += 1


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True)
    parser.add_argument("--viewers", type=int, default=0)
    parser.add_argument("--flood", type=int, default=0, help="clients reading back to back")
    parser.add_argument("--listeners", type=int, default=0, help="idle WebSocket listeners")
    parser.add_argument("--seconds", type=float, default=30)
    args = parser.parse_args()
    address = urlsplit(args.url)
    until = time.monotonic() + args.seconds
    seen: Counter[str] = Counter()
    tasks = [viewer(address.hostname or "127.0.0.1", address.port or 80, until, seen)
             for _ in range(args.viewers)]
    tasks += [flooder(args.url, until, seen) for _ in range(args.flood)]
    tasks += [listener(args.url, until, seen, number) for number in range(args.listeners)]
    await asyncio.gather(*tasks)
    print(" ".join(f"{key}={value}" for key, value in sorted(seen.items())), flush=True)


if __name__ == "__main__":
    asyncio.run(main())
