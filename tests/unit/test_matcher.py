"""Two instances on one database: only the lease's holder matches the tape, and it takes
the resting orders the other accepted."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import orjson

from execution_service.domain.commands import MarketTrade
from execution_service.domain.orders import OrderStatus, Side
from execution_service.pipeline import rest_envelope
from execution_service.pipeline.loop import ADOPT_INTERVAL_S
from tests.unit.test_pipeline import Rig, until


class Lease:
    def __init__(self, held: bool) -> None:
        self.is_held = held
        self.holder: str | None = None

    def held(self) -> bool:
        return self.is_held


def bid(client_id: str) -> bytes:
    return orjson.dumps({"symbol": "BTCUSDT", "side": "BUY", "quantity": "0.01",
                         "order_type": "LIMIT", "price": "89000", "client_id": client_id})


async def test_only_the_holder_fills_from_the_tape_and_it_adopts_the_others_orders() -> None:
    holder_lease, other_lease = Lease(True), Lease(False)
    holder = Rig(lease=holder_lease)
    other = Rig(store=holder.store, lease=other_lease)
    async with holder.running(), other.running():
        for rig, name in ((holder, "at-holder"), (other, "at-other")):
            reply = await rig.pipeline.submit(rest_envelope(bid(name), rig.clock.now()))
            assert reply.body["status"] == "NEW", reply.body
        # Within ADOPT_INTERVAL_S the holder holds the other's order too.
        holder.clock.advance(ADOPT_INTERVAL_S)
        holder.pipeline.inbox.wake()
        await until(lambda: len(holder.exchange.open_orders()) == 2)

        # A trade through both bids for 0.015: the holder fills 0.015 of the 0.02, once.
        trade = MarketTrade("BTCUSDT", Decimal(88_000), Decimal("0.015"), 0, aggressor=Side.SELL)
        for rig in (holder, other):
            rig.pipeline.on_tape([trade])
        await until(lambda: sum(t.quantity for t in holder.store.trades) == Decimal("0.015"))
        await asyncio.sleep(0.05)  # the other instance has handled the trade too, by now
    assert sum(t.quantity for t in holder.store.trades) == Decimal("0.015")
    statuses = sorted(order.status for order in holder.store.orders.values())
    assert statuses == [OrderStatus.FILLED, OrderStatus.PARTIALLY_FILLED]


async def test_an_instance_that_becomes_the_holder_takes_every_open_order_first() -> None:
    dead = Rig(lease=Lease(True))
    lease = Lease(False)
    heir = Rig(store=dead.store, lease=lease)
    async with dead.running():
        reply = await dead.pipeline.submit(rest_envelope(bid("left-behind"), dead.clock.now()))
        assert reply.body["status"] == "NEW"
    async with heir.running():
        trade = MarketTrade("BTCUSDT", Decimal(88_000), Decimal(1), 0, aggressor=Side.SELL)
        heir.pipeline.on_tape([trade])  # not the holder yet: fills nothing
        await asyncio.sleep(0.05)
        assert heir.store.trades == []
        lease.is_held = True  # the dead holder's lease ran out, this one took it
        heir.pipeline.on_tape([trade])
        await until(lambda: len(heir.store.trades) == 1)
    [order] = heir.store.orders.values()
    assert (order.client_id, order.status) == ("left-behind", OrderStatus.FILLED)
