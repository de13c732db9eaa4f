"""The wire contract (SPEC 4.1, 4.2): what becomes an order, what is refused, what goes out."""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime
from decimal import Decimal

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from execution_service.domain import codec
from execution_service.domain.commands import CancelOrder, SubmitOrder
from execution_service.domain.orders import Order, OrderStatus, OrderType, Side, Source, TimeInForce
from execution_service.errors import InvalidMessage


def submit(document: dict[str, object]) -> SubmitOrder:
    command = codec.decode_mapping(document)
    assert isinstance(command, SubmitOrder)
    return command


def test_decode_json_seed_test_order_is_a_market_buy() -> None:
    command = codec.decode_json(b'{"symbol":"BTCUSDT","side":"BUY","quantity":0.001}')
    assert command == SubmitOrder(symbol="BTCUSDT", side=Side.BUY, quantity=Decimal("0.001"),
                                  order_type=OrderType.MARKET)


@pytest.mark.parametrize("symbol", ["BTCUSDT", "BTC/USDT", "BTC_USDT", "btc/usdt", " BTC-USDT "])
def test_decode_symbol_spellings_mean_the_same_pair(symbol: str) -> None:
    assert submit({"symbol": symbol, "side": "buy", "quantity": 1}).symbol == "BTCUSDT"


def test_decode_quantity_float_keeps_its_decimal_text() -> None:
    # Decimal(0.1) would be 0.1000000000000000055511151231257827...
    assert submit({"symbol": "ETHUSDT", "side": "SELL", "quantity": 0.1}).quantity == Decimal("0.1")


@pytest.mark.parametrize("quantity", [0.00039603960396039607, "0.00039603960396039607"])
def test_decode_quantity_of_any_decimal_length_is_accepted_exactly(quantity: object) -> None:
    # The risk manager sizes `notional / price` as a float and sends it unrounded, as a JSON
    # number on pub/sub and as its repr() in a stream field: both are the same quantity.
    command = submit({"symbol": "BTCUSDT", "side": "BUY", "quantity": quantity})
    assert command.quantity == Decimal("0.00039603960396039607")


def test_decode_quantity_digits_beyond_any_step_are_cut_not_written_out() -> None:
    command = submit({"symbol": "BTCUSDT", "side": "BUY", "quantity": "1.5e-999"})
    assert command.quantity == 0
    assert command.quantity.as_tuple().exponent == -40


def test_decode_quantity_numeric_string_is_exact() -> None:
    assert submit({"symbol": "ETHUSDT", "side": "SELL", "quantity": "0.00000001"}).quantity == \
        Decimal("0.00000001")


def test_decode_client_order_id_is_an_alias_of_client_id() -> None:
    assert submit({"symbol": "ETHUSDT", "side": "SELL", "quantity": 1,
                   "client_order_id": "abc-1"}).client_id == "abc-1"


def test_decode_unknown_fields_are_kept_in_metadata_and_echo_fields_too() -> None:
    command = submit({"symbol": "ETHUSDT", "side": "SELL", "quantity": 1, "signal_id": "s-9",
                      "reason": "breakout", "stop_loss_pct": 0.02, "timestamp": 1700000000,
                      "venue_hint": {"a": 1}})
    assert command.metadata == {"venue_hint": {"a": 1}, "signal_id": "s-9", "reason": "breakout",
                                "stop_loss_pct": Decimal("0.02"), "client_timestamp": 1700000000}


