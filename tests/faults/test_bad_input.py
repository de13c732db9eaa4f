"""SPEC 6.5: hostile input on all three intakes. The service keeps running, every message
leaves a trace, and a good order sent afterwards is executed.

A trace is an `orders` row (a REJECTED order with its `error_code`, or a filled one when a
generated message happens to be a valid order), a `rejected_messages` row, or, for a
`client_id` already seen, the duplicate count. So the count of traces must equal the
count of messages sent.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.faults.conftest import TOKEN
from tests.faults.servers import PrivateRedis
from tests.helpers import pg_connect, wait_for_sync
from tests.processes import ServiceProcess, Start
from tests.unit.test_hostile_messages import values as hostile_values


def order(**fields: Any) -> bytes:
    return orjson.dumps({"symbol": "BTCUSDT", "side": "BUY", "quantity": "0.001", **fields})


TWO_MEGABYTES = b"x" * (2 * 1024 * 1024)

HAND_PICKED: list[bytes] = [
    b"", b" ", b"not json", b"{", b"[]", b"null", b"42", b'"BTCUSDT"', b"{}",
    b'{"symbol":"BTCUSDT","side":"BUY"}',
    b'{"symbol":"BTCUSDT","side":"BUY","quantity":NaN}',
    b'{"symbol":"BTCUSDT","side":"BUY","quantity":Infinity}',
    b'{"symbol":"BTCUSDT","side":"BUY","quantity":1e400}',
    b'{"symbol":"BTCUSDT","side":"BUY","quantity":' + b"9" * 5000 + b"}",
    b'{"symbol":"BTCUSDT","side":"BUY","quantity":0.001,"quantity":-1}',
    *(order(quantity=q) for q in ("NaN", "Infinity", "-Infinity", "-1", "0", "-0.001", "1e400",
                                  "1e-400", "abc", "0x10", "1_000", "", " ", "\uff11")),
    *(order(quantity=q) for q in (-1, 0, -0.001, True, None, [], {}, 1e308)),
    *(order(side=s) for s in ("HOLD", "", 1, None, "\u0412UY")),
    *(order(symbol=s) for s in ("'; DROP TABLE orders; --", "<script>alert(1)</script>",
                                "BTC\u0000USDT", "FOOBAR", "X" * 10_000, 123, None, "")),
    *(order(client_id=c) for c in ("x" * 65, "a\u0000b", 12345, {"$ne": None}, "")),
    order(client_id="'; DROP TABLE orders; --"),
    order(strategy_id="\u0000", bot_id="x" * 100_000),
    order(type="cancel"), order(type="delete"),
    b'{"symbol":"BTCUSDT","side":"BUY","quantity":0.001,"pad":"' + TWO_MEGABYTES + b'"}',
    TWO_MEGABYTES,
    b"\xff\xfe\x00\x01", b'{"symbol":"BTC\xc3\x28USDT","side":"BUY","quantity":"0.001"}',
    b"[" * 5000 + b"]" * 5000, b'{"a":' * 2000 + b"1" + b"}" * 2000,
]

HAND_PICKED_FIELDS: list[dict[bytes, bytes]] = [
    {b"data": b"not json"}, {b"data": b"\xff"}, {b"data": TWO_MEGABYTES},
    {b"foo": b"bar"}, {b"symbol": b"BTCUSDT", b"side": b"BUY", b"quantity": b"NaN"},
    {b"symbol": b"BTCUSDT", b"side": b"BUY", b"quantity": b"\xff\xfe"},
    {b"\xff": b"1", b"symbol": b"BTCUSDT"},
    {b"symbol": b"BTCUSDT", b"side": b"BUY", b"quantity": b"0.001", b"client_id": b"x" * 65},
    {b"symbol": b"BTCUSDT", b"side": b"BUY", b"quantity": b"0.001", b"pad": TWO_MEGABYTES},
    {b"symbol": b"BTC\x00USDT", b"side": b"BUY", b"quantity": b"0.001"},
]

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**64 - 1) | st.floats(allow_nan=False)
    | st.text(),
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.text(max_size=12), children, max_size=4),
    max_leaves=12)
order_like = st.fixed_dictionaries(
    {}, optional={"symbol": json_values | st.sampled_from(["BTCUSDT", "ETH/USDT", "btc-usdt"]),
                  "side": json_values | st.sampled_from(["BUY", "SELL", "sell"]),
                  "quantity": json_values | st.decimals(allow_nan=True).map(str),
                  "client_id": json_values, "type": json_values, "order_id": json_values,
                  "strategy_id": json_values})
payloads = st.binary(max_size=300) | json_values.map(orjson.dumps) | order_like.map(orjson.dumps)


class Traces:
    """What the database and the service's counters show for the messages sent so far."""

    def __init__(self, url: str, service: ServiceProcess) -> None:
        self.url, self.service = url, service

    def count(self) -> int:
        with pg_connect(self.url) as conn:
            row = conn.execute("SELECT (SELECT count(*) FROM orders)"
                               " + (SELECT count(*) FROM rejected_messages)").fetchone()
        assert row is not None
        return int(row[0]) + int(self.service.get("/status").json()["stats"]["duplicates"])

    def by_source(self) -> dict[str, int]:
        with pg_connect(self.url) as conn:
            rows = conn.execute("SELECT source, count(*) FROM (SELECT source FROM orders UNION ALL"
                                " SELECT source FROM rejected_messages) s GROUP BY source").fetchall()
        return {**dict(rows), "duplicates": self.service.get("/status").json()["stats"]["duplicates"]}


