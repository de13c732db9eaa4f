"""The service in one process against real Redis and a real database: intake to result."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from decimal import Decimal

import httpx
import orjson
import redis.asyncio as aioredis
from sqlalchemy import func, select

from execution_service.bus.envelope import Envelope
from execution_service.config import load_settings
from execution_service.domain.commands import MarketTrade, SetKillSwitch
from execution_service.domain.orders import Source
from execution_service.errors import WriteConflict
from execution_service.pipeline.work import UnitOfWork
from execution_service.service import ExecutionService
from execution_service.store import tables
from execution_service.store.base import Session
from tests.helpers import REDIS_URL, Names, free_port, wait_for
from tests.service_harness import Listener, base_url, running_service

SEED_ORDER = b'{"symbol":"BTCUSDT","side":"BUY","quantity":0.001}'


async def count(service: ExecutionService, table: tables.Table) -> int:
    async with service.database.transaction() as conn:
        return int(await conn.scalar(select(func.count()).select_from(table)) or 0)


async def pending(redis: aioredis.Redis, stream: str) -> int:
    summary = await redis.xpending(stream, "execution-service")
    return int(summary["pending"])


async def test_stream_order_is_committed_published_and_acknowledged(
    names: Names, database_url: str, redis_client: aioredis.Redis
) -> None:
    async with running_service(names, database_url) as service, \
            Listener(names.results_channel) as results:
        await redis_client.xadd(names.orders_stream, {
            "symbol": "ETH/USDT", "side": "buy", "quantity": "0.5", "client_id": "rm-1",
            "strategy_id": "momentum", "bot_id": "bot-7"})
        [result] = await results.wait_count(1)
        assert result["type"] == "order_result"
        assert result["status"] == "FILLED"
        assert result["source"] == "stream"
        assert (result["symbol"], result["side"], result["quantity"]) == ("ETHUSDT", "BUY", 0.5)
        assert result["client_id"] == "rm-1"
        assert result["strategy_id"] == "momentum"
        assert result["order_id"].startswith("MOCK_")
        [(_, fields)] = await redis_client.xrange(names.fills_stream)
        assert fields[b"order_id"].decode() == result["order_id"]
        assert fields[b"filled_size"] == fields[b"filled_quantity"] == b"0.5"
        assert fields[b"avg_fill_price"] == fields[b"price"]
        assert await pending(redis_client, names.orders_stream) == 0
        detail = await service.store.get_order_by_id(result["order_id"])
        assert detail is not None
        assert len(detail.trades) == 1
        assert detail.trades[0].price == Decimal(str(result["price"]))
        assert await service.store.count_unsent() == 0


async def test_seed_test_order_on_pubsub_is_executed_from_the_journal(
    names: Names, sqlite_url: str, redis_client: aioredis.Redis
) -> None:
    async with running_service(names, sqlite_url) as service, \
            Listener(names.results_channel) as results:
        await redis_client.publish(names.orders_channel, SEED_ORDER)
        [result] = await results.wait_count(1)
        assert result["status"] == "FILLED"
        assert result["source"] == "pubsub"
        assert result["filled_quantity"] == 0.001
        assert result["fee_asset"] == "USDT"
        assert await count(service, tables.orders) == 1
        assert await count(service, tables.trades) == 1
        # journal entries are acknowledged and deleted once committed
        await wait_for(lambda: _journal_empty(redis_client, names), what="journal drained")


async def test_pubsub_burst_is_read_in_full_while_the_pipeline_is_busy(
    names: Names, sqlite_url: str, redis_client: aioredis.Redis
) -> None:
    # The seed's subscriber was dropped by Redis in bursts (output buffer limit) and lost
    # most of them; the reader thread only journals, so it keeps up.
    async with running_service(names, sqlite_url,
                               initial_balances={"USDT": Decimal(10**9)}) as service:
        burst = 20_000
        for start in range(0, burst, 2_000):
            pipe = redis_client.pipeline(transaction=False)
            for i in range(start, start + 2_000):
                pipe.publish(names.orders_channel, orjson.dumps(
                    {"symbol": "XRPUSDT", "side": "BUY", "quantity": "1", "client_id": f"b{i}"}))
            await pipe.execute()
        await wait_for(lambda: _orders_stored(service, burst), timeout_s=120,
                       interval_s=0.5, what=f"{burst} orders stored")
        assert service.pubsub.journaled == burst
        assert service.pipeline.stats.duplicates == 0


async def _orders_stored(service: ExecutionService, expected: int) -> bool:
    return await count(service, tables.orders) >= expected


async def _journal_empty(redis_client: aioredis.Redis, names: Names) -> bool:
    return int(await redis_client.xlen(names.journal_stream)) == 0


async def test_same_client_id_on_both_intakes_executes_once(
    names: Names, postgres_url: str, redis_client: aioredis.Redis
) -> None:
    async with running_service(names, postgres_url) as service, \
            Listener(names.results_channel) as results:
        pipe = redis_client.pipeline(transaction=False)
        for i in range(200):
            order = {"symbol": "BTCUSDT", "side": "BUY", "quantity": "0.0001", "client_id": f"c{i}"}
            pipe.publish(names.orders_channel, orjson.dumps(order))
            pipe.xadd(names.orders_stream, order)
        await pipe.execute()
        await results.wait_count(200)
        await wait_for(lambda: _duplicates(service, 200), what="200 duplicates counted")
        assert await count(service, tables.orders) == 200
        assert len({m["client_id"] for m in results.messages}) == len(results.messages) == 200
        assert await pending(redis_client, names.orders_stream) == 0


async def _duplicates(service: ExecutionService, expected: int) -> bool:
    return service.pipeline.stats.duplicates == expected


async def test_bad_stream_entries_are_recorded_and_do_not_block_good_ones(
    names: Names, sqlite_url: str, redis_client: aioredis.Redis
) -> None:
    async with running_service(names, sqlite_url) as service, \
            Listener(names.results_channel) as results:
        await redis_client.xadd(names.orders_stream, {"data": b"\xff\xfe not json"})
        await redis_client.xadd(names.orders_stream, {"symbol": "BTCUSDT", "side": "BUY",
                                                      "quantity": "-3", "client_id": "neg"})
        await redis_client.publish(names.orders_channel, b"[]")
        await redis_client.xadd(names.orders_stream, {"symbol": "BTCUSDT", "side": "BUY",
                                                      "quantity": "0.001", "client_id": "good"})
        messages = await results.wait_count(2)
        by_client = {m["client_id"]: m for m in messages}
        assert by_client["neg"]["error_code"] == "INVALID_ORDER"
        assert "greater than 0" in by_client["neg"]["error_message"]
        assert by_client["good"]["status"] == "FILLED"
        await wait_for(lambda: _rejected_rows(service, 3), what="3 rejected_messages rows")
        assert await pending(redis_client, names.orders_stream) == 0


async def _rejected_rows(service: ExecutionService, expected: int) -> bool:
    return await count(service, tables.rejected_messages) == expected


async def test_market_data_price_is_the_fill_reference(
    names: Names, sqlite_url: str, redis_client: aioredis.Redis
) -> None:
    async with running_service(names, sqlite_url) as service, \
            Listener(names.results_channel) as results:
        tick = {"schema_version": "v1.0", "source": "mexc", "symbol": "SOLUSDT",
                "ts_ms": 1, "price": "123.45", "trade_qty": "3", "side": "buy"}
        await redis_client.publish(names.market_data_channel, orjson.dumps(tick))
        await wait_for(lambda: _priced(service, "SOLUSDT", Decimal("123.45")), what="live price")
        await redis_client.xadd(names.orders_stream, {"symbol": "SOLUSDT", "side": "BUY",
                                                      "quantity": "1"})
        [result] = await results.wait_count(1)
        # The best ask of the synthetic book: 123.45 + 1 bp = 123.462345, up to the 0.01 tick.
        assert Decimal(str(result["price"])) == Decimal("123.47")
        assert Decimal(str(result["slippage_bps"])) == Decimal("1.6201")


async def _priced(service: ExecutionService, symbol: str, price: Decimal) -> bool:
    return service.prices.snapshot().get(symbol) == price


async def test_entries_left_pending_by_a_dead_consumer_are_reclaimed(
    names: Names, sqlite_url: str, redis_client: aioredis.Redis
) -> None:
    await redis_client.xgroup_create(names.orders_stream, "execution-service", id="$",
                                     mkstream=True)
    await redis_client.xadd(names.orders_stream, {"symbol": "BTCUSDT", "side": "SELL",
                                                  "quantity": "0.001"})
    # a consumer that read the entry and died before acknowledging it
    await redis_client.xreadgroup("execution-service", "dead-consumer",
                                  {names.orders_stream: ">"}, count=10)
    async with running_service(names, sqlite_url, claim_idle_ms=200,
                               initial_balances={"USDT": Decimal(0), "BTC": Decimal(1)}) as service:
        await wait_for(lambda: _pending_is(redis_client, names.orders_stream, 0),
                       what="pending entry reclaimed and acknowledged")
        [order] = await service.store.get_recent_orders(5)
        assert order.status.value == "FILLED"
        assert order.intake_ref is not None
        # The dead consumer, now with nothing pending, is removed from the group.
        await wait_for(lambda: _consumers(redis_client, names.orders_stream),
                       what="only the live consumer left")


async def _consumers(redis_client: aioredis.Redis, stream: str) -> bool:
    consumers = await redis_client.xinfo_consumers(stream, "execution-service")
    return all(consumer["name"] != b"dead-consumer" for consumer in consumers)


async def test_entries_queued_in_this_process_are_never_claimed_from_itself(
    names: Names, sqlite_url: str, redis_client: aioredis.Redis
) -> None:
    """A backlog older than the claim time must not be delivered twice (it would snowball)."""
    await redis_client.xgroup_create(names.orders_stream, "execution-service", id="$",
                                     mkstream=True)
    async with running_service(names, sqlite_url, claim_idle_ms=100, batch_max_orders=10,
                               mock_success_rate=1.0) as service:
        release = asyncio.Event()
        commit = service.writer.commit

        async def slow_commit(work: UnitOfWork) -> None:
            await release.wait()
            await commit(work)

        service.writer.commit = slow_commit  # type: ignore[method-assign]
        for i in range(40):
            await redis_client.xadd(names.orders_stream, {
                "client_id": f"b{i}", "symbol": "BTCUSDT", "side": "BUY", "quantity": "0.001"})
        await asyncio.sleep(1.0)  # ten claim passes while the entries wait in the inbox
        release.set()
        await wait_for(lambda: _pending_is(redis_client, names.orders_stream, 0),
                       what="backlog acknowledged")
        assert service.pipeline.stats.orders_received == 40
        assert service.pipeline.stats.duplicates == 0


async def _pending_is(redis_client: aioredis.Redis, stream: str, expected: int) -> bool:
    return await pending(redis_client, stream) == expected


async def test_kill_switch_from_control_stream_persists_and_old_entries_never_replay(
    names: Names, sqlite_url: str, redis_client: aioredis.Redis
) -> None:
    order = {"symbol": "BTCUSDT", "side": "BUY", "quantity": "0.0001"}
    await redis_client.xadd(names.control_stream, {"reason": "stale entry of an old run"})
    async with running_service(names, sqlite_url) as service, \
            Listener(names.results_channel) as results:
        assert not service.pipeline.kill_switch.active  # the old entry is not replayed
        await redis_client.xadd(names.control_stream, {"reason": "max drawdown"})
        await wait_for(lambda: _halted(service), what="kill switch engaged")
        await redis_client.xadd(names.orders_stream, order)
        [result] = await results.wait_count(1)
        assert result["status"] == "REJECTED"
        assert result["error_code"] == "KILL_SWITCH"
        assert "max drawdown" in result["error_message"]
    async with running_service(names, sqlite_url) as service:
        assert service.pipeline.kill_switch.active  # persisted across restart
        await service.pipeline.submit(_release())
    async with running_service(names, sqlite_url) as service, \
            Listener(names.results_channel) as results:
        assert not service.pipeline.kill_switch.active  # and the entries are not replayed
        await redis_client.xadd(names.orders_stream, order)
        [result] = await results.wait_count(1)
        assert result["status"] == "FILLED"


async def _halted(service: ExecutionService) -> bool:
    return service.pipeline.kill_switch.active


def _release() -> Envelope:
    return Envelope(Source.CONTROL, datetime.now(UTC), command=SetKillSwitch(False, "test"))


async def test_orders_stream_set_empty_disables_that_intake(names: Names, sqlite_url: str) -> None:
    async with running_service(names, sqlite_url, orders_stream="") as service:
        assert list(await service.intake_status()) == [names.journal_stream]


async def test_orders_channel_set_empty_disables_that_intake(names: Names, sqlite_url: str) -> None:
    async with running_service(names, sqlite_url, orders_channel="") as service:
        assert service.pubsub.channels == [names.market_data_channel.encode()]


async def test_redis_unreachable_is_not_fatal_and_rest_still_works(
    names: Names, sqlite_url: str
) -> None:
    dead = f"redis://127.0.0.1:{free_port()}/0"
    async with running_service(names, sqlite_url, wait_ready=False, redis_url=dead,
                               api_token="t0ken") as service:
        async with httpx.AsyncClient(base_url=base_url(service)) as http:
            ready = await http.get("/ready")
            assert ready.status_code == 503
            assert any("redis unreachable" in r for r in ready.json()["reasons"])
            status = (await http.get("/status")).json()
            assert status["redis"]["connected"] is False
            for _ in range(100):  # (until the state is loaded, orders answer 503)
                if service.health.started:
                    break
                await asyncio.sleep(0.05)
            placed = await http.post("/orders", headers={"Authorization": "Bearer t0ken"},
                                     content=SEED_ORDER)
            assert placed.status_code == 201
            assert placed.json()["status"] == "FILLED"
        assert await service.store.count_unsent() == 1  # published once Redis is back


async def test_write_conflicts_are_retried_until_the_batch_commits_never_quarantined(
    names: Names, sqlite_url: str, redis_client: aioredis.Redis
) -> None:
    """Another instance winning the race ten times in a row is contention, not a bad message."""
    await redis_client.xgroup_create(names.orders_stream, "execution-service", id="$",
                                     mkstream=True)
    async with running_service(names, sqlite_url, mock_success_rate=1.0) as service:
        session = service.writer.session
        lost = 0
        exclusive_asked: list[bool] = []

        @contextlib.asynccontextmanager
        async def contended(exclusive: bool = False) -> AsyncIterator[Session]:
            nonlocal lost
            exclusive_asked.append(exclusive)
            if lost < 10:
                lost += 1
                raise WriteConflict("balance of USDT changed meanwhile")
            async with session(exclusive) as real:
                yield real

        service.writer.session = contended  # type: ignore[method-assign]
        await redis_client.xadd(names.orders_stream, {
            "client_id": "contended", "symbol": "BTCUSDT", "side": "BUY", "quantity": "0.001"})
        # (Nothing is pending before the entry is read either: wait for the order first.)
        [order] = await wait_for(lambda: service.store.get_recent_orders(5),
                                 what="the order committed")
        await wait_for(lambda: _pending_is(redis_client, names.orders_stream, 0),
                       what="the entry acknowledged")
        assert (order.client_id, order.status.value) == ("contended", "FILLED")
        assert lost == 10
        # After three lost races the batch asks for the balances to itself.
        assert exclusive_asked[:11] == [False] * 3 + [True] * 8
        assert await service.store.count_rejected_messages() == 0


async def test_limit_orders_rest_fill_from_the_tape_and_equity_is_snapshotted(
    names: Names, sqlite_url: str, redis_client: aioredis.Redis
) -> None:
    async with running_service(names, sqlite_url, equity_interval_s=1,
                               initial_balances={"USDT": Decimal(10000)}) as service, \
            Listener(names.results_channel) as results:
        tick = {"symbol": "ETHUSDT", "price": "3000.00", "trade_qty": "5"}
        await redis_client.publish(names.market_data_channel, orjson.dumps(tick))
        await wait_for(lambda: _priced(service, "ETHUSDT", Decimal("3000.00")), what="live price")
        await redis_client.xadd(names.orders_stream, {
            "symbol": "ETHUSDT", "side": "BUY", "quantity": "1", "order_type": "LIMIT",
            "price": "2990", "client_id": "eth-bid"})
        [new] = await results.wait_count(1)
        assert (new["status"], new["limit_price"], new["time_in_force"]) == ("NEW", 2990, "GTC")
        await redis_client.publish(names.market_data_channel, orjson.dumps(
            {**tick, "price": "2989.99", "trade_qty": "0.4"}))
        await redis_client.publish(names.market_data_channel, orjson.dumps(
            {**tick, "price": "2985.00", "trade_qty": "2"}))
        updates = await results.wait_count(3)
        assert [(u["status"], u["filled_quantity"]) for u in updates] == [
            ("NEW", 0), ("PARTIALLY_FILLED", 0.4), ("FILLED", 1)]
        async with httpx.AsyncClient(base_url=base_url(service)) as http:
            async def snapshots() -> bool:
                return len((await http.get("/equity")).json()["snapshots"]) >= 2
            await wait_for(snapshots, what="two equity snapshots")
            equity = (await http.get("/equity")).json()
            positions = (await http.get("/positions")).json()
        # 10,000 - 2,990 - fee 2.99 = 7,007.01 USDT, and 1 ETH at the last price 2,985
        assert Decimal(str(equity["current"]["equity"])) == Decimal("7007.01") + Decimal("2985")
        assert equity["snapshots"][-1]["quote_asset"] == "USDT"
        assert [(p["symbol"], p["quantity"], p["avg_entry_price"]) for p in positions] == [
            ("ETHUSDT", 1, 2990)]


async def test_trades_beyond_the_tape_buffer_drop_the_oldest_and_are_counted(
    names: Names, sqlite_url: str
) -> None:
    async with running_service(names, sqlite_url, tape_buffer=100) as service:
        trades = [MarketTrade("BTCUSDT", Decimal(90000 + i), Decimal(1), i) for i in range(150)]
        service.pipeline.on_tape(trades)  # no await: the pipeline cannot drain meanwhile
        assert service.metrics.tape_dropped._value.get() == 50
        await wait_for(lambda: _priced(service, "BTCUSDT", Decimal(90149)), what="the last trade")
        async with httpx.AsyncClient(base_url=base_url(service)) as http:
            metrics = (await http.get("/metrics")).text
        assert "execution_tape_dropped_total 50.0" in metrics


async def test_without_a_feed_the_random_walk_makes_a_tape_that_fills_resting_orders(
    names: Names, sqlite_url: str
) -> None:
    # A bid and an ask 1.4 % either side of SOLUSDT's reference price of 140; walk steps of
    # 0.3 % every 50 ms leave that band within seconds, and the side it crosses fills.
    async with running_service(names, sqlite_url, random_seed=5, price_volatility_bps=30,
                               synthetic_tape_ms=50, api_token="t0ken",
                               initial_balances={"USDT": Decimal(10000), "SOL": Decimal(10)}
                               ) as service:
        async with httpx.AsyncClient(base_url=base_url(service),
                                     headers={"Authorization": "Bearer t0ken"}) as http:
            placed = {}
            for side, price in (("BUY", "138.00"), ("SELL", "142.00")):
                answer = (await http.post("/orders", json={
                    "symbol": "SOLUSDT", "side": side, "quantity": "1", "order_type": "LIMIT",
                    "price": price})).json()
                assert answer["status"] == "NEW"
                placed[side] = answer["order_id"]

            async def orders() -> list[dict[str, object]]:
                return [(await http.get(f"/orders/{order_id}")).json()
                        for order_id in placed.values()]

            async def one_filled() -> bool:
                return any(order["status"] == "FILLED" for order in await orders())
            await wait_for(one_filled, what="a fill from the synthetic tape")
            [filled] = [order for order in await orders() if order["status"] == "FILLED"]
        trades = filled["trades"]
        assert isinstance(trades, list)
        assert [(t["price"], t["liquidity"]) for t in trades] == [
            (138 if filled["side"] == "BUY" else 142, "maker")]


async def test_a_duplicate_this_process_never_saw_is_caught_by_the_unique_index(
    names: Names, database_url: str, redis_client: aioredis.Redis
) -> None:
    """Only keys this process stored lately are looked up before a batch; an order stored by
    another instance (or an earlier run) under the same client_id fails the unique index,
    and the batch runs again with every key looked up: a duplicate, never a second order."""
    async with running_service(names, database_url) as first:
        async with httpx.AsyncClient(base_url=base_url(first)) as http:
            await http.get("/health")
        await redis_client.xadd(names.orders_stream, {
            "symbol": "BTCUSDT", "side": "BUY", "quantity": "0.001", "client_id": "elsewhere"})
        await wait_for(lambda: _stats(first, "orders_received", 1), what="the first copy")
    async with running_service(names, database_url) as second:  # a fresh process: nothing seen
        await redis_client.xadd(names.orders_stream, {
            "symbol": "BTCUSDT", "side": "BUY", "quantity": "0.001", "client_id": "elsewhere"})
        await redis_client.xadd(names.orders_stream, {
            "symbol": "BTCUSDT", "side": "BUY", "quantity": "0.001", "client_id": "new-one"})
        await wait_for(lambda: _stats(second, "duplicates", 1), what="the duplicate")
        await wait_for(lambda: _stats(second, "orders_filled", 1), what="the new order")
        assert await second.store.count_orders() == 2
        assert await pending(redis_client, names.orders_stream) == 0


async def _stats(service: ExecutionService, name: str, value: int) -> bool:
    return bool(getattr(service.pipeline.stats, name) == value)


async def test_an_order_after_a_trade_is_priced_from_that_trade_on_every_intake(
    names: Names, sqlite_url: str, redis_client: aioredis.Redis
) -> None:
    # Each round sends a trade at a new level and, in the same round trip, an order: on
    # pub/sub (both read by the reader thread, the order journaled) and on the stream (read
    # by the event loop). The order came after the trade, so it fills at the trade's book.
    async with running_service(names, sqlite_url) as service, \
            Listener(names.results_channel) as results:
        sent: list[Decimal] = []
        for round_ in range(30):
            level = Decimal(50_000 + 1_000 * round_)
            tick = {"symbol": "BTCUSDT", "ts_ms": round_, "price": str(level), "side": "buy"}
            order = {"symbol": "BTCUSDT", "side": "BUY", "quantity": "0.001",
                     "client_id": f"stale-{round_}"}
            async with redis_client.pipeline(transaction=False) as pipe:
                pipe.publish(names.market_data_channel, orjson.dumps(tick))
                if round_ % 2:
                    pipe.xadd(names.orders_stream, order)
                else:
                    pipe.publish(names.orders_channel, orjson.dumps(order))
                await pipe.execute()
            sent.append(level)
            await results.wait_count(round_ + 1)
        fills = {r["client_id"]: Decimal(str(r["price"])) for r in await results.wait_count(30)}
        stale = [(round_, level, fills[f"stale-{round_}"]) for round_, level in enumerate(sent)
                 if not level <= fills[f"stale-{round_}"] <= level * Decimal("1.001")]
        assert stale == [], f"filled from an earlier trade: {stale}"
        assert service.pipeline.stats.orders_filled == 30


async def test_an_entry_redelivered_too_often_is_quarantined_unread_and_the_rest_execute(
    names: Names, sqlite_url: str, redis_client: aioredis.Redis
) -> None:
    """No crash loop: an entry that came back uncommitted MAX_DELIVERIES times (each time,
    say, it stopped the process) is kept in rejected_messages without being read again."""
    stream, group, me = names.orders_stream, "execution-service", "crashed-before"
    await redis_client.xgroup_create(stream, group, id="$", mkstream=True)
    poison = await redis_client.xadd(stream, {"symbol": "BTCUSDT", "side": "BUY",
                                              "quantity": "0.001", "client_id": "poison"})
    await redis_client.xreadgroup(group, me, {stream: ">"}, count=10)
    for _ in range(4):  # four restarts that read it again and died: delivered 5 times
        await redis_client.xreadgroup(group, me, {stream: "0"}, count=10)
    await redis_client.xadd(stream, {"symbol": "BTCUSDT", "side": "BUY", "quantity": "0.001",
                                     "client_id": "innocent"})
    await redis_client.xreadgroup(group, me, {stream: ">"}, count=10)  # delivered once
    async with running_service(names, sqlite_url, consumer_name=me, max_deliveries=5) as service:
        await wait_for(lambda: _pending_is(redis_client, stream, 0),
                       what="both entries acknowledged")
        [order] = await service.store.get_recent_orders(5)
        assert (order.client_id, order.status.value) == ("innocent", "FILLED")
        async with service.database.transaction() as conn:
            rows = (await conn.execute(select(tables.rejected_messages.c.intake_ref,
                                              tables.rejected_messages.c.reason))).all()
    assert [tuple(row) for row in rows] == [
        (f"{stream}:{poison.decode()}",
         "delivered 6 times without being committed; quarantined unread")]


async def test_a_part_that_fails_stops_the_service_and_names_it(
    names: Names, sqlite_url: str
) -> None:
    """Never half alive: the pipeline dying (a bug) stops the whole service by itself, so
    that the command line exits 1 (`service.failed`) and a supervisor restarts it."""
    service = ExecutionService(load_settings(
        redis_url=REDIS_URL, database_url=sqlite_url, http_host="127.0.0.1",
        http_port=free_port(), log_format="text", **names.settings()))

    async def broken() -> None:
        raise RuntimeError("a bug in the commit loop")

    service.pipeline.run = broken  # type: ignore[method-assign]
    await asyncio.wait_for(service.run(handle_signals=False), 15)
    assert service.failed == ["pipeline"]