@pytest.mark.parametrize(("document", "reason"), [
    ({"side": "BUY", "quantity": 1}, "symbol is required"),
    ({"symbol": "BTCUSDT", "quantity": 1}, "side is required"),
    ({"symbol": "BTCUSDT", "side": "HOLD", "quantity": 1}, "side must be BUY or SELL"),
    ({"symbol": "BTCUSDT", "side": "BUY"}, "quantity is required"),
    ({"symbol": "BTCUSDT", "side": "BUY", "quantity": 0}, "greater than 0"),
    ({"symbol": "BTCUSDT", "side": "BUY", "quantity": -1}, "greater than 0"),
    ({"symbol": "BTCUSDT", "side": "BUY", "quantity": "NaN"}, "is not a number"),
    ({"symbol": "BTCUSDT", "side": "BUY", "quantity": "Infinity"}, "is not a number"),
    ({"symbol": "BTCUSDT", "side": "BUY", "quantity": " 1"}, "is not a number"),
    ({"symbol": "BTCUSDT", "side": "BUY", "quantity": "1_000"}, "is not a number"),
    ({"symbol": "BTCUSDT", "side": "BUY", "quantity": "1e-9999"}, "is not a number"),
    ({"symbol": "BTCUSDT", "side": "BUY", "quantity": "1e400"}, "less than 1000000000000"),
    ({"symbol": "BTCUSDT", "side": "BUY", "quantity": "1e12"}, "less than 1000000000000"),
    ({"symbol": "BTCUSDT", "side": "BUY", "quantity": True}, "must be a number"),
    ({"symbol": "BTCUSDT", "side": "BUY", "quantity": [1]}, "must be a number"),
    ({"symbol": "BTCUSDT", "side": "BUY", "quantity": "abc"}, "is not a number"),
    ({"symbol": "BTC USDT!", "side": "BUY", "quantity": 1}, "not a trading pair"),
    ({"symbol": 42.5, "side": "BUY", "quantity": 1}, "must be a string"),
    ({"symbol": "BTCUSDT", "side": "BUY", "quantity": 1, "order_type": "OCO"}, "is not one of"),
    ({"symbol": "BTCUSDT", "side": "BUY", "quantity": 1, "order_type": "LIMIT"},
     "price is required for LIMIT orders"),
    ({"symbol": "BTCUSDT", "side": "BUY", "quantity": 1, "order_type": "STOP_LOSS"},
     "stop_price is required for STOP_LOSS orders"),
    ({"symbol": "BTCUSDT", "side": "BUY", "quantity": 1, "order_type": "LIMIT", "price": 1,
      "time_in_force": "GTX"}, "time_in_force must be GTC, IOC or FOK"),
    ({"symbol": "BTCUSDT", "side": "BUY", "quantity": 1, "order_type": "LIMIT_MAKER",
      "price": 1, "time_in_force": "IOC"}, "can only be GTC"),
    ({"symbol": "BTCUSDT", "side": "BUY", "quantity": 1, "order_type": "LIMIT", "price": 0},
     "price must be greater than 0"),
    ({"symbol": "BTCUSDT", "side": "BUY", "quantity": 1, "order_type": "LIMIT", "price": 1,
      "expire_at": "tomorrow"}, "is not a time"),
    ({"symbol": "BTCUSDT", "side": "BUY", "quantity": 1, "type": "modify"}, "type must be"),
    ({"type": "cancel"}, "needs order_id or client_id"),
])
def test_decode_invalid_orders_are_refused_with_a_reason(document: dict[str, object],
                                                          reason: str) -> None:
    with pytest.raises(InvalidMessage, match=reason):
        codec.decode_mapping(document)


def test_decode_invalid_order_still_reports_a_readable_client_id() -> None:
    with pytest.raises(InvalidMessage) as raised:
        codec.decode_mapping({"symbol": "BTCUSDT", "side": "BUY", "quantity": -1, "client_id": "c1"})
    assert raised.value.client_id == "c1"


@pytest.mark.parametrize("client_id", ["x" * 65, "tab\there", 3.5, ["a"]])
def test_decode_unusable_client_id_is_refused(client_id: object) -> None:
    with pytest.raises(InvalidMessage, match="client_id"):
        codec.decode_mapping({"symbol": "BTCUSDT", "side": "BUY", "quantity": 1,
                              "client_id": client_id})


@pytest.mark.parametrize("raw", [b"", b"not json", b"[1,2]", b'"text"', b"\xff\xfe{}", b"NaN",
                                 b'{"quantity": NaN}'])
def test_decode_json_non_objects_are_invalid(raw: bytes) -> None:
    with pytest.raises(InvalidMessage):
        codec.decode_json(raw)


def test_decode_stream_flat_fields_as_the_risk_manager_writes_them() -> None:
    command = codec.decode_stream_fields({b"symbol": b"BTC/USDT", b"side": b"sell",
                                          b"quantity": b"0.25", b"client_id": b"rm-7",
                                          b"strategy_id": b"momo"})
    assert command == SubmitOrder(symbol="BTCUSDT", side=Side.SELL, quantity=Decimal("0.25"),
                                  client_id="rm-7", strategy_id="momo",
                                  fingerprint=codec.fingerprint({"symbol": "BTC/USDT",
                                                                 "side": "sell", "quantity": 0.25,
                                                                 "strategy_id": "momo"}))


# What upstream's risk manager sends for one order: the JSON on pub/sub `orders`, and the same
# dict through redis-py's XADD on `stream.orders` (every value its str()/repr(), None dropped).
RISK_ORDER: dict[str, object] = {
    "type": "order", "symbol": "BTCUSDT", "side": "BUY", "quantity": 0.00039603960396039607,
    "stop_loss_pct": 0.02, "signal_id": 1764583000, "reason": "momentum", "timestamp": 1764583000,
    "strategy_id": "paper", "client_id": "BTCUSDT-1764583000", "price": 50500.0}