def test_every_hostile_message_leaves_a_trace_and_the_service_goes_on(
    start: Start, redis_server: PrivateRedis, pg_url: str
) -> None:
    service = start(MOCK_SUCCESS_RATE="1")
    service.wait_ready()
    client = redis_server.client()
    sent = 0

    def send_everywhere(payload: bytes) -> None:
        nonlocal sent
        assert client.publish("orders", payload) == 1
        client.xadd("stream.orders", {b"data": payload})
        response = service.send("POST", "/orders", TOKEN, content=payload)
        assert response.status_code in (200, 201, 400, 413), response.text
        assert response.headers["content-type"] == "application/json"
        sent += 3

    for payload in HAND_PICKED:
        send_everywhere(payload)
    for fields in HAND_PICKED_FIELDS:
        client.xadd("stream.orders", fields)  # type: ignore[arg-type]
        sent += 1

    @settings(max_examples=150, database=None, suppress_health_check=list(HealthCheck))
    @given(payload=payloads)
    def generated(payload: bytes) -> None:
        send_everywhere(payload)

    generated()
    traces = Traces(pg_url, service)
    wait_for_sync(lambda: traces.count() >= sent, timeout_s=60,
                  what=f"a trace of each of the {sent} messages")
    assert traces.count() == sent, traces.by_source()
    assert service.alive()

    # Still executing: a good order on each intake is filled.
    good = [order(client_id=f"good-{intake}") for intake in ("pubsub", "stream", "rest")]
    client.publish("orders", good[0])
    client.xadd("stream.orders", {b"data": good[1]})
    assert service.send("POST", "/orders", TOKEN, content=good[2]).json()["status"] == "FILLED"
    with pg_connect(pg_url) as conn:
        def filled() -> bool:
            row = conn.execute("SELECT count(*) FROM orders WHERE client_id LIKE 'good-%'"
                               " AND status = 'FILLED'").fetchone()
            conn.commit()
            return row == (3,)
        wait_for_sync(filled, what="the good orders filled")
        reasons = conn.execute("SELECT reason FROM rejected_messages").fetchall()
    assert all(reason for (reason,) in reasons)


def _resident_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


def _nested(depth: int) -> Any:
    value: Any = 1
    for _ in range(depth):
        value = [value]
    return value


# What used to stop the service, or blow its memory up, or answer 500 (the hardening issue).
HOSTILE: list[dict[str, Any]] = [
    {"x": "1e9999999"},
    {f"f{i}": "1e999999" for i in range(400)},
    {"metadata": _nested(300)},
    {"quantity": "²"}, {"quantity": "٣"}, {"quantity": "9" * 5000},
    {"quantity": "0." + "0" * 5000 + "1"}, {"quantity": "1e-999999"},
    {"price": "1e999999"}, {"stop_loss_pct": "1" * 5000 + "x"},
    {"expire_at": "²"}, {"expire_at": "9" * 5000}, {"timestamp": "1e9999999"},
    {"symbol": "BTCUSDT" + "9" * 5000 + "x"},
]
# Fields a generated message may carry: any but those that make one message several
# results (a resting order's later fills, a cancel's answer to each copy).
GENERATED_FIELDS = st.sampled_from(["quantity", "price", "stop_price", "expire_at",
                                    "stop_loss_pct", "strategy_id", "bot_id", "timestamp",
                                    "symbol", "side"]) | st.text(max_size=8).filter(
    lambda name: name not in ("type", "order_type", "time_in_force", "client_id",
                              "client_order_id", "account", "order_id"))


def test_hostile_messages_under_a_client_id_are_answered_once_and_nothing_stays_pending(
    start: Start, redis_server: PrivateRedis, pg_url: str
) -> None:
    service = start(MOCK_SUCCESS_RATE="1")
    service.wait_ready()
    resident_before = _resident_mib(service.popen.pid)
    client = redis_server.client()
    documents = list(HOSTILE)

    @settings(max_examples=100, database=None, suppress_health_check=list(HealthCheck))
    @given(extra=st.dictionaries(GENERATED_FIELDS, hostile_values, max_size=6))
    def generated(extra: dict[str, Any]) -> None:
        documents.append(extra)

    generated()
    for number, extra in enumerate(documents):
        # (the standard library writes 300 levels and wide integers; orjson does neither)
        payload = json.dumps({"symbol": "BTCUSDT", "side": "BUY", "quantity": "0.001", **extra,
                              "client_id": f"hostile-{number}"}).encode()
        client.publish("orders", payload)
        client.xadd("stream.orders", {b"data": payload})
        answer = service.send("POST", "/orders", TOKEN, content=payload)
        assert answer.status_code in (200, 201, 400, 413), answer.text
        assert answer.headers["content-type"] == "application/json"

    expected = {f"hostile-{number}" for number in range(len(documents))}

    def answered() -> Counter[str]:
        return Counter(fields[b"client_id"].decode()
                       for _, fields in client.xrange("stream.fills")
                       if fields.get(b"client_id", b"").startswith(b"hostile-"))

    wait_for_sync(lambda: set(answered()) == expected, timeout_s=60,
                  what=f"a result for each of the {len(expected)} client ids")
    assert service.alive()
    twice = [documents[int(name.rsplit("-", 1)[1])] for name, n in answered().items() if n > 1]
    assert not twice, f"answered more than once: {repr(twice)[:2000]}"
    for stream in ("stream.orders", "execution.journal"):
        assert client.xpending(stream, "execution-service")["pending"] == 0
    assert _resident_mib(service.popen.pid) - resident_before < 100
    good = service.send("POST", "/orders", TOKEN, json={"symbol": "BTCUSDT", "side": "BUY",
                                                         "quantity": "0.001"})
    assert good.json()["status"] == "FILLED"
