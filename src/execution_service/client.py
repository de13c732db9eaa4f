"""The command line's client commands, for a person at a terminal: `submit` an order and see
its result, `tail` the results as they come, read the `status`. They speak to a running
service as its other clients do: its HTTP port, its Redis channels and streams, named by
the same settings the service reads."""

from __future__ import annotations

import json
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any, TextIO

import redis

from execution_service.config import Settings

EXIT_REJECTED = 1
EXIT_UNANSWERED = 3


def submit(settings: Settings, order: dict[str, Any], intake: str, url: str,
           timeout_s: float, out: TextIO = sys.stdout) -> int:
    """Send `order` on `intake` (rest, pubsub or stream) and print its result."""
    order = {key: value for key, value in order.items() if value is not None}
    order.setdefault("client_id", f"cli-{uuid.uuid4().hex[:12]}")
    if intake == "rest":
        code, answer = _http("POST", f"{url}/orders", settings.token(), order, timeout_s)
        if code in (401, 403):
            out.write(f"refused ({code}): {answer.get('detail')}\n")
            return EXIT_REJECTED
        result = answer
    else:
        received = _through_redis(settings, order, intake, timeout_s)
        if received is None:
            out.write(f"no result for {order['client_id']} within {timeout_s:g} s\n")
            return EXIT_UNANSWERED
        result = received
    out.write(describe(result) + "\n")
    return EXIT_REJECTED if result.get("status") == "REJECTED" else 0


def tail(settings: Settings, matches: Callable[[dict[str, Any]], bool], count: int | None,
         raw: bool, out: TextIO = sys.stdout) -> int:
    """Print each result published on the results channel, as it comes."""
    printed = 0
    for result in _results(settings):
        if not matches(result):
            continue
        out.write((json.dumps(result) if raw else describe(result)) + "\n")
        out.flush()
        printed += 1
        if count is not None and printed >= count:
            return 0
    return 0


def status(settings: Settings, url: str, timeout_s: float, out: TextIO = sys.stdout) -> int:
    """Print /status, readable."""
    code, body = _http("GET", f"{url}/status", None, None, timeout_s)
    if code != 200:
        out.write(f"{url}/status answered {code}\n")
        return 1
    stats, database, redis_ = body["stats"], body["database"], body["redis"]
    kill = body["kill_switch"]
    lines = [
        f"{body['service']} {body['version']}: {body['status']}, up {body['uptime_s']:.0f} s",
        f"orders: {stats['orders_received']} received, {stats['orders_filled']} filled, "
        f"{stats['orders_rejected']} rejected, {stats['duplicates']} duplicates, "
        f"{stats['batches']} batches",
        "kill switch: " + (f"ENGAGED since {kill['since']} ({kill['reason']})" if kill["active"]
                           else "released"),
        f"redis: {'connected' if redis_['connected'] else 'DOWN ' + str(redis_.get('error'))}"
        + "".join(f"; {name} pending {s['pending']}, lag {s['lag']}"
                  for name, s in (redis_.get("intake") or {}).items()),
        f"database: {database['backend']}, "
        + ("connected" if database["connected"] else f"DOWN {database.get('error')}")
        + f"; {database.get('total_orders', '?')} orders, {database.get('total_trades', '?')}"
          f" trades, {database.get('outbox_unsent', '?')} results unsent",
    ]
    out.write("\n".join(lines) + "\n")
    return 0


def describe(result: dict[str, Any]) -> str:
    """One result as a line for a person."""
    moment = result.get("event_time_ms")
    when = (datetime.fromtimestamp(moment / 1000, UTC).strftime("%H:%M:%S.%f")[:-3]
            if isinstance(moment, int | float) else "--:--:--")
    head = f"{when} {result.get('status', '?'):<16} "
    if result.get("type") == "cancel_result":
        return head + f"cancel of {result.get('order_id') or result.get('client_id')}: " \
                      f"{result.get('error_message')}"
    line = (f"{head}{result.get('side', '')} {result.get('filled_quantity', 0)}"
            f"/{result.get('quantity', '?')} {result.get('symbol', '')}")
    if result.get("price") is not None:
        line += f" @ {result['price']}"
    if result.get("fee"):
        line += f" fee {result['fee']} {result.get('fee_asset') or ''}".rstrip()
    if result.get("error_code"):
        line += f" [{result['error_code']}: {result.get('error_message')}]"
    ids = [f"order {result['order_id']}"] if result.get("order_id") else []
    ids += [f"client {result['client_id']}"] if result.get("client_id") else []
    ids += [f"account {result['account']}"] if result.get("account") else []
    return line + (f" ({', '.join(ids)})" if ids else "")


def _through_redis(settings: Settings, order: dict[str, Any], intake: str,
                   timeout_s: float) -> dict[str, Any] | None:
    client = connect(settings)
    listening = client.pubsub(ignore_subscribe_messages=True)  # type: ignore[no-untyped-call, unused-ignore]
    listening.subscribe(settings.results_channel)  # before sending: no result is missed
    try:
        if intake == "stream":
            client.xadd(settings.orders_stream, {"data": json.dumps(order)})
        else:
            client.publish(settings.orders_channel, json.dumps(order))
        deadline = time.monotonic() + timeout_s
        while (left := deadline - time.monotonic()) > 0:
            message = listening.get_message(timeout=left)
            if message is None:
                continue
            result = json.loads(message["data"])
            if result.get("client_id") == order["client_id"]:
                return dict(result)
        return None
    finally:
        listening.close()
        client.close()


def _results(settings: Settings) -> Iterator[dict[str, Any]]:
    client = connect(settings)
    listening = client.pubsub(ignore_subscribe_messages=True)  # type: ignore[no-untyped-call, unused-ignore]
    listening.subscribe(settings.results_channel)
    try:
        for message in listening.listen():  # type: ignore[no-untyped-call, unused-ignore]
            try:
                yield dict(json.loads(message["data"]))
            except (ValueError, TypeError):
                continue
    finally:
        listening.close()
        client.close()


def connect(settings: Settings) -> redis.Redis:
    """A Redis client as the settings name it."""
    password = settings.redis_password.get_secret_value() if settings.redis_password else None
    return redis.Redis.from_url(settings.redis_connection_url(), password=password)


def _http(method: str, url: str, token: str | None, body: dict[str, Any] | None,
          timeout_s: float) -> tuple[int, dict[str, Any]]:
    request = urllib.request.Request(url, method=method,
                                     data=json.dumps(body).encode() if body is not None else None)
    request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as answer:
            return answer.status, json.loads(answer.read() or b"{}")
    except urllib.error.HTTPError as refused:
        return refused.code, json.loads(refused.read() or b"{}")
