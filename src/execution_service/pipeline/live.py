"""What each committed batch changed, pushed to whoever watches (the dashboard's server-sent
events), from memory: a viewer costs no database query.

After a commit the pipeline hands the feed the batch's results, fills, balances, positions,
equity snapshots and kill-switch changes (`events_of`); every subscriber gets them through
a bounded queue. A subscriber that falls that far behind is dropped (its stream ends) rather
than holding memory: a browser's EventSource reconnects and reloads.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator
from typing import Any

from execution_service.batch import KILL_SWITCH_KEY, Plan
from execution_service.engine.prices import MarketPrices

Event = tuple[str, dict[str, Any]]  # its kind (the SSE event name) and its data
_QUEUE = 1_000  # events a subscriber may be behind before it is dropped


class LiveFeed:
    def __init__(self) -> None:
        self._queues: set[asyncio.Queue[Event | None]] = set()

    @property
    def subscribers(self) -> int:
        return len(self._queues)

    def publish(self, events: list[Event]) -> None:
        for queue in list(self._queues):
            for event in events:
                try:
                    queue.put_nowait(event)
                except asyncio.QueueFull:
                    self._drop(queue)
                    break

    async def subscribe(self) -> AsyncGenerator[Event, None]:
        """Events from now on, until the subscriber falls behind or the feed closes."""
        queue: asyncio.Queue[Event | None] = asyncio.Queue(_QUEUE + 1)
        self._queues.add(queue)
        try:
            while (event := await queue.get()) is not None:
                yield event
        finally:
            self._queues.discard(queue)

    def close(self) -> None:
        for queue in list(self._queues):
            self._drop(queue)

    def _drop(self, queue: asyncio.Queue[Event | None]) -> None:
        self._queues.discard(queue)
        while not queue.empty():
            queue.get_nowait()
        queue.put_nowait(None)


def events_of(plan: Plan, prices: MarketPrices) -> list[Event]:
    """A committed batch as the dashboard's events, in the order they happened."""
    work, effects = plan.work, plan.work.effects
    events: list[Event] = [("order", m.result) for m in work.outbox]
    events += [("trade", {"trade_id": t.trade_id, "order_id": t.order_id,
                "symbol": t.symbol, "side": t.side.value, "quantity": t.quantity,
                "price": t.price, "fee": t.fee, "fee_asset": t.fee_asset,
                "slippage_bps": t.slippage_bps, "liquidity": t.liquidity.value,
                "executed_at": t.executed_at.isoformat(), "account": t.account})
               for t in effects.trades]
    events += [("balance", {"account": c.account, "asset": c.asset,
                            "free": c.new.free, "locked": c.new.locked})
               for c in effects.balances]
    for change in effects.positions:
        p = change.position
        last = prices.last(p.symbol)
        events.append(("position", {
            "account": p.account, "symbol": p.symbol, "quantity": p.quantity,
            "avg_entry_price": p.avg_entry_price, "realized_pnl": p.realized_pnl,
            "unrealized_pnl": p.unrealized(last), "fees": p.fees, "last_price": last,
            "quote_asset": p.quote_asset}))
    events += [("equity", {"account": s.account, "at": s.at.isoformat(),
                           "quote_asset": s.quote_asset, "equity": s.equity})
               for s in work.equity]
    if KILL_SWITCH_KEY in work.control:
        events.append(("kill_switch", dict(work.control[KILL_SWITCH_KEY])))
    return events
