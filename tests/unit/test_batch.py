"""Planning a batch: de-duplication, invalid input, cancels and the kill switch, without I/O."""

from __future__ import annotations

import random
from datetime import UTC, datetime
from decimal import Decimal

import orjson

from execution_service.batch import BatchPlanner, KillSwitch, Plan, decode, lookup_keys
from execution_service.bus.envelope import EntryRef, Envelope
from execution_service.domain.commands import SetKillSwitch
from execution_service.domain.orders import ErrorCode, Order, OrderStatus, Source
from execution_service.engine.account import Account
from execution_service.engine.exchange import OrderFilled, PaperExchange
from execution_service.engine.models import FeeSchedule, SquareRootSlippage
from execution_service.engine.prices import REFERENCE_PRICES, MarketPrices

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)


def planner(account: Account | None = None) -> BatchPlanner:
    rng = random.Random(3)
    exchange = PaperExchange(MarketPrices(REFERENCE_PRICES, rng, Decimal(2), 60),
                             SquareRootSlippage(Decimal(1), Decimal(10), Decimal(10**6)),
                             FeeSchedule(Decimal("0.001"), Decimal("0.001")), 1.0, rng)
    return BatchPlanner(exchange, account or Account({"USDT": Decimal(100000)}))


def pubsub(document: object) -> Envelope:
    return Envelope(Source.PUBSUB, NOW, payload=orjson.dumps(document))


def stream(entry_id: str, **fields: str) -> Envelope:
    return Envelope(Source.STREAM, NOW, entry=EntryRef("stream.orders", entry_id),
                    payload={k.encode(): v.encode() for k, v in fields.items()})


def plan(envelopes: list[Envelope], stored: list[Order] | None = None,
         account: Account | None = None, kill_switch: KillSwitch | None = None) -> Plan:
    decoded = [(envelope, decode(envelope, 65536)) for envelope in envelopes]
    return planner(account).plan(decoded, stored or [], kill_switch or KillSwitch(), NOW)


ORDER = {"symbol": "BTCUSDT", "side": "BUY", "quantity": "0.001", "client_id": "c-1"}


def test_plan_same_client_id_on_both_intakes_executes_once() -> None:
    result = plan([pubsub(ORDER), stream("1-0", **ORDER)])
    assert len(result.work.executions) == 1
    assert result.duplicates == 1
    assert [reply.outcome for _, reply in result.replies] == ["created", "duplicate"]
    assert result.replies[1][1].body["order_id"] == result.work.executions[0].order.order_id
    assert len(result.work.outbox) == 1  # the duplicate is answered, not published again
    assert result.acks == [EntryRef("stream.orders", "1-0")]


def test_plan_client_id_already_stored_is_a_duplicate() -> None:
    first = plan([pubsub(ORDER)])
    again = plan([stream("2-0", **ORDER)], stored=[first.work.executions[0].order])
    assert again.work.executions == []
    assert again.duplicates == 1
    assert again.replies[0][1].body["order_id"] == first.work.executions[0].order.order_id


def test_plan_redelivered_stream_entry_without_client_id_is_a_duplicate() -> None:
    fields = {"symbol": "ETHUSDT", "side": "BUY", "quantity": "1"}
    first = plan([stream("5-0", **fields)])
    stored = first.work.executions[0].order
    assert stored.intake_ref == "stream.orders:5-0"
    again = plan([stream("5-0", **fields)], stored=[stored])
    assert again.work.executions == []
    assert again.duplicates == 1
    assert again.acks == [EntryRef("stream.orders", "5-0")]


def test_plan_orders_without_keys_are_all_executed() -> None:
    fields = {"symbol": "ETHUSDT", "side": "BUY", "quantity": "1"}
    result = plan([pubsub(fields), pubsub(fields)])
    assert len(result.work.executions) == 2
    assert result.duplicates == 0


