"""The engine's events: every change to an order is one, and an order is their fold."""

from __future__ import annotations

from dataclasses import asdict
from datetime import timedelta
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from execution_service.domain.orders import OrderStatus, OrderType, Side, Source, TimeInForce
from execution_service.engine.events import Event, Intake, Received, replay
from execution_service.engine.exchange import Effects, PaperExchange
from execution_service.engine.latency import LatencyModel
from execution_service.engine.queue import QueueModel
from tests.paper import T0, make_exchange, order, submit, tape

BUY, SELL = Side.BUY, Side.SELL


def histories(effects: Effects) -> dict[str, list[Event]]:
    by_order: dict[str, list[Event]] = {}
    for event in effects.history:
        by_order.setdefault(event.order_id, []).append(event)
    return by_order


def test_a_resting_order_partly_filled_then_canceled_is_told_in_events() -> None:
    live = make_exchange({"USDT": "100000"})
    tape(live, "90000", quantity=None)
    live.begin()
    placed = submit(live, order(BUY, "0.5", OrderType.LIMIT, price="89000")).order
    tape(live, "88990", "0.2", when=T0 + timedelta(seconds=1))
    live.cancel(placed.order_id, T0 + timedelta(seconds=2))
    effects = live.end()

    names = [type(event).__name__ for event in histories(effects)[placed.order_id]]
    assert names == ["Received", "Reserved", "Accepted", "Filled", "Canceled", "Released"]
    # The status events are exactly the stored `order_events` rows, in order.
    assert [(row.seq, row.status) for row in effects.events] == [
        (1, OrderStatus.NEW), (2, OrderStatus.PARTIALLY_FILLED), (3, OrderStatus.CANCELED)]
    assert effects.events[1].detail == "0.20000 @ 89000, fee 17.80000000 USDT, maker"
    assert placed.working_at == T0  # Binance's workingTime: since it was accepted


def test_a_refused_order_keeps_its_reason_in_its_event_and_its_row() -> None:
    live = make_exchange({"USDT": "10"})
    tape(live, "90000", quantity=None)
    live.begin()
    refused = submit(live, order(BUY, "1")).order
    effects = live.end()
    rejected = histories(effects)[refused.order_id][-1]
    assert type(rejected).__name__ == "Rejected"
    assert effects.events[-1].detail == f"INSUFFICIENT_BALANCE: {refused.error_message}"
    assert replay(histories(effects)[refused.order_id]) == refused


_COMMANDS = st.lists(st.one_of(
    st.tuples(st.just("limit"), st.sampled_from([BUY, SELL]), st.integers(1, 40),
              st.integers(-30, 30), st.sampled_from([TimeInForce.GTC, TimeInForce.IOC])),
    st.tuples(st.just("market"), st.sampled_from([BUY, SELL]), st.integers(1, 40)),
    st.tuples(st.just("stop"), st.sampled_from([BUY, SELL]), st.integers(1, 40),
              st.integers(-30, 30)),
    st.tuples(st.just("oco"), st.sampled_from([BUY, SELL]), st.integers(1, 40),
              st.integers(5, 30)),
    st.tuples(st.just("otoco"), st.sampled_from([BUY, SELL]), st.integers(1, 40),
              st.integers(-10, 10), st.integers(5, 30)),
    st.tuples(st.just("trade"), st.integers(-40, 40), st.integers(0, 60)),
    st.tuples(st.just("cancel"), st.integers(0, 20)),
    st.tuples(st.just("wait"), st.integers(1, 400)),
), max_size=40)


