"""Whatever an intake message holds, decoding it yields a command or an invalid-message
rejection, in bounded time and memory, and the command it yields can be stored and
published: hostile numbers (huge exponents, non-ASCII digits, thousands of digits), deep
nesting, wrong types, any bytes in a stream entry's fields."""

from __future__ import annotations

import time
import tracemalloc
from datetime import UTC, datetime

import orjson
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from execution_service.bus.envelope import EntryRef, Envelope
from execution_service.domain import codec
from execution_service.domain.commands import CancelOrder, SubmitOrder
from execution_service.domain.orders import Source
from execution_service.errors import InvalidMessage
from execution_service.pipeline.batch import decode

NOW = datetime(2026, 12, 5, tzinfo=UTC)
LIMIT = 65_536

digits = st.sampled_from("0123456789") | st.sampled_from("²³¹١٢٣४५๖𝟗０９")
number_texts = st.builds(
    lambda sign, whole, point, fraction, marker, exponent: (
        f"{sign}{whole}{point}{fraction}{marker}{exponent}"),
    st.sampled_from(["", "-", "+"]),
    st.text(digits, min_size=1, max_size=30) | st.just("9" * 5000),
    st.sampled_from(["", "."]),
    st.text(digits, max_size=30),
    st.sampled_from(["", "e", "E", "e-", "e+"]),
    st.sampled_from(["", "0"]) | st.integers(0, 10**12).map(str))
scalars = (number_texts | st.sampled_from(["NaN", "Infinity", "-inf", "1_000", " 1 ", "0x10"])
           | st.integers(-(2**70), 2**70) | st.floats(allow_nan=False, allow_infinity=False)
           | st.booleans() | st.none() | st.text(max_size=20))


def nested(depth: int, leaf: object) -> object:
    for _ in range(depth):
        leaf = [leaf] if depth % 2 else {"k": leaf}
    return leaf


values = scalars | st.builds(nested, st.integers(1, 400), scalars) | st.recursive(
    scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5),
                                                                          inner, max_size=4),
    max_leaves=12)
field_names = st.sampled_from(["symbol", "side", "quantity", "client_id", "type", "order_type",
                               "price", "stop_price", "time_in_force", "expire_at", "account",
                               "order_id", "stop_loss_pct", "timestamp", "strategy_id"]) \
    | st.text(max_size=12)
orders = st.fixed_dictionaries(
    {"symbol": st.just("BTCUSDT"), "side": st.just("BUY"), "quantity": st.just("0.001"),
     "client_id": st.just("c1")},
).flatmap(lambda base: st.dictionaries(field_names, values, max_size=12).map(
    lambda extra: {**base, **extra}))


def outcome_of(envelope: Envelope) -> object:
    """Decode as the pipeline does, timing it and tracing its memory."""
    tracemalloc.start()
    started = time.perf_counter()
    try:
        command = decode(envelope, LIMIT)
        elapsed = time.perf_counter() - started
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert elapsed < 0.5, f"decoding took {elapsed:.3f} s"
    assert peak < 2_000_000, f"decoding a message took {peak} bytes"
    assert isinstance(command, SubmitOrder | CancelOrder | InvalidMessage)
    if isinstance(command, SubmitOrder):  # what is kept can be stored and published
        codec.dumps(command.metadata)
    return command


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(orders)
@example({"symbol": "BTCUSDT", "side": "BUY", "quantity": "0.001", "client_id": "p1",
          "x": "1e9999999"})
@example({"symbol": "BTCUSDT", "side": "BUY", "quantity": "0.001", "client_id": "p1",
          **{f"f{i}": "1e999999" for i in range(400)}})
@example({"symbol": "BTCUSDT", "side": "BUY", "quantity": "0.001", "client_id": "p1",
          "metadata": nested(300, 1)})
@example({"symbol": "BTCUSDT", "side": "BUY", "quantity": "²", "client_id": "p1",
          "expire_at": "²", "price": "1e999999"})
def test_any_json_order_decodes_to_a_command_or_a_rejection(document: dict[str, object]) -> None:
    try:
        raw = orjson.dumps(document)
    except TypeError:  # beyond JSON (a 70-bit integer): the same fields as a stream entry
        raw = b""
    if raw:
        outcome_of(Envelope(Source.PUBSUB, NOW, payload=raw))
    fields = {key.encode(): str(value).encode() for key, value in document.items()}
    outcome_of(Envelope(Source.STREAM, NOW, entry=EntryRef("stream.orders", "1-0"),
                        payload=fields))


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.binary(max_size=12), st.binary(max_size=64), max_size=10))
def test_any_stream_entry_decodes_to_a_command_or_a_rejection(fields: dict[bytes, bytes]) -> None:
    outcome_of(Envelope(Source.STREAM, NOW, entry=EntryRef("stream.orders", "1-0"),
                        payload=fields))


def test_a_huge_exponent_outside_the_known_fields_is_kept_as_text() -> None:
    command = codec.decode_mapping({"symbol": "BTCUSDT", "side": "BUY", "quantity": "0.001",
                                    "client_id": "p1", "x": "1e9999999"})
    assert isinstance(command, SubmitOrder)
    assert command.metadata == {"x": "1e9999999"}


def test_fingerprints_compare_numbers_by_value_without_writing_them_out() -> None:
    base = {"symbol": "BTCUSDT", "side": "BUY", "quantity": "0.001", "client_id": "p1"}
    same = [codec.fingerprint({**base, "x": text}) for text in ("1e999", "10e998", "1.000E999")]
    assert len(set(same)) == 1
    assert codec.fingerprint({**base, "x": "1e999"}) != codec.fingerprint({**base, "x": "1e998"})


def test_nesting_to_the_limit_is_kept_and_beyond_it_refused() -> None:
    base = {"symbol": "BTCUSDT", "side": "BUY", "quantity": "0.001", "client_id": "p1"}
    deepest = nested(codec.MAX_NESTING, 1)
    assert isinstance(codec.decode_mapping({**base, "m": deepest}), SubmitOrder)
    with pytest.raises(InvalidMessage, match="nested deeper than 16 levels") as refused:
        codec.decode_mapping({**base, "m": [deepest]})
    assert refused.value.client_id == "p1"