def as_stream_entry(document: dict[str, object]) -> dict[bytes, bytes]:
    return {key.encode(): (repr(value) if isinstance(value, float) else str(value)).encode()
            for key, value in document.items() if value is not None}


def test_fingerprint_of_one_order_is_the_same_on_both_intakes() -> None:
    from_pubsub = codec.decode_json(orjson.dumps(RISK_ORDER))
    from_stream = codec.decode_stream_fields(as_stream_entry(RISK_ORDER))
    assert isinstance(from_pubsub, SubmitOrder)
    assert isinstance(from_stream, SubmitOrder)
    assert from_pubsub.fingerprint == from_stream.fingerprint is not None


@pytest.mark.parametrize("change", [{"strategy_id": "momentum-2"},
                                    {"quantity": 0.00039215686274509805}, {"side": "SELL"}])
def test_fingerprint_tells_two_orders_under_one_client_id_apart(change: dict[str, object]) -> None:
    # Client ids made per second: two signals in one second give one client_id, two orders.
    assert codec.fingerprint(RISK_ORDER) != codec.fingerprint({**RISK_ORDER, **change})


@pytest.mark.parametrize("change", [{"timestamp": 1764583009}, {"quantity": "0.000396039603960396070"},
                                    {"bot_id": None}, {"client_order_id": "other"}])
def test_fingerprint_ignores_restamping_spelling_and_absent_fields(change: dict[str, object]) -> None:
    assert codec.fingerprint(RISK_ORDER) == codec.fingerprint({**RISK_ORDER, **change})


def test_invalid_order_carries_what_could_be_read_and_its_fingerprint() -> None:
    document = {**RISK_ORDER, "side": "hold", "symbol": "eth/usdt"}
    with pytest.raises(InvalidMessage) as raised:
        codec.decode_mapping(document)
    invalid = raised.value
    assert invalid.fields == {"symbol": "ETHUSDT", "side": "HOLD",
                              "quantity": 0.00039603960396039607, "strategy_id": "paper"}
    assert invalid.fingerprint == codec.fingerprint(document)
    result = codec.invalid_result(invalid, 1764583000123)
    assert (result["status"], result["error_code"], result["symbol"]) == (
        "REJECTED", "INVALID_ORDER", "ETHUSDT")
    assert "order_id" not in codec.stream_fields(result)


def test_decode_stream_single_data_field_holds_json() -> None:
    command = codec.decode_stream_fields(
        {b"data": b'{"symbol":"BTCUSDT","side":"BUY","quantity":"2"}'})
    assert isinstance(command, SubmitOrder)
    assert command.quantity == Decimal(2)


def test_decode_stream_non_utf8_fields_are_invalid() -> None:
    with pytest.raises(InvalidMessage, match="UTF-8"):
        codec.decode_stream_fields({b"symbol": b"\xff", b"side": b"BUY", b"quantity": b"1"})


def test_decode_cancel_by_order_id_or_client_id() -> None:
    assert codec.decode_mapping({"type": "cancel", "order_id": "MOCK_1"}) == \
        CancelOrder(order_id="MOCK_1")
    assert codec.decode_mapping({"type": "CANCEL", "client_id": "c"}) == CancelOrder(client_id="c")


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.floats(allow_nan=False)
    | st.text(),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(), children,
                                                                       max_size=3),
    max_leaves=10)
order_like = st.fixed_dictionaries({}, optional={
    "symbol": json_values | st.sampled_from(["BTCUSDT", "ETH/USDT", "x"]),
    "side": json_values | st.sampled_from(["BUY", "sell"]),
    "quantity": json_values | st.sampled_from(["1", "-0", "1e-9", "0.5"]),
    "client_id": json_values,
    "type": json_values | st.just("cancel"),
    "order_id": json_values,
    "price": json_values,
})


@given(order_like)
def test_decode_any_json_object_yields_a_command_or_invalid_message(document: dict[str, object]) -> None:
    raw = orjson.dumps(document)
    outcome: object
    try:
        outcome = codec.decode_json(raw)
    except InvalidMessage as invalid:
        outcome = invalid
    assert isinstance(outcome, SubmitOrder | CancelOrder) or (
        isinstance(outcome, InvalidMessage) and outcome.reason)


@given(st.binary(max_size=200))
def test_decode_any_bytes_yields_a_command_or_invalid_message(raw: bytes) -> None:
    with contextlib.suppress(InvalidMessage):
        codec.decode_json(raw)


