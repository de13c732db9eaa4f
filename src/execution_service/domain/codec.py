"""The wire <-> domain codec.

Inbound (SPEC 4.1): a JSON object (pub/sub, REST, or a stream entry's `data` field) or a
stream entry's flat string fields become a `SubmitOrder` or `CancelOrder`; anything else
raises `InvalidMessage`. Outbound (SPEC 4.2): an `Order` becomes the `order_result`
message, as JSON for pub/sub and as flat string fields for `stream.fills`.

Decimals travel exactly: inbound numbers are read through their text, outbound numbers
are written from the `Decimal` digits (never through a float).
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import ROUND_DOWN, Context, Decimal, InvalidOperation
from typing import Any

import orjson

from execution_service.domain.commands import CancelOrder, SubmitOrder
from execution_service.domain.orders import (
    DEFAULT_ACCOUNT,
    REQUESTED_QUANTITY,
    Order,
    OrderType,
    Side,
    TimeInForce,
    Trade,
)
from execution_service.domain.symbols import normalize_symbol
from execution_service.domain.wire import Fill, OrderFields, OrderResult
from execution_service.errors import InvalidMessage

MAX_CLIENT_ID_LENGTH = 64
MAX_TEXT_LENGTH = 256
MAX_QUANTITY = Decimal("1e12")
MAX_EPOCH_MS = 99_999_999_999_999  # epoch milliseconds: the year 5138
MAX_NESTING = 16  # arrays and objects within a field (metadata)
# Finer than any exchange's step: digits beyond it cannot change a quantity rounded down to
# a step, and an exponent like 1e-999999 would otherwise be written out in full.
_FINEST_QUANTITY = Decimal("1e-40")
_WIDE = Context(prec=60)  # every digit of a quantity up to MAX_QUANTITY at that fineness
_ECHOED = ("signal_id", "reason", "stop_loss_pct")
# Echoed in results from the order's metadata where present.
_ECHOED_METADATA = (*_ECHOED, "client_timestamp", REQUESTED_QUANTITY)
_KNOWN = {"symbol", "side", "quantity", "client_id", "client_order_id", "type", "order_type",
          "price", "strategy_id", "bot_id", *_ECHOED, "timestamp", "time_in_force",
          "stop_price", "expire_at", "account"}
ACCOUNT_NAME = re.compile(r"[A-Za-z0-9_.-]{1,64}")
# What the codec reads as text (and the OpenAPI document says, from these same patterns):
# a decimal as `str(float)` writes one, a pair with at most one separator, a time.
# Unambiguous (a run of digits splits one way only: no backtracking on 5,000 digits), and
# compiled ASCII-only: Python's \d would take Arabic-Indic and other digits, Decimal too.
NUMBER_TEXT = r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d{1,3})?"
SYMBOL_TEXT = r"[ \t]*([A-Za-z0-9]{2,20}|[A-Za-z0-9]{1,10}[/_:-][A-Za-z0-9]{1,10})[ \t]*"
TIME_TEXT = (r"\d{1,14}|[12]\d{3}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])"
             r"([T ]([01]\d|2[0-3]):[0-5]\d(:[0-5]\d(\.\d{1,6})?)?(Z|[+-]([01]\d|2[0-3]):[0-5]\d)?)?")
_NUMBER, _SYMBOL, _TIME = (re.compile(text, re.ASCII) for text in (NUMBER_TEXT, SYMBOL_TEXT, TIME_TEXT))
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")

InboundCommand = SubmitOrder | CancelOrder


# Inbound


def decode_json(raw: bytes | str) -> InboundCommand:
    """Decode a JSON object payload (pub/sub message, REST body, stream `data` field)."""
    try:
        document = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise InvalidMessage(f"not valid UTF-8 JSON: {exc}") from None
    if not isinstance(document, dict):
        raise InvalidMessage(f"expected a JSON object, got {type(document).__name__}")
    return decode_mapping(document)


def decode_stream_fields(fields: Mapping[bytes, bytes]) -> InboundCommand:
    """Decode a stream entry: flat string fields, or a single `data` field holding JSON."""
    if set(fields) == {b"data"}:
        return decode_json(fields[b"data"])
    try:
        document = {key.decode(): value.decode() for key, value in fields.items()}
    except UnicodeDecodeError:
        raise InvalidMessage("stream entry fields are not valid UTF-8") from None
    return decode_mapping(document)


def decode_mapping(document: Mapping[str, Any]) -> InboundCommand:
    """Validate one order or cancel object as the pipeline sends it."""
    client_id = _client_id(document)
    try:
        _check_nesting(document)
        kind = _optional_text(document, "type")
        if kind is not None and kind.lower() == "cancel":
            return _cancel(document, client_id)
        if kind is not None and kind.lower() != "order":
            raise ValueError(f"type must be 'order' or 'cancel', got {kind!r}")
        return _submit(document, client_id)
    except ValueError as exc:
        raise InvalidMessage(str(exc), client_id, fingerprint(document) if client_id else None,
                             _readable(document)) from None


def _check_nesting(document: Mapping[str, Any]) -> None:
    """Refuse values nested deeper than `MAX_NESTING` (arrays and objects in metadata):
    the JSON writers that store and publish them stop at 254 levels."""
    containers = [value for value in document.values() if isinstance(value, dict | list)]
    for _ in range(MAX_NESTING):  # one level of arrays and objects at a time
        if not containers:
            return
        containers = [item for value in containers
                      for item in (value.values() if isinstance(value, dict) else value)
                      if isinstance(item, dict | list)]
    if containers:
        raise ValueError(f"a field is nested deeper than {MAX_NESTING} levels")


def fingerprint(document: Mapping[str, Any]) -> str:
    """What makes two messages under one client_id the same order: every field but the key
    itself and `timestamp` (a retry may restamp it), compared by value (`0.5`, `"0.50"` and
    `0.5` as a float are equal; a field that is null or empty counts as absent, as a stream
    entry cannot carry null). The risk manager's two copies of one order, one on each
    intake, have the same fingerprint; two orders it sizes in one second do not."""
    parts = sorted((key, _comparable(value)) for key, value in document.items()
                   if key not in _NOT_COMPARED and value is not None and value != "")
    return hashlib.blake2b(orjson.dumps(parts), digest_size=8).hexdigest()


_NOT_COMPARED = frozenset({"client_id", "client_order_id", "timestamp"})


def _comparable(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float) or (isinstance(value, str) and _NUMBER.fullmatch(value)):
        number = Decimal(value if isinstance(value, str) else repr(value))
        return _number_text(number) if number.is_finite() else str(number)
    if isinstance(value, str):
        return value
    try:
        return orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()
    except TypeError:
        return repr(value)


def _number_text(number: Decimal) -> str:
    """One text per value, never much longer than the number's own (`1e999` is not
    written out in full): plain digits where that stays short, else digits and exponent."""
    if abs(number.adjusted()) <= _PLAIN_EXPONENT:
        return plain(number)
    sign, digits, exponent = number.as_tuple()
    text = "".join(map(str, digits)).rstrip("0")
    exponent = int(exponent) + len(digits) - len(text)
    return f"{'-' if sign else ''}{text or '0'}e{exponent if text else 0}"


# Up to this many places either side of the point a number is compared in plain digits,
# as the fingerprints stored by earlier versions were written (at most 57 characters).
_PLAIN_EXPONENT = 28


def _readable(document: Mapping[str, Any]) -> dict[str, Any]:
    """What can be read of an invalid order, echoed in its rejection."""
    fields: dict[str, Any] = {}
    for key in ("symbol", "side", "quantity", "strategy_id", "bot_id"):
        value = document.get(key)
        if isinstance(value, str) and value:
            fields[key] = value[:MAX_TEXT_LENGTH]
        elif isinstance(value, int | float) and not isinstance(value, bool):
            fields[key] = value if key == "quantity" else str(value)
    if isinstance(fields.get("symbol"), str):
        fields["symbol"] = normalize_symbol(fields["symbol"]) or fields["symbol"]
    if isinstance(fields.get("side"), str):
        fields["side"] = fields["side"].upper()
    return fields


def _client_id(document: Mapping[str, Any]) -> str | None:
    raw = document.get("client_id", document.get("client_order_id"))
    if raw is None or raw == "":
        return None
    raw = _integral(raw)
    if isinstance(raw, bool) or not isinstance(raw, str | int):
        raise InvalidMessage("client_id must be a string")
    text = str(raw)
    if len(text) > MAX_CLIENT_ID_LENGTH:
        raise InvalidMessage(f"client_id is longer than {MAX_CLIENT_ID_LENGTH} characters")
    if _CONTROL.search(text):
        raise InvalidMessage("client_id contains control characters")
    return text


def _cancel(document: Mapping[str, Any], client_id: str | None) -> CancelOrder:
    order_id = _optional_text(document, "order_id")
    if order_id is None and client_id is None:
        raise ValueError("a cancel needs order_id or client_id")
    return CancelOrder(order_id=order_id, client_id=client_id, account=_account(document))


def _submit(document: Mapping[str, Any], client_id: str | None) -> SubmitOrder:
    if not isinstance(document.get("symbol", ""), str | None):
        raise ValueError("symbol must be a string")
    raw_symbol = _required_text(document, "symbol")
    symbol = normalize_symbol(raw_symbol) if _SYMBOL.fullmatch(raw_symbol) else None
    if symbol is None:
        raise ValueError(f"symbol {raw_symbol[:32]!r} is not a trading pair like BTCUSDT")
    side_text = _required_text(document, "side").upper()
    if side_text not in Side.__members__:
        raise ValueError(f"side must be BUY or SELL, got {side_text[:16]!r}")
    quantity = _decimal(document, "quantity", required=True)
    assert quantity is not None
    if quantity <= 0:
        raise ValueError("quantity must be greater than 0")
    if quantity >= MAX_QUANTITY:
        raise ValueError(f"quantity must be less than {MAX_QUANTITY:f}")
    if quantity.as_tuple().exponent < _FINEST_QUANTITY.as_tuple().exponent:  # type: ignore[operator]
        quantity = quantity.quantize(_FINEST_QUANTITY, ROUND_DOWN, _WIDE)
    order_type = (_optional_text(document, "order_type") or "MARKET").upper()
    if order_type not in OrderType.__members__:
        raise ValueError(f"order_type {order_type[:32]!r} is not one of "
                         f"{', '.join(OrderType.__members__)}")
    kind = OrderType(order_type)
    price = _positive(document, "price")
    stop_price = _positive(document, "stop_price")
    if kind.has_limit_price and price is None:
        raise ValueError(f"price is required for {kind} orders")
    if kind.has_stop_price and stop_price is None:
        raise ValueError(f"stop_price is required for {kind} orders")
    return SubmitOrder(
        symbol=symbol,
        side=Side(side_text),
        quantity=quantity,
        order_type=kind,
        client_id=client_id,
        price=price,
        strategy_id=_optional_text(document, "strategy_id"),
        bot_id=_optional_text(document, "bot_id"),
        metadata=_metadata(document),
        time_in_force=_time_in_force(document, kind),
        stop_price=stop_price if kind.has_stop_price else None,
        expire_at=_moment(document, "expire_at"),
        fingerprint=fingerprint(document) if client_id else None,
        account=_account(document) or DEFAULT_ACCOUNT,
    )


def _account(document: Mapping[str, Any]) -> str | None:
    if not isinstance(document.get("account", ""), str | None):
        raise ValueError("account must be a string")
    name = _optional_text(document, "account")
    if name is not None and not ACCOUNT_NAME.fullmatch(name):
        raise ValueError("account must be 1 to 64 letters, digits, '_', '.' or '-'")
    return name


def _positive(document: Mapping[str, Any], key: str) -> Decimal | None:
    value = _decimal(document, key, required=False)
    if value is not None and value <= 0:
        raise ValueError(f"{key} must be greater than 0")
    return value


def _time_in_force(document: Mapping[str, Any], kind: OrderType) -> TimeInForce | None:
    text = _optional_text(document, "time_in_force")
    if text is None:
        return None
    if text.upper() not in TimeInForce.__members__:
        raise ValueError(f"time_in_force must be GTC, IOC or FOK, got {text[:16]!r}")
    if not kind.has_limit_price:
        return None  # market orders take what they can at once anyway
    if kind is OrderType.LIMIT_MAKER and text.upper() != "GTC":
        raise ValueError("a LIMIT_MAKER order rests: time_in_force can only be GTC")
    return TimeInForce(text.upper())


def whole_number(value: str, most_digits: int = 19) -> int | None:
    """`value` as an integer when it is 1 to `most_digits` ASCII digits, else None
    (`str.isdigit` takes '²' and '٣', which `int` then refuses or reads)."""
    if 0 < len(value) <= most_digits and value.isascii() and value.isdigit():
        return int(value)
    return None


def parse_moment(value: str, name: str) -> datetime:
    """`value` as a time (epoch milliseconds or ISO 8601); ValueError naming `name`."""
    moment = _moment({name: value}, name)
    if moment is None:
        raise ValueError(f"{name} is empty")
    return moment


def _moment(document: Mapping[str, Any], key: str) -> datetime | None:
    """A point in time: epoch milliseconds (number or digits) or an ISO 8601 text."""
    value = document.get(key)
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValueError(f"{key} must be epoch milliseconds or an ISO 8601 time")
    try:
        if isinstance(value, str) and not _TIME.fullmatch(value):
            raise ValueError
        if isinstance(value, int | float) or value.isdigit():
            if not 0 <= float(value) <= MAX_EPOCH_MS:
                raise ValueError
            return datetime.fromtimestamp(float(value) / 1000, UTC)
        moment = datetime.fromisoformat(value)
        return moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)
    except (ValueError, OverflowError, OSError):
        raise ValueError(f"{key} {str(value)[:40]!r} is not a time") from None


def _metadata(document: Mapping[str, Any]) -> dict[str, Any]:
    metadata = {key: value for key, value in document.items() if key not in _KNOWN}
    for key in _ECHOED:
        if document.get(key) is not None:
            metadata[key] = _echo_value(document, key)
    if document.get("timestamp") is not None:
        metadata["client_timestamp"] = document["timestamp"]
    return metadata


def _echo_value(document: Mapping[str, Any], key: str) -> Any:
    if key == "stop_loss_pct":
        return _decimal(document, key, required=False)
    return _optional_text(document, key)


def _required_text(document: Mapping[str, Any], key: str) -> str:
    value = _optional_text(document, key)
    if value is None:
        raise ValueError(f"{key} is required")
    return value


def _optional_text(document: Mapping[str, Any], key: str) -> str | None:
    value = _integral(document.get(key))
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise ValueError(f"{key} must be a string")
    text = str(value)
    if len(text) > MAX_TEXT_LENGTH:
        raise ValueError(f"{key} is longer than {MAX_TEXT_LENGTH} characters")
    return text


def _integral(value: Any) -> Any:
    """A float with nothing after the point stands for its integer (JSON's 42.0 is 42),
    where the float holds that integer exactly."""
    if isinstance(value, float) and value.is_integer() and abs(value) < 2 ** 53:
        return int(value)
    return value


def _decimal(document: Mapping[str, Any], key: str, *, required: bool) -> Decimal | None:
    value = document.get(key)
    if value is None or value == "":
        if required:
            raise ValueError(f"{key} is required")
        return None
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValueError(f"{key} must be a number or a numeric string")
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"{key} must be finite")
    if isinstance(value, str) and not _NUMBER.fullmatch(value):
        raise ValueError(f"{key} {value[:32]!r} is not a number")
    try:
        # Through the text: Decimal("0.001"), never the binary float 0.001000000000000000020...
        number = Decimal(value if isinstance(value, str) else repr(value))
    except InvalidOperation:
        raise ValueError(f"{key} {str(value)[:32]!r} is not a number") from None
    if not number.is_finite():
        raise ValueError(f"{key} must be finite")
    return number


# Outbound


def plain(number: Decimal) -> str:
    """Exact decimal text without exponent or trailing zeros: Decimal('1.50000') -> '1.5'."""
    return format(number.normalize(), "f") if number else "0"


def _json_default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return orjson.Fragment(plain(value))
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def dumps(document: Any) -> bytes:
    """Serialize to JSON; `Decimal` values become exact JSON numbers, and so do integers
    beyond 64 bits (orjson's limit: a sender's metadata may hold one)."""
    try:
        return orjson.dumps(document, default=_json_default)
    except TypeError as exc:
        if "64-bit" not in str(exc):
            raise
        return orjson.dumps(_wide_integers(document), default=_json_default)


def _wide_integers(value: Any) -> Any:
    if isinstance(value, int) and not isinstance(value, bool) and not -2**63 <= value < 2**64:
        return orjson.Fragment(str(value))
    if isinstance(value, dict):
        return {key: _wide_integers(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_wide_integers(item) for item in value]
    return value


def order_result(order: Order, event_time_ms: int) -> OrderResult:
    """The `order_result` message for the order's current state (SPEC 4.2)."""
    return {"type": "order_result", **order_fields(order, event_time_ms)}


def order_fields(order: Order, event_time_ms: int) -> OrderFields:
    """What the `order_result` message says of the order, as of `event_time_ms`."""
    fields: OrderFields = {
        "order_id": order.order_id,
        "client_id": order.client_id,
        "status": order.status.value,
        "symbol": order.symbol,
        "side": order.side.value,
        "order_type": order.order_type.value,
        "quantity": order.quantity,
        "filled_quantity": order.filled_quantity,
        "price": order.avg_fill_price,
        "fee": order.fee,
        "fees": order.fee,
        "fee_asset": order.fee_asset,
        "slippage_bps": order.slippage_bps,
        "timestamp": event_time_ms // 1000,
        "event_time_ms": event_time_ms,
        "strategy_id": order.strategy_id,
        "bot_id": order.bot_id,
        "source": order.source.value,
        "account": order.account,
        "error_code": order.error_code.value if order.error_code else None,
        "error_message": order.error_message,
    }
    if order.order_type is not OrderType.MARKET:
        fields["limit_price"] = order.limit_price
        fields["stop_price"] = order.stop_price
        fields["time_in_force"] = order.time_in_force.value if order.time_in_force else None
        fields["expire_at"] = order.expire_at.isoformat() if order.expire_at else None
    echoed: dict[str, Any] = fields  # type: ignore[assignment]  # (open: the echoes' keys vary)
    for key in _ECHOED_METADATA:
        if key in order.metadata:
            echoed[key] = order.metadata[key]
    return fields


def trade_view(trade: Trade) -> Fill:
    """A fill as the service's own API and live feed show it."""
    return {"trade_id": trade.trade_id, "order_id": trade.order_id, "symbol": trade.symbol,
            "side": trade.side.value, "quantity": trade.quantity, "price": trade.price,
            "fee": trade.fee, "fee_asset": trade.fee_asset, "slippage_bps": trade.slippage_bps,
            "liquidity": trade.liquidity.value, "executed_at": trade.executed_at.isoformat(),
            "account": trade.account}


def invalid_result(invalid: InvalidMessage, event_time_ms: int) -> dict[str, Any]:
    """The rejection sent for a message that never became an order but named a `client_id`,
    with what could be read of it (symbol, side, quantity, ...) as it was received."""
    return {
        "type": "order_result",
        "order_id": None,
        "client_id": invalid.client_id,
        "status": "REJECTED",
        **invalid.fields,
        "filled_quantity": 0,
        "timestamp": event_time_ms // 1000,
        "event_time_ms": event_time_ms,
        "error_code": "INVALID_ORDER",
        "error_message": invalid.reason,
    }


def cancel_result(
    order_id: str | None, client_id: str | None, status: str, error_code: str | None,
    error_message: str | None, event_time_ms: int,
) -> dict[str, Any]:
    """The answer to a cancel that changed nothing (unknown order, or not open)."""
    return {
        "type": "cancel_result",
        "order_id": order_id,
        "client_id": client_id,
        "status": status,
        "timestamp": event_time_ms // 1000,
        "event_time_ms": event_time_ms,
        "error_code": error_code,
        "error_message": error_message,
    }


def stream_fields(result: Mapping[str, Any]) -> dict[str, str]:
    """Flat string fields for `XADD stream.fills`, with the `filled_size`/`avg_fill_price`
    aliases; a field whose value is null is left out (a stream field has no null)."""
    fields = {key: _field_text(value) for key, value in result.items() if value is not None}
    for alias, name in (("filled_size", "filled_quantity"), ("avg_fill_price", "price")):
        if name in fields:
            fields[alias] = fields[name]
    return fields


def _field_text(value: Any) -> str:
    if isinstance(value, Decimal):
        return plain(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if isinstance(value, int | float):
        return repr(value)
    return dumps(value).decode()


# The inbound order as JSON Schema (the OpenAPI document's `POST /orders` body): what
# `decode_mapping` accepts, from the same patterns and limits. An optional field may be
# null or empty: the codec reads that as absent.


def _any_case(*words: str) -> str:
    """A pattern matching any of `words` in any case (the codec upper-cases them)."""
    spelled = ("".join(f"[{c.upper()}{c.lower()}]" if c.isalpha() else re.escape(c) for c in w)
               for w in words)
    return f"^({'|'.join(spelled)})$"


def _optional(*kinds: dict[str, Any]) -> dict[str, Any]:
    return {"oneOf": [*kinds, {"type": "null"}, {"type": "string", "maxLength": 0}]}


# orjson reads an integer beyond 64 bits as a float, which an id cannot be.
_INTEGER = {"type": "integer", "minimum": -(2**63), "maximum": 2**64 - 1}


def _text(pattern: str) -> dict[str, Any]:
    return {"type": "string", "pattern": pattern}


_POSITIVE_TEXT = r"^\+?(\d*[1-9]\d*(\.\d*)?|0*\.\d*[1-9]\d*)([eE][+-]?\d{1,3})?$"
_QUANTITY_TEXT = r"^\+?0*([1-9]\d{0,11}(\.\d*)?|\.\d*[1-9]\d*)([eE]-\d{1,3})?$"
# TIME_TEXT anchored, less the 29th to the 31st, which not every month has (for documents).
TIME_PATTERN = (r"^(\d{1,14}|[12]\d{3}-(0[1-9]|1[0-2])-(0[1-9]|1\d|2[0-8])"
                r"([T ]([01]\d|2[0-3]):[0-5]\d(:[0-5]\d(\.\d{1,6})?)?(Z|[+-]([01]\d|2[0-3]):[0-5]\d)?)?)$")
_POSITIVE = {"type": "number", "exclusiveMinimum": 0}
_GIVEN = {"not": {"anyOf": [{"type": "null"}, {"type": "string", "maxLength": 0}]}}
_LIMIT_PRICED = [t.value for t in OrderType if t.has_limit_price]
_STOPS = [t.value for t in OrderType if t.has_stop_price]


def _when_type(names: list[str], then: dict[str, Any]) -> dict[str, Any]:
    return {"if": {"required": ["order_type"],
                   "properties": {"order_type": _text(_any_case(*names))}},
            "then": then}


ORDER_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["symbol", "side", "quantity"],
    "properties": {
        "symbol": {**_text(f"^({SYMBOL_TEXT})$"), "example": "BTCUSDT"},
        "side": {**_text(_any_case(*Side.__members__)), "example": "BUY"},
        "quantity": {"oneOf": [{**_POSITIVE, "exclusiveMaximum": float(MAX_QUANTITY)},
                               _text(_QUANTITY_TEXT)], "example": 0.001},
        "order_type": _optional(_text(_any_case(*OrderType.__members__))),
        "price": _optional(_POSITIVE, _text(_POSITIVE_TEXT)),
        "stop_price": _optional(_POSITIVE, _text(_POSITIVE_TEXT)),
        "time_in_force": _optional(_text(_any_case(*TimeInForce.__members__))),
        "expire_at": _optional({"type": "number", "minimum": 0, "maximum": MAX_EPOCH_MS},
                               {**_text(TIME_PATTERN), "description": "epoch ms or ISO 8601"}),
        "client_id": _optional(
            {"type": "string", "minLength": 1, "maxLength": MAX_CLIENT_ID_LENGTH,
             "pattern": "^[^\\x00-\\x1f\\x7f-\\x9f]*$"},
            _INTEGER),
        "account": _optional(_text(f"^({ACCOUNT_NAME.pattern})$")),
        "type": _optional(_text(_any_case("order"))),
        **{name: _optional({"type": "string", "minLength": 1, "maxLength": MAX_TEXT_LENGTH},
                           _INTEGER)
           for name in ("strategy_id", "bot_id", "signal_id", "reason")},
        "stop_loss_pct": _optional({"type": "number"}, _text(f"^({NUMBER_TEXT})$")),
        "timestamp": {"description": "the sender's time, echoed as client_timestamp"},
    },
    "additionalProperties": {"description": "kept in the order's metadata"},
    "allOf": [
        _when_type(_LIMIT_PRICED, {"required": ["price"], "properties": {"price": _GIVEN}}),
        _when_type(_STOPS, {"required": ["stop_price"], "properties": {"stop_price": _GIVEN}}),
        _when_type(["LIMIT_MAKER"], {"properties": {"time_in_force": _optional(
            _text(_any_case("GTC")))}}),
    ],
}