def test_plan_balances_carry_over_between_orders_of_one_batch() -> None:
    big = {"symbol": "BTCUSDT", "side": "BUY", "quantity": "0.6"}  # about 54,000 USDT each
    result = plan([pubsub(big), pubsub(big)])
    statuses = [e.order.status for e in result.work.executions]
    assert statuses == [OrderStatus.FILLED, OrderStatus.REJECTED]
    assert result.work.executions[1].order.error_code is ErrorCode.INSUFFICIENT_BALANCE
    changes = {change.asset: change for change in result.work.balances}
    assert changes["USDT"].previous == Decimal(100000)
    assert changes["BTC"].previous is None
    assert changes["BTC"].new == Decimal("0.6")


def test_plan_invalid_message_is_recorded_and_answered_when_client_id_readable() -> None:
    result = plan([pubsub({"symbol": "BTCUSDT", "side": "BUY", "quantity": -1, "client_id": "bad"}),
                   pubsub([1, 2, 3])])
    assert result.work.executions == []
    assert [r.reason for r in result.work.rejected] == [
        "quantity must be greater than 0", "expected a JSON object, got list"]
    assert result.work.rejected[0].client_id == "bad"
    assert [m.result["client_id"] for m in result.work.outbox] == ["bad"]
    assert result.work.outbox[0].result["error_code"] == "INVALID_ORDER"
    assert result.rejected == {"INVALID_ORDER": 2}


def test_plan_oversized_message_is_rejected_and_stored_truncated() -> None:
    huge = b'{"symbol":"BTCUSDT","side":"BUY","quantity":1,"pad":"' + b"x" * 2_000_000 + b'"}'
    result = plan([Envelope(Source.PUBSUB, NOW, payload=huge)])
    rejected = result.work.rejected[0]
    assert "exceeds the limit" in rejected.reason
    assert rejected.payload_bytes == len(huge)
    assert len(rejected.payload) == 65536


def test_plan_cancel_of_filled_order_is_refused_and_unknown_is_not_found() -> None:
    first = plan([pubsub(ORDER)])
    order = first.work.executions[0].order
    result = plan([pubsub({"type": "cancel", "order_id": order.order_id}),
                   pubsub({"type": "cancel", "client_id": "nobody"})], stored=[order])
    assert [reply.outcome for _, reply in result.replies] == ["not_open", "not_found"]
    assert [m.result["error_code"] for m in result.work.outbox] == ["ORDER_NOT_OPEN", "UNKNOWN_ORDER"]


def test_plan_kill_switch_applies_to_the_orders_after_it_in_the_batch() -> None:
    engage = Envelope(Source.CONTROL, NOW, command=SetKillSwitch(True, "drawdown", "9-0"))
    result = plan([pubsub({**ORDER, "client_id": "a"}), engage, pubsub({**ORDER, "client_id": "b"})])
    codes = [e.order.error_code for e in result.work.executions]
    assert codes == [None, ErrorCode.KILL_SWITCH]
    assert result.kill_switch.active
    assert result.kill_switch.reason == "drawdown"
    assert result.work.control["control_stream"] == {"last_id": "9-0"}


def test_plan_released_kill_switch_accepts_orders_again() -> None:
    release = Envelope(Source.CONTROL, NOW, command=SetKillSwitch(False, "released"))
    result = plan([release, pubsub(ORDER)], kill_switch=KillSwitch(True, "x", "t"))
    assert isinstance(result.work.executions[0], OrderFilled)
    assert result.work.control["kill_switch"]["active"] is False


def test_lookup_keys_cover_client_ids_refs_and_cancel_targets() -> None:
    anonymous = {key: value for key, value in ORDER.items() if key != "client_id"}
    envelopes = [stream("1-0", **ORDER), stream("2-0", **anonymous),
                 pubsub({"type": "cancel", "order_id": "MOCK_x"})]
    decoded = [(e, decode(e, 65536)) for e in envelopes]
    # An order's client_id is its key; only an order without one is known by its entry.
    assert lookup_keys(decoded) == ({"c-1"}, {"stream.orders:2-0"}, {"MOCK_x"})
