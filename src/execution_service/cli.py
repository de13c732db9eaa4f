"""Command line: `execution-service run | migrate | healthcheck`."""

from __future__ import annotations

import argparse
import asyncio
import sys
import urllib.request

from execution_service import __version__, logs
from execution_service.config import Settings, load_settings
from execution_service.errors import ConfigError
from execution_service.service import ExecutionService
from execution_service.store.database import Database

EXIT_CONFIG = 2


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
    args = parser.parse_args(argv)
    try:
        settings = load_settings()
    except ConfigError as exc:
        sys.stderr.write(f"execution-service: {exc}\n")
        return EXIT_CONFIG
    if args.command == "healthcheck":
        return healthcheck(settings.http_port)
    logs.configure(settings.log_level, settings.log_format)
    if args.command == "migrate":
        asyncio.run(_migrate(settings))
        return 0
    return _run(settings)


def _run(settings: Settings) -> int:
    """Run the service; a setting only the database can judge (UPSTREAM_TABLES) stops it
    like any bad setting."""
    try:
        asyncio.run(ExecutionService(settings).run())
    except ExceptionGroup as failed:
        config_errors, _ = failed.split(ConfigError)
        if config_errors is None:
            raise
        sys.stderr.write(f"execution-service: {config_errors.exceptions[0]}\n")
        return EXIT_CONFIG
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
