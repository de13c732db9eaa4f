"""Command line: `execution-service run | migrate | healthcheck | submit | tail | status |
replay`."""

from __future__ import annotations

import argparse
import asyncio
import sys
import urllib.request
from pathlib import Path
from typing import Any

from execution_service import __version__, client, logs, replay
from execution_service.config import Settings, load_settings
from execution_service.errors import ConfigError
from execution_service.service import ExecutionService
from execution_service.store.database import Database

EXIT_CONFIG = 2
EXIT_FAILED = 1  # a part of the service failed: a supervisor should restart it


def main(argv: list[str] | None = None) -> int:
    """Parse the command, read the settings once, and run."""
    parser = argparse.ArgumentParser(
        prog="execution-service",
        description="Paper-trading execution service. Configure it with environment variables "
                    "(or .env); see the README.")
    parser.add_argument("--version", action="version", version=__version__)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("run", help="run the service (HTTP on HTTP_HOST:HTTP_PORT)")
    commands.add_parser("migrate", help="apply the database migrations and exit")
    commands.add_parser("healthcheck", help="exit 0 if the local service answers /health "
                                            "(the container's HEALTHCHECK)")
    _client_commands(commands)
    args = parser.parse_args(argv)
    try:
        settings = load_settings()
    except ConfigError as exc:
        sys.stderr.write(f"execution-service: {exc}\n")
        return EXIT_CONFIG
    if args.command == "healthcheck":
        return healthcheck(settings.http_port)
    if args.command in ("submit", "tail", "status"):
        return _run_client(args, settings)
    if args.command == "replay":
        return _replay(args, settings)
    logs.configure(settings.log_level, settings.log_format)
    if args.command == "migrate":
        asyncio.run(_migrate(settings))
        return 0
    return _run(settings)


def _client_commands(commands: Any) -> None:
    submit = commands.add_parser(
        "submit", help="send an order to the running service and print its result (exit 1 if "
                       "rejected, 3 if no result came)")
    submit.add_argument("side", type=str.upper, choices=["BUY", "SELL"])
    submit.add_argument("quantity")
    submit.add_argument("symbol")
    submit.add_argument("--type", dest="order_type", type=str.upper, default="MARKET",
                        help="MARKET (default), LIMIT, LIMIT_MAKER, STOP_LOSS, ...")
    submit.add_argument("--price")
    submit.add_argument("--stop-price")
    submit.add_argument("--tif", dest="time_in_force", type=str.upper, help="GTC, IOC, FOK")
    submit.add_argument("--client-id")
    submit.add_argument("--account", help="the sub-account (default: the default one)")
    submit.add_argument("--intake", choices=["rest", "pubsub", "stream"], default="rest",
                        help="POST /orders with API_TOKEN (default), ORDERS_CHANNEL or "
                             "ORDERS_STREAM")
    tail = commands.add_parser("tail", help="print the results as they are published")
    tail.add_argument("--symbol", type=str.upper)
    tail.add_argument("--account")
    tail.add_argument("--status", type=str.upper, help="FILLED, REJECTED, ...")
    tail.add_argument("--count", type=int, help="stop after this many results")
    tail.add_argument("--json", action="store_true", help="the messages as published")
    status = commands.add_parser("status", help="the service's /status, readable")
    recorded = commands.add_parser(
        "replay", help="publish Binance's recorded trade files (data.binance.vision trades or "
                       "aggTrades, CSV or ZIP) on MARKET_DATA_CHANNEL")
    recorded.add_argument("files", nargs="+", type=Path)
    recorded.add_argument("--speed", default="1",
                          help="1 (the recorded pace, default), 10, ... or max (as fast as "
                               "Redis takes them)")
    recorded.add_argument("--symbol", help="when the file names do not start with it")
    for command in (submit, status):
        command.add_argument("--url", help="the service (default: http://127.0.0.1:HTTP_PORT)")
        command.add_argument("--timeout", type=float, default=10.0, help="seconds (10)")


def _run_client(args: argparse.Namespace, settings: Settings) -> int:
    url = (getattr(args, "url", None) or f"http://127.0.0.1:{settings.http_port}").rstrip("/")
    try:
        if args.command == "submit":
            order = {"symbol": args.symbol, "side": args.side, "quantity": args.quantity,
                     "order_type": args.order_type, "price": args.price,
                     "stop_price": args.stop_price, "time_in_force": args.time_in_force,
                     "client_id": args.client_id, "account": args.account}
            return client.submit(settings, order, args.intake, url, args.timeout)
        if args.command == "status":
            return client.status(settings, url, args.timeout)
        return client.tail(settings, lambda r: _wanted(r, args), args.count, args.json)
    except KeyboardInterrupt:
        return 0
    except OSError as failed:  # the service or Redis not answering
        sys.stderr.write(f"execution-service {args.command}: {failed}\n")
        return 1


def _replay(args: argparse.Namespace, settings: Settings) -> int:
    speed = None if args.speed.lower() in ("max", "0") else float(args.speed.lower().lstrip("x"))
    try:
        files = [replay.read(path, args.symbol) for path in args.files]
    except (OSError, ValueError) as unreadable:
        sys.stderr.write(f"execution-service replay: {unreadable}\n")
        return 1
    redis_client = client.connect(settings)
    channel = settings.market_data_channel

    def publish(events: list[bytes]) -> None:
        with redis_client.pipeline(transaction=False) as pipe:
            for event in events:
                pipe.publish(channel, event)
            pipe.execute()

    try:
        count = replay.replay(replay.merged(files), publish, speed)
    except KeyboardInterrupt:
        return 0
    finally:
        redis_client.close()
    sys.stdout.write(f"published {count} trades on {channel}\n")
    return 0


def _wanted(result: dict[str, Any], args: argparse.Namespace) -> bool:
    return all(wanted is None or result.get(field) == wanted for field, wanted in
               (("symbol", args.symbol), ("account", args.account), ("status", args.status)))


def _run(settings: Settings) -> int:
    """Run the service; a setting only the database can judge (UPSTREAM_TABLES) stops it
    like any bad setting."""
    service = ExecutionService(settings)
    try:
        asyncio.run(service.run())
    except ExceptionGroup as failed:
        config_errors, _ = failed.split(ConfigError)
        if config_errors is None:
            raise
        sys.stderr.write(f"execution-service: {config_errors.exceptions[0]}\n")
        return EXIT_CONFIG
    if service.failed:
        sys.stderr.write(f"execution-service: stopped because {', '.join(service.failed)} "
                         "failed (see the log)\n")
        return EXIT_FAILED
    return 0


def healthcheck(port: int, timeout_s: float = 2.0) -> int:
    """0 when http://127.0.0.1:<port>/health answers 200 within `timeout_s`, else 1."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=timeout_s) as answer:
            return 0 if answer.status == 200 else 1
    except OSError:
        return 1


async def _migrate(settings: Settings) -> None:
    database = Database(settings.database(), schema=settings.database_schema)
    try:
        await database.migrate()
    finally:
        await database.dispose()
