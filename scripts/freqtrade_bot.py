"""A Freqtrade bot trading against this service for some minutes, and what it did.

    python scripts/freqtrade_bot.py [--minutes 5] [--freqtrade PATH] [--no-ws]

Starts the service (SQLite in a temporary folder, one Binance API key for the bot's own
sub-account, no market-data feed: the random walk's tape), writes a Freqtrade
configuration with the README's settings (both API families' URLs and the WebSocket
URLs on this host, `enable_ws: true` as Freqtrade defaults it, or false with `--no-ws`;
`dry_run: false`: the service is the exchange) and a strategy that
enters on a rising one-minute close and exits on a falling one, runs `freqtrade trade`
for the given minutes, then reports: the orders and fills the service holds for the
bot's account, Freqtrade's closed trades, and every line of Freqtrade's log that names a
Binance host (there must be none). Freqtrade is not in the test lock (its install is
heavy): give `--freqtrade` the `freqtrade` of a venv with it (`pip install freqtrade`).
Exits 1 if the bot placed no order or a request left this host.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

KEY, SECRET, ACCOUNT = "freqtradeBotKey01", "secret-of-the-freqtrade-bot", "freqtrade"
BINANCE_HOST = re.compile(r"binance\.(com|us|vision)", re.IGNORECASE)
# Freqtrade's signs that its WebSocket candles failed: an exception in its watch loop, or a
# fall back to REST after its first candles (in the first two minutes it falls back once
# per pair on Binance too: a kline stream starts with the current candle, and Freqtrade
# wants the one before).
WS_FAILED = re.compile(r"Exception in continuously_async_watch_ohlcv", re.IGNORECASE)
WS_FELL_BACK = re.compile(r"falling back to REST api", re.IGNORECASE)
LOG_TIME = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d)")
FIRST_CANDLES_S = 120

STRATEGY = '''
from pandas import DataFrame
from freqtrade.strategy import IStrategy


class RisingClose(IStrategy):
    """Enters on a rising one-minute close, exits on a falling one."""

    INTERFACE_VERSION = 3
    timeframe = "1m"
    minimal_roi = {"0": 10}
    stoploss = -0.5
    startup_candle_count = 2
    process_only_new_candles = False

    def populate_indicators(self, dataframe: DataFrame, metadata: dict) -> DataFrame:
        dataframe["change"] = dataframe["close"].diff()
        return dataframe

    def populate_entry_trend(self, dataframe: DataFrame, metadata: dict) -> DataFrame:
        dataframe.loc[dataframe["change"] > 0, "enter_long"] = 1
        return dataframe

    def populate_exit_trend(self, dataframe: DataFrame, metadata: dict) -> DataFrame:
        dataframe.loc[dataframe["change"] < 0, "exit_long"] = 1
        return dataframe
'''


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--minutes", type=float, default=5.0)
    parser.add_argument("--freqtrade", default="freqtrade", help="the freqtrade command")
    parser.add_argument("--ws", action=argparse.BooleanOptionalAction, default=True,
                        help="Freqtrade's enable_ws (candles over the WebSocket streams)")
    arguments = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="freqtrade-bot-") as folder:
        work = Path(folder)
        port = _free_port()
        url = f"http://127.0.0.1:{port}"
        service = _start_service(work, port)
        try:
            _wait_ready(url)
            log = _run_bot(work, url, arguments.freqtrade, arguments.minutes * 60,
                           arguments.ws)
        finally:
            service.send_signal(signal.SIGTERM)
            service.wait(timeout=20)
        return _report(work, log)


def _start_service(work: Path, port: int) -> subprocess.Popen[bytes]:
    names = f"freqtrade-bot-{port}"
    env = {**os.environ, "HTTP_PORT": str(port), "DATABASE_URL": f"sqlite:///{work}/service.sqlite",
           "BINANCE_API_KEYS": f"{KEY}:{SECRET}:{ACCOUNT}", "INITIAL_BALANCES": "USDT=10000",
           "ORDERS_CHANNEL": f"{names}:orders", "ORDERS_STREAM": f"{names}:stream.orders",
           "RESULTS_CHANNEL": f"{names}:order_results", "FILLS_STREAM": f"{names}:stream.fills",
           "MARKET_DATA_CHANNEL": "", "CONSUMER_GROUP": names, "JOURNAL_STREAM": f"{names}:journal",
           "CONTROL_STREAM": f"{names}:control", "LOG_LEVEL": "WARNING"}
    return subprocess.Popen([sys.executable, "-m", "execution_service", "run"], env=env,
                            stdout=(work / "service.log").open("wb"), stderr=subprocess.STDOUT)


def _run_bot(work: Path, url: str, freqtrade: str, seconds: float, ws: bool) -> str:
    user_data = work / "user_data"
    (user_data / "strategies").mkdir(parents=True)
    (user_data / "strategies" / "rising_close.py").write_text(STRATEGY)
    sockets = url.replace("http://", "ws://")
    urls = {"public": f"{url}/api/v3", "private": f"{url}/api/v3",
            **{name: f"{url}/sapi/{version}" for name, version in (
                ("sapi", "v1"), ("sapiV2", "v2"), ("sapiV3", "v3"), ("sapiV4", "v4"))},
            "ws": {"spot": f"{sockets}/ws", "ws-api": {"spot": f"{sockets}/ws-api/v3"}}}
    ccxt = {"urls": {"api": urls}, "options": {"fetchMarkets": {"types": ["spot"]},
                                               "fetchMargins": False}}
    config = {
        "max_open_trades": 2, "stake_currency": "USDT", "stake_amount": 100,
        "tradable_balance_ratio": 0.99, "fiat_display_currency": "", "dry_run": False,
        "timeframe": "1m", "cancel_open_orders_on_exit": True,
        "unfilledtimeout": {"entry": 5, "exit": 5, "unit": "minutes"},
        "entry_pricing": {"price_side": "other", "use_order_book": True, "order_book_top": 1},
        "exit_pricing": {"price_side": "other", "use_order_book": True, "order_book_top": 1},
        "order_types": {"entry": "market", "exit": "market", "stoploss": "market",
                        "stoploss_on_exchange": False},
        "exchange": {"name": "binance", "key": KEY, "secret": SECRET, "enable_ws": ws,
                     "ccxt_config": ccxt, "ccxt_async_config": ccxt,
                     "pair_whitelist": ["BTC/USDT", "ETH/USDT"], "pair_blacklist": []},
        "pairlists": [{"method": "StaticPairList"}],
        "bot_name": "paper", "initial_state": "running",
        "internals": {"process_throttle_secs": 5},
        "db_url": f"sqlite:///{work}/freqtrade.sqlite", "user_data_dir": str(user_data),
        "strategy": "RisingClose",
    }
    (work / "config.json").write_text(json.dumps(config, indent=2))
    log_file = work / "freqtrade.log"
    bot = subprocess.Popen([freqtrade, "trade", "--config", str(work / "config.json"),
                            "--logfile", str(log_file)], stdout=subprocess.DEVNULL,
                           stderr=subprocess.STDOUT, cwd=work)
    try:
        bot.wait(timeout=seconds)
    except subprocess.TimeoutExpired:
        bot.send_signal(signal.SIGINT)  # Freqtrade cancels its open orders and stops
        try:
            bot.wait(timeout=60)
        except subprocess.TimeoutExpired:
            bot.kill()
    return log_file.read_text() if log_file.exists() else ""


def _report(work: Path, log: str) -> int:
    service = sqlite3.connect(work / "service.sqlite")
    orders = service.execute("SELECT status, count(*) FROM orders WHERE account = ?"
                             " GROUP BY status", (ACCOUNT,)).fetchall()
    fills, fees = service.execute("SELECT count(*), group_concat(DISTINCT fee_asset) FROM trades"
                                  " WHERE account = ?", (ACCOUNT,)).fetchone()
    if not (work / "freqtrade.sqlite").exists() or not log:
        print("freqtrade did not trade; the end of its log:", *log.splitlines()[-30:], sep="\n  ")
        return 1
    bot = sqlite3.connect(work / "freqtrade.sqlite")
    closed = bot.execute("SELECT count(*), sum(close_profit_abs) FROM trades WHERE is_open = 0"
                         ).fetchone()
    still_open = bot.execute("SELECT count(*) FROM trades WHERE is_open = 1").fetchone()[0]
    elsewhere = [line for line in log.splitlines() if BINANCE_HOST.search(line)]
    ws_trouble = _ws_trouble(log.splitlines())
    errors = [line for line in log.splitlines() if " - ERROR - " in line]
    print(f"service, the bot's account: orders by status {dict(orders)}, {fills} fills"
          f" (commission in {fees})")
    print(f"freqtrade: {closed[0]} trades closed (profit {closed[1] or 0:.4f} USDT),"
          f" {still_open} open; {len(errors)} ERROR lines")
    print(f"log lines naming a Binance host: {len(elsewhere)}; of WebSocket trouble:"
          f" {len(ws_trouble)}")
    for line in (elsewhere + ws_trouble + errors)[:20]:
        print("  ", line)
    return 0 if orders and not elsewhere and not ws_trouble else 1


def _ws_trouble(lines: list[str]) -> list[str]:
    """The lines saying Freqtrade's WebSocket candles failed (see WS_FAILED)."""
    times = [m[1] for line in lines if (m := LOG_TIME.match(line))]
    started = time.mktime(time.strptime(times[0], "%Y-%m-%d %H:%M:%S")) if times else 0.0
    trouble = []
    for line in lines:
        stamp = LOG_TIME.match(line)
        at = time.mktime(time.strptime(stamp[1], "%Y-%m-%d %H:%M:%S")) if stamp else started
        if WS_FAILED.search(line) or (WS_FELL_BACK.search(line)
                                      and at - started > FIRST_CANDLES_S):
            trouble.append(line)
    return trouble


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _wait_ready(url: str, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{url}/status", timeout=2) as answer:
                if not json.load(answer).get("starting"):
                    return
        except OSError:
            pass
        time.sleep(0.3)
    raise SystemExit(f"the service did not start within {timeout_s:g} s")


if __name__ == "__main__":
    raise SystemExit(main())