def filled_order() -> Order:
    at = datetime(2026, 1, 2, 3, 4, 5, 678000, tzinfo=UTC)
    return Order(order_id="MOCK_ab", client_id="c1", symbol="BTCUSDT", side=Side.BUY,
                 order_type=OrderType.MARKET, quantity=Decimal("0.001000000000000000"), price=None,
                 status=OrderStatus.FILLED, source=Source.PUBSUB, created_at=at, updated_at=at,
                 filled_quantity=Decimal("0.001"), avg_fill_price=Decimal("90009.12345678"),
                 fee=Decimal("0.09000913"), fee_asset="USDT", slippage_bps=Decimal("1.0100"),
                 strategy_id="s", metadata={"signal_id": "sig"})


def test_order_result_has_the_pipeline_fields_with_exact_numbers() -> None:
    result = orjson.loads(codec.dumps(codec.order_result(filled_order(), 1767323045678)))
    assert result == {
        "type": "order_result", "order_id": "MOCK_ab", "client_id": "c1", "status": "FILLED",
        "symbol": "BTCUSDT", "side": "BUY", "order_type": "MARKET", "quantity": 0.001,
        "filled_quantity": 0.001, "price": 90009.12345678, "fee": 0.09000913,
        "fees": 0.09000913, "fee_asset": "USDT", "slippage_bps": 1.01, "timestamp": 1767323045,
        "event_time_ms": 1767323045678, "strategy_id": "s", "bot_id": None, "source": "pubsub",
        "account": "default", "error_code": None, "error_message": None, "signal_id": "sig"}
    assert b'"price":90009.12345678' in codec.dumps(codec.order_result(filled_order(), 0))


def test_stream_fields_are_strings_with_aliases_and_no_empty_fields() -> None:
    fields = codec.stream_fields(codec.order_result(filled_order(), 1767323045678))
    assert fields["filled_size"] == fields["filled_quantity"] == "0.001"
    assert fields["avg_fill_price"] == fields["price"] == "90009.12345678"
    assert fields["fees"] == fields["fee"] == "0.09000913"
    # Null fields are left out, as upstream's execution service left them out.
    assert "bot_id" not in fields
    assert "error_code" not in fields
    assert all(isinstance(value, str) and value for value in fields.values())


def test_plain_writes_decimals_without_exponent_or_trailing_zeros() -> None:
    assert codec.plain(Decimal("1E+3")) == "1000"
    assert codec.plain(Decimal("0.000000010000")) == "0.00000001"
    assert codec.plain(Decimal("0E-18")) == "0"


def test_decode_limit_and_stop_orders_with_time_in_force_and_expiry() -> None:
    command = codec.decode_json(b'{"symbol":"BTC/USDT","side":"sell","quantity":"0.5",'
                                b'"order_type":"stop_loss_limit","price":"89000.5",'
                                b'"stop_price":89100,"time_in_force":"ioc",'
                                b'"expire_at":"2026-11-25T00:00:00+01:00"}')
    assert isinstance(command, SubmitOrder)
    assert (command.order_type, command.price, command.stop_price, command.time_in_force) == (
        OrderType.STOP_LOSS_LIMIT, Decimal("89000.5"), Decimal("89100"), TimeInForce.IOC)
    assert command.expire_at == datetime(2026, 11, 24, 23, 0, tzinfo=UTC)
    by_ms = codec.decode_mapping({"symbol": "BTCUSDT", "side": "BUY", "quantity": 1,
                                  "order_type": "LIMIT", "price": 1, "expire_at": 1795521600000})
    assert isinstance(by_ms, SubmitOrder)
    assert by_ms.expire_at == datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
    assert by_ms.time_in_force is None  # the exchange makes it GTC
    market = codec.decode_mapping({"symbol": "BTCUSDT", "side": "BUY", "quantity": 1,
                                   "time_in_force": "FOK", "stop_price": 5})
    assert isinstance(market, SubmitOrder)
    assert (market.time_in_force, market.stop_price) == (None, None)  # not for market orders


def test_integers_beyond_64_bits_are_written_exactly() -> None:
    # A decimal written from a sender's metadata reads back as an integer of any size.
    big = 10**30 + 7
    assert codec.dumps({"note": big, "list": [-big], "small": 5}) == (
        f'{{"note":{big},"list":[-{big}],"small":5}}'.encode())


def test_ids_are_integers_a_float_holds_exactly() -> None:
    document = {"symbol": "BTCUSDT", "side": "BUY", "quantity": 1}
    assert codec.decode_mapping({**document, "client_id": 4727.0}).client_id == "4727"
    with pytest.raises(InvalidMessage, match="client_id must be a string"):
        codec.decode_mapping({**document, "client_id": 2.0**53})
