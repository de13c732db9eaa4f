"""Planning a batch: de-duplication, invalid input, cancels and the kill switch, without I/O."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import orjson
import pytest

from execution_service.bus.envelope import EntryRef, Envelope
from execution_service.domain.commands import SetKillSwitch
from execution_service.domain.orders import ErrorCode, Order, OrderStatus, Source
from execution_service.domain.states import IllegalTransition
from execution_service.engine.account import Amounts
from execution_service.pipeline.batch import BatchPlanner, KillSwitch, Plan, RecentKeys, decode, lookup_keys
from execution_service.pipeline.work import KeptInvalid
from tests.paper import make_exchange, tape

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)


def planner(balances: dict[str, str] | None = None) -> BatchPlanner:
    exchange = make_exchange(balances or {"USDT": "100000"}, seed=3)
    tape(exchange, "90000", quantity=None, when=NOW)
    return BatchPlanner(exchange)


def created(plan: Plan) -> list[Order]:
    return list(plan.work.effects.created.values())


def pubsub(document: object) -> Envelope:
    return Envelope(Source.PUBSUB, NOW, payload=orjson.dumps(document))


def stream(entry_id: str, **fields: str) -> Envelope:
    return Envelope(Source.STREAM, NOW, entry=EntryRef("stream.orders", entry_id),
                    payload={k.encode(): v.encode() for k, v in fields.items()})


def plan(envelopes: list[Envelope], stored: list[Order] | None = None,
         balances: dict[str, str] | None = None, kill_switch: KillSwitch | None = None) -> Plan:
    decoded = [(envelope, decode(envelope, 65536)) for envelope in envelopes]
    return planner(balances).plan(decoded, stored or [], kill_switch or KillSwitch(), NOW)


ORDER = {"symbol": "BTCUSDT", "side": "BUY", "quantity": "0.001", "client_id": "c-1"}


def test_plan_same_client_id_on_both_intakes_executes_once() -> None:
    result = plan([pubsub(ORDER), stream("1-0", **ORDER)])
    assert len(created(result)) == 1
    assert result.duplicates == 1
    assert [reply.outcome for _, reply in result.replies] == ["created", "duplicate"]
    assert result.replies[1][1].body["order_id"] == created(result)[0].order_id
    assert len(result.work.outbox) == 1  # the duplicate is answered, not published again
    assert result.acks == [EntryRef("stream.orders", "1-0")]


def test_plan_different_order_under_a_used_client_id_executes_on_its_own() -> None:
    # Upstream's client ids are made per second: two strategies' signals in one second.
    other = {**ORDER, "quantity": "0.002", "strategy_id": "s2"}
    result = plan([pubsub(ORDER), stream("1-0", **ORDER), pubsub(other), stream("2-0", **other)])
    orders = created(result)
    assert [(o.client_id, o.quantity) for o in orders] == [("c-1", Decimal("0.001")),
                                                            ("c-1", Decimal("0.002"))]
    assert [reply.outcome for _, reply in result.replies] == [
        "created", "duplicate", "created", "duplicate"]
    assert result.duplicates == 2
    assert sum(result.received.values()) == 2  # orders, each counted once
    assert sum(result.messages.values()) == 4  # messages, every copy
    assert len(result.work.outbox) == 2


def test_plan_different_order_under_a_stored_client_id_executes() -> None:
    first = plan([pubsub(ORDER)])
    again = plan([pubsub({**ORDER, "side": "SELL"})], stored=[created(first)[0]])
    assert [o.side.value for o in created(again)] == ["SELL"]


def test_plan_invalid_order_on_both_intakes_is_answered_once() -> None:
    bad = {**ORDER, "side": "HOLD"}
    result = plan([pubsub(bad), stream("3-0", **bad)])
    assert len(result.work.outbox) == 1
    rejection = result.work.outbox[0].result
    assert (rejection["client_id"], rejection["symbol"], rejection["side"], rejection["quantity"]) == (
        "c-1", "BTCUSDT", "HOLD", "0.001")
    assert len(result.work.rejected) == 1
    assert result.duplicates == 1
    assert result.rejected == {"INVALID_ORDER": 1}
    assert result.acks == [EntryRef("stream.orders", "3-0")]


def test_plan_invalid_order_kept_earlier_is_not_answered_again() -> None:
    bad = {**ORDER, "side": "HOLD"}
    first = plan([pubsub(bad)])
    kept = first.work.rejected[0]
    assert kept.fingerprint is not None
    decoded = [(envelope, decode(envelope, 65536)) for envelope in [stream("4-0", **bad)]]
    again = planner().plan(decoded, [], KillSwitch(), NOW,
                           KeptInvalid(answers={("c-1", kept.fingerprint)}))
    assert again.work.outbox == []
    assert again.work.rejected == []
    assert again.duplicates == 1


def test_plan_client_id_already_stored_is_a_duplicate() -> None:
    first = plan([pubsub(ORDER)])
    again = plan([stream("2-0", **ORDER)], stored=[created(first)[0]])
    assert created(again) == []
    assert again.duplicates == 1
    assert again.replies[0][1].body["order_id"] == created(first)[0].order_id


def test_plan_redelivered_stream_entry_without_client_id_is_a_duplicate() -> None:
    fields = {"symbol": "ETHUSDT", "side": "BUY", "quantity": "1"}
    first = plan([stream("5-0", **fields)])
    stored = created(first)[0]
    assert stored.intake_ref == "stream.orders:5-0"
    again = plan([stream("5-0", **fields)], stored=[stored])
    assert created(again) == []
    assert again.duplicates == 1
    assert again.acks == [EntryRef("stream.orders", "5-0")]


def test_plan_orders_without_keys_are_all_executed() -> None:
    fields = {"symbol": "ETHUSDT", "side": "BUY", "quantity": "1"}
    result = plan([pubsub(fields), pubsub(fields)])
    assert len(created(result)) == 2
    assert result.duplicates == 0


def test_plan_balances_carry_over_between_orders_of_one_batch() -> None:
    big = {"symbol": "BTCUSDT", "side": "BUY", "quantity": "0.6"}  # about 54,000 USDT each
    result = plan([pubsub(big), pubsub(big)])
    statuses = [o.status for o in created(result)]
    assert statuses == [OrderStatus.FILLED, OrderStatus.REJECTED]
    assert created(result)[1].error_code is ErrorCode.INSUFFICIENT_BALANCE
    changes = {change.asset: change for change in result.work.effects.balances}
    assert changes["USDT"].previous == Amounts(Decimal(100000))
    assert changes["BTC"].previous is None
    assert changes["BTC"].new == Amounts(Decimal("0.6"))


def test_plan_invalid_message_is_recorded_and_answered_when_client_id_readable() -> None:
    result = plan([pubsub({"symbol": "BTCUSDT", "side": "BUY", "quantity": -1, "client_id": "bad"}),
                   pubsub([1, 2, 3])])
    assert created(result) == []
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
    order = created(first)[0]
    result = plan([pubsub({"type": "cancel", "order_id": order.order_id}),
                   pubsub({"type": "cancel", "client_id": "nobody"})], stored=[order])
    assert [reply.outcome for _, reply in result.replies] == ["not_open", "not_found"]
    assert [m.result["error_code"] for m in result.work.outbox] == ["ORDER_NOT_OPEN", "UNKNOWN_ORDER"]


def test_plan_cancel_naming_an_account_finds_only_that_accounts_orders() -> None:
    limit = {**ORDER, "order_type": "LIMIT", "price": "80000"}
    result = plan([pubsub(limit),
                   pubsub({"type": "cancel", "client_id": "c-1", "account": "bot-b"}),
                   pubsub({"type": "cancel", "client_id": "c-1", "account": "default"})])
    assert [reply.outcome for _, reply in result.replies] == ["created", "not_found", "ok"]
    stored = created(result)[0]
    foreign = plan([pubsub({"type": "cancel", "order_id": stored.order_id, "account": "bot-b"})],
                   stored=[stored])
    assert [reply.body["error_message"] for _, reply in foreign.replies] == ["Unknown order sent."]


def test_an_orders_account_is_part_of_what_makes_a_copy_the_same_order() -> None:
    result = plan([pubsub({**ORDER, "account": "default"}), pubsub({**ORDER, "account": "bot-b"})])
    assert [reply.outcome for _, reply in result.replies] == ["created", "created"]
    assert [o.error_code for o in created(result)] == [None, ErrorCode.UNKNOWN_ACCOUNT]


def test_plan_kill_switch_applies_to_the_orders_after_it_in_the_batch() -> None:
    engage = Envelope(Source.CONTROL, NOW, command=SetKillSwitch(True, "drawdown", "9-0"))
    result = plan([pubsub({**ORDER, "client_id": "a"}), engage, pubsub({**ORDER, "client_id": "b"})])
    codes = [o.error_code for o in created(result)]
    assert codes == [None, ErrorCode.KILL_SWITCH]
    assert result.kill_switch.active
    assert result.kill_switch.reason == "drawdown"
    assert result.work.control["control_stream"] == {"last_id": "9-0"}


def test_plan_released_kill_switch_accepts_orders_again() -> None:
    release = Envelope(Source.CONTROL, NOW, command=SetKillSwitch(False, "released"))
    result = plan([release, pubsub(ORDER)], kill_switch=KillSwitch(True, "x", "t"))
    assert created(result)[0].status is OrderStatus.FILLED
    assert result.work.control["kill_switch"]["active"] is False


def test_lookup_keys_cover_client_ids_refs_and_cancel_targets() -> None:
    anonymous = {key: value for key, value in ORDER.items() if key != "client_id"}
    envelopes = [stream("1-0", **ORDER), stream("2-0", **anonymous),
                 pubsub({"type": "cancel", "order_id": "MOCK_x"})]
    decoded = [(e, decode(e, 65536)) for e in envelopes]
    # An order's client_id is its key; only an order without one is known by its entry.
    assert lookup_keys(decoded) == ({"c-1"}, {"stream.orders:2-0"}, {"MOCK_x"})


def test_a_transition_the_state_machine_refuses_is_counted_and_the_batch_goes_on(
        monkeypatch: pytest.MonkeyPatch) -> None:
    refusing = planner()
    submit = refusing.exchange.submit
    calls = []

    def refuse_first(*args: object) -> object:
        calls.append(args)
        if len(calls) == 1:
            raise IllegalTransition("MOCK_x", OrderStatus.FILLED, OrderStatus.NEW)
        return submit(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(refusing.exchange, "submit", refuse_first)
    envelopes = [pubsub({**ORDER, "client_id": "a"}), pubsub({**ORDER, "client_id": "b"})]
    result = refusing.plan([(e, decode(e, 65536)) for e in envelopes], [], KillSwitch(), NOW)
    assert result.illegal == 1
    assert [o.client_id for o in created(result)] == ["b"]


def test_only_keys_stored_lately_are_looked_up_and_cancel_targets_always() -> None:
    anonymous = {key: value for key, value in ORDER.items() if key != "client_id"}
    envelopes = [stream("1-0", **ORDER), stream("2-0", **anonymous),
                 pubsub({"type": "cancel", "client_id": "c-9"})]
    decoded = [(e, decode(e, 65536)) for e in envelopes]
    recent = RecentKeys(size=2)
    assert lookup_keys(decoded, recent) == ({"c-9"}, set(), set())
    first = plan(envelopes[:2])
    recent.add(created(first))  # c-1 and stream.orders:2-0: a full generation, rotated
    assert lookup_keys(decoded, recent) == ({"c-1", "c-9"}, {"stream.orders:2-0"}, set())
    recent.add([])
    recent.add(created(plan([pubsub({**ORDER, "client_id": "x"}),
                             pubsub({**ORDER, "client_id": "y"})])))
    assert "c-1" not in recent  # two generations later, forgotten (memory stays flat)