@settings(max_examples=60, deadline=None)
@given(commands=_COMMANDS, delayed=st.booleans(), queued=st.booleans())
def test_replaying_any_orders_events_gives_back_its_state(
    commands: list[tuple], delayed: bool, queued: bool,  # type: ignore[type-arg]
) -> None:
    latency = LatencyModel(ack_ms=5.0, fill_ms=5.0, jitter_ms=2.0) if delayed else LatencyModel()
    live = make_exchange({"USDT": "10000000", "BTC": "100"}, latency=latency)
    if queued:
        live.rules = type(live.rules)(fees=live.rules.fees, latency=latency,
                                      queue=QueueModel("risk_averse"))
    tape(live, "90000", quantity=None)
    live.begin()
    placed: list[str] = []
    now = T0
    for command in commands:
        now += timedelta(milliseconds=10)
        live.advance(now)
        _run(live, command, placed, now)
    live.advance(now + timedelta(seconds=5))
    effects = live.end()

    orders = {**effects.created}
    for name, events in histories(effects).items():
        assert isinstance(events[0], Received)
        assert asdict(replay(events)) == asdict(orders[name])


def _run(live: PaperExchange, command: tuple, placed: list[str], now) -> None:  # type: ignore[type-arg, no-untyped-def]
    kind = command[0]
    if kind == "limit":
        _, side, size, offset, tif = command
        price = str(90000 + offset * 10)
        placed.append(submit(live, order(side, f"0.0{size:02d}", OrderType.LIMIT, price=price,
                                         tif=tif), now).order.order_id)
    elif kind == "market":
        _, side, size = command
        placed.append(submit(live, order(side, f"0.0{size:02d}"), now).order.order_id)
    elif kind == "stop":
        _, side, size, offset = command
        stop = str(90000 + offset * 10)
        placed.append(submit(live, order(side, f"0.0{size:02d}", OrderType.STOP_LOSS, stop=stop),
                             now).order.order_id)
    elif kind == "oco":  # a limit maker on the far side of the price, a stop on the near
        _, side, size, offset = command
        maker, stop = (90000 + offset * 10, 90000 - offset * 10)
        if side is BUY:
            maker, stop = stop, maker
        results = live.submit_list((order(side, f"0.0{size:02d}", OrderType.LIMIT_MAKER,
                                          price=str(maker)),
                                    order(side, f"0.0{size:02d}", OrderType.STOP_LOSS,
                                          stop=str(stop))), Intake(Source.STREAM, None, now))
        placed.extend(result.order.order_id for result in results)
    elif kind == "otoco":  # a limit near the price, then an OCO on the other side waits
        _, side, size, offset, spread = command
        working = 90000 + offset * 10
        maker, stop = (working + spread * 10, working - spread * 10)
        if side is SELL:
            maker, stop = stop, maker
        other = SELL if side is BUY else BUY
        results = live.submit_list((
            order(side, f"0.0{size:02d}", OrderType.LIMIT, price=str(working)),
            order(other, f"0.0{size:02d}", OrderType.LIMIT_MAKER, price=str(maker)),
            order(other, f"0.0{size:02d}", OrderType.STOP_LOSS, stop=str(stop))),
            Intake(Source.STREAM, None, now), pending=2)
        placed.extend(result.order.order_id for result in results)
    elif kind == "trade":
        _, offset, size = command
        tape(live, str(90000 + offset * 10), str(Decimal(size) / 100) if size else None, now)
    elif kind == "cancel" and placed:
        live.cancel(placed[command[1] % len(placed)], now)


def test_a_result_keeps_what_its_step_showed_when_the_order_changes_later_in_the_batch() -> None:
    live = make_exchange({"USDT": "100000"})
    tape(live, "90000", quantity=None)
    live.begin()
    rested = submit(live, order(BUY, "0.5", OrderType.LIMIT, price="89000"))
    [filled] = tape(live, "88990", "1", when=T0 + timedelta(seconds=1))
    quiet = submit(live, order(BUY, "0.001"))
    first, second, third = live.end().results
    assert (first.state.status, first.state.filled_quantity) == (OrderStatus.NEW, 0)
    assert (second.state.status, second.state.filled_quantity) == (OrderStatus.FILLED, Decimal("0.5"))
    assert [first, second, third] == [rested, filled, quiet]
    assert first.state is not first.order  # a copy, taken when the order changed
    assert third.state is third.order  # never changed again: no copy
