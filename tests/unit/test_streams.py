"""Binance's WebSocket streams, their parts alone: the hub's fan-out and bounds, the
stream names, the depth stream's numbering, and the user data stream's reports of a
batch."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import orjson
import pytest

from execution_service.api.binance import user_data
from execution_service.api.binance.hub import COMBINED, RAW, StreamHub
from execution_service.api.binance.sockets import BinanceStreams
from execution_service.api.binance.streams import ALL, DepthBook, StreamName, parse_stream
from execution_service.api.binance.user_data import UserStreams, account_stream
from execution_service.domain.orders import OrderType, Side
from tests.paper import T0, make_exchange, order, submit, tape

BUY, SELL = Side.BUY, Side.SELL


async def test_an_event_is_framed_once_per_form_however_many_listen() -> None:
    hub = StreamHub()
    raw = [hub.connect(RAW) for _ in range(3)]
    combined = hub.connect(COMBINED)
    for listener in [*raw, combined]:
        assert listener is not None
        hub.subscribe(listener, ["btcusdt@trade"])
    hub.publish("btcusdt@trade", {"e": "trade", "p": "1"})
    frames = [(await listener.next()) for listener in [*raw, combined]]  # type: ignore[union-attr]
    assert frames[0] == [b'{"e":"trade","p":"1"}']
    assert frames[0][0] is frames[1][0] is frames[2][0]  # one serialization for the raw ones
    assert orjson.loads(frames[3][0]) == {"stream": "btcusdt@trade",  # type: ignore[index]
                                          "data": {"e": "trade", "p": "1"}}


async def test_a_listener_that_falls_behind_is_dropped_and_the_others_keep_theirs() -> None:
    hub = StreamHub(backlog_bytes=100)
    slow, reading = hub.connect(RAW), hub.connect(RAW)
    assert slow is not None
    assert reading is not None
    for listener in (slow, reading):
        hub.subscribe(listener, ["s"])
    for n in range(5):
        hub.publish("s", {"n": n, "pad": "x" * 20})
        assert await reading.next()
    assert slow.dropped
    assert hub.listeners == 1
    assert hub.dropped == 1
    assert await slow.next() is None  # its socket is closed
    assert hub.streams() == {"s"}


def test_connections_and_streams_are_capped() -> None:
    hub = StreamHub(max_listeners=2, max_streams=3)
    first, second = hub.connect(RAW), hub.connect(RAW)
    assert first is not None
    assert second is not None
    assert hub.connect(RAW) is None
    assert hub.subscribe(first, ["a", "b", "c"])
    assert not hub.subscribe(first, ["d"])  # a fourth: refused, nothing added
    assert first.streams == {"a", "b", "c"}
    hub.disconnect(first)
    assert hub.connect(RAW) is not None
    assert hub.streams() == set()


async def test_a_closed_stream_writes_what_it_was_sent_then_ends() -> None:
    hub = StreamHub()
    listener = hub.connect(RAW)
    assert listener is not None
    hub.subscribe(listener, ["key"])
    hub.publish("key", {"e": "listenKeyExpired"})
    hub.close_stream("key")
    assert await listener.next() == [b'{"e":"listenKeyExpired"}']
    assert await listener.next() is None


@pytest.mark.parametrize(("name", "parsed"), [
    ("btcusdt@trade", StreamName("BTCUSDT", "trade")),
    ("ethbtc@aggTrade", StreamName("ETHBTC", "aggTrade")),
    ("btcusdt@kline_1m", StreamName("BTCUSDT", "kline", interval="1m")),
    ("btcusdt@depth", StreamName("BTCUSDT", "depth")),
    ("btcusdt@depth@100ms", StreamName("BTCUSDT", "depth", fast=True)),
    ("btcusdt@depth20@100ms", StreamName("BTCUSDT", "depth", levels=20, fast=True)),
    ("btcusdt@depth5", StreamName("BTCUSDT", "depth", levels=5)),
    ("btcusdt@bookTicker", StreamName("BTCUSDT", "bookTicker")),
    ("btcusdt@miniTicker", StreamName("BTCUSDT", "miniTicker")),
    ("btcusdt@ticker_4h", StreamName("BTCUSDT", "ticker", window="4h")),
    ("btcusdt@avgPrice", StreamName("BTCUSDT", "avgPrice")),
    ("!miniTicker@arr", StreamName(ALL, "miniTicker")),
    ("!ticker_1d@arr", StreamName(ALL, "ticker", window="1d")),
    ("!ticker@arr", None), ("!trade@arr", None), ("btcusdt@trade@arr", None),
    ("!@miniTicker@arr", None), ("!miniTicker", None),
    ("BTCUSDT@trade", None), ("btcusdt@kline_2m", None), ("btcusdt@depth7", None),
    ("btcusdt@trade@100ms", None), ("0", None), ("", None), ("btcusdt@" + "x" * 5000, None),
])
def test_stream_names_are_read_as_binance_spells_them(name: str, parsed: StreamName | None
                                                     ) -> None:
    assert parse_stream(name) == parsed


def test_a_client_follows_the_book_from_a_snapshot_with_the_diff_stream() -> None:
    """Binance's procedure: keep the events after a snapshot's lastUpdateId (the first with
    U <= id + 1 <= u), apply each; the book then equals the next snapshot."""
    book = DepthBook()
    book.take([["100", "1"], ["99", "2"]], [["101", "1"]])
    first = book.diff("s")
    assert first == (1, 1, [["100", "1"], ["99", "2"]], [["101", "1"]])
    book.take([["100", "3"]], [["101", "1"], ["102", "5"]])  # 99 gone, 100 changed, 102 new
    snapshot_id, bids, asks = book.snapshot(100)  # (a REST snapshot between two diffs)
    book.take([["100", "3"]], [["102", "5"]])
    second = book.diff("s")
    assert second is not None
    start, end, bid_changes, ask_changes = second
    assert start <= snapshot_id + 1 <= end
    assert start == 2
    local = {"b": dict(map(tuple, bids)), "a": dict(map(tuple, asks))}
    for side, changes in (("b", bid_changes), ("a", ask_changes)):
        for price, amount in changes:
            if Decimal(amount) == 0:
                local[side].pop(price, None)
            else:
                local[side][price] = amount
    _, bids_now, asks_now = book.snapshot(100)
    assert local == {"b": dict(map(tuple, bids_now)), "a": dict(map(tuple, asks_now))}
    assert book.diff("s") is None  # nothing changed since


def _effects_of_a_batch():  # type: ignore[no-untyped-def]
    live = make_exchange({"USDT": "100000"})
    tape(live, "90000", quantity=None)
    live.begin()
    submit(live, order(BUY, "0.3"))  # fills across the book's levels
    resting = submit(live, order(BUY, "0.1", OrderType.LIMIT, price="89000")).order
    live.cancel(resting.order_id, T0)
    return live.end()


async def test_a_batch_is_reported_as_binance_reports_it_in_the_order_it_happened() -> None:
    hub = StreamHub()
    users = UserStreams(hub)
    listener = hub.connect(RAW)
    assert listener is not None
    key = users.open("k", "default", now_ms=0)
    hub.subscribe(listener, [key])
    effects = _effects_of_a_batch()
    users.committed(effects, now_ms=1)
    [batch] = users._batches
    kinds = [(r.event["x"], r.event["X"]) for r in batch.reports]
    trades = len(effects.trades)
    assert trades >= 2  # (the market order took several levels)
    assert kinds == [("NEW", "NEW")] + [("TRADE", "PARTIALLY_FILLED")] * (trades - 1) + [
        ("TRADE", "FILLED"), ("NEW", "NEW"), ("CANCELED", "CANCELED")]
    fills = [r.event for r in batch.reports if r.event["x"] == "TRADE"]
    assert [Decimal(f["l"]) for f in fills] == [t.quantity for t in effects.trades]
    assert Decimal(fills[-1]["z"]) == Decimal("0.3")
    assert Decimal(fills[-1]["Z"]) == sum(t.quantity * t.price for t in effects.trades)
    assert [r.trade_id for r in batch.reports if r.trade_id] == [
        t.trade_id for t in effects.trades]
    assert {b["a"] for b in batch.positions["default"]["B"]} == {"USDT", "BTC"}
    # The fields of Binance's documented executionReport (user-data-stream.md), but `v`,
    # which it sends only for an order a self-trade prevention expired.
    documented = set("eEscSofqpPFgCxXrilzLnNTtIwmMOZYQWV")  # (each a single letter)
    assert all(set(r.event) == documented for r in batch.reports)


def test_nothing_is_rendered_for_accounts_nobody_follows() -> None:
    hub = StreamHub()
    users = UserStreams(hub)
    listener = hub.connect(RAW)
    assert listener is not None
    hub.subscribe(listener, [account_stream("someone-else")])
    users.committed(_effects_of_a_batch(), now_ms=1)
    assert not users._batches


async def test_a_listen_key_lasts_an_hour_from_its_last_keepalive() -> None:
    hub = StreamHub()
    users = UserStreams(hub)
    key = users.open("api-key", "bot", now_ms=0)
    assert users.open("api-key", "bot", now_ms=10) == key  # the same, extended
    assert users.extend(key, "api-key", now_ms=3_000_000)
    assert not users.extend(key, "another-key", now_ms=3_000_000)
    listener = hub.connect(RAW)
    assert listener is not None
    hub.subscribe(listener, [key])
    users.expire(now_ms=3_000_000 + 3_600_000 - 1)
    assert users.account_of(key, now_ms=3_000_000) == "bot"
    users.expire(now_ms=3_000_000 + 3_600_000)
    assert users.account_of(key, now_ms=0) is None
    assert orjson.loads((await listener.next())[0])["e"] == "listenKeyExpired"  # type: ignore[index]
    assert await asyncio.wait_for(listener.next(), 1) is None


def test_an_address_opens_at_most_its_share_of_sockets_in_five_minutes() -> None:
    streams = BinanceStreams(per_address=3)
    assert [streams.admit("10.0.0.1", at) for at in (0.0, 1.0, 2.0, 3.0)] == [
        True, True, True, False]
    assert streams.admit("10.0.0.2", 3.0)  # (another address has its own share)
    assert not streams.admit("10.0.0.1", 299.9)
    assert streams.admit("10.0.0.1", 300.0)  # the first one's 5 minutes are over
    assert all(BinanceStreams(per_address=0).admit("10.0.0.1", 0.0) for _ in range(1000))


async def test_when_the_queue_overflows_every_follower_of_a_dropped_account_is_closed(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The database away long enough for MAX_QUEUED_BATCHES: the queue is dropped, and so
    is each socket that followed an account with events in it (it must read the state
    again), never silently."""
    monkeypatch.setattr(user_data, "MAX_QUEUED_BATCHES", 2)
    hub = StreamHub()
    users = UserStreams(hub)
    listener = hub.connect(RAW)
    assert listener is not None
    hub.subscribe(listener, [account_stream("default")])
    for _ in range(3):
        users.committed(_effects_of_a_batch(), now_ms=1)
    assert users.overflowed == 1
    assert not users._batches
    assert await asyncio.wait_for(listener.next(), 1) is None
