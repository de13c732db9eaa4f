"""Binance's WebSocket endpoints on the service's HTTP port:

- `/ws/<stream>` (raw events; `/ws` or `/ws/<anything>` with no stream of that name opens
  with none, as ccxt's `/ws/0` does) and `/stream?streams=<a>/<b>` (each event inside
  `{"stream", "data"}`), with the methods `SUBSCRIBE`, `UNSUBSCRIBE`, `LIST_SUBSCRIPTIONS`,
  `SET_PROPERTY` and `GET_PROPERTY` (`combined`) answered by `id` as Binance answers them;
  `/ws/<listenKey>` follows a listen key's account (user_data.py);
- `/ws-api/v3`, Binance's WebSocket API, for what clients use it for here: `ping`,
  `time`, and the user data stream: `userDataStream.subscribe.signature`, or
  `session.logon` (`session.status`, `session.logout`) then `userDataStream.subscribe`;
  `userDataStream.unsubscribe`, `session.subscriptions`.

Bounded as Binance bounds them: 300 connections from an address in 5 minutes
(`WS_CONNECTIONS_PER_ADDRESS`; beyond, refused at the handshake), 5 messages a second
from a client on average (bursts of 10; beyond, the socket is closed), 1,024 streams a
connection, a message at most 64 KiB
(uvicorn's `ws_max_size`), a ping every 20 seconds that must be answered within a minute
(uvicorn's), at most `WS_MAX_CONNECTIONS` sockets; a socket that falls 1 MiB behind is
closed (hub.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections import deque
from typing import TYPE_CHECKING, Annotated, Any

import orjson
from fastapi import APIRouter, Query, WebSocket

from execution_service.api.binance.errors import BinanceError
from execution_service.api.binance.hub import COMBINED, RAW, Listener, StreamHub
from execution_service.api.binance.params import now_ms
from execution_service.api.binance.signing import (
    check_signature,
    check_timing,
    known_key,
    sorted_payload,
)
from execution_service.api.binance.streams import MarketStreams, parse_stream
from execution_service.api.binance.user_data import UserStreams, account_stream
from execution_service.api.deps import Context
from execution_service.config import ApiKey
from execution_service.engine.tape import TapeTrade

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from execution_service.api.context import ApiContext
    from execution_service.engine.exchange import Effects

# What a stream's or a listen key's name may be (any other is refused, not kept).
_STREAM_NAME = re.compile(r"[A-Za-z0-9@_!.\-]{1,100}", re.ASCII)
CONNECTIONS_WINDOW_S = 300.0
RATE_PER_S = 5.0
BURST = 10.0
WS_API = "ws-api"
_METHODS = "`SUBSCRIBE`, `UNSUBSCRIBE`, `LIST_SUBSCRIPTIONS`, `SET_PROPERTY`, `GET_PROPERTY`"

router = APIRouter()


class BinanceStreams:
    """The market streams and the user data streams over one hub; the pipeline tells it of
    each commit (`committed`)."""

    def __init__(self, *, max_listeners: int = 1000, per_address: int = 300) -> None:
        """`per_address`: connections a client address may open in 5 minutes (0: any)."""
        self.hub = StreamHub(max_listeners=max_listeners, on_change=self._changed)
        self.market = MarketStreams(self.hub)
        self.users = UserStreams(self.hub)
        self._per_address = per_address
        self._opened: dict[str, deque[float]] = {}  # by client address: when, this window

    def admit(self, address: str, now: float) -> bool:
        """Whether `address` may open another socket: at most `per_address` in 5 minutes."""
        if not self._per_address:
            return True
        if len(self._opened) > 10_000:  # (forget the addresses whose windows are over)
            self._opened = {a: times for a, times in self._opened.items()
                            if times and times[-1] > now - CONNECTIONS_WINDOW_S}
        opened = self._opened.setdefault(address, deque())
        while opened and opened[0] <= now - CONNECTIONS_WINDOW_S:
            opened.popleft()
        if len(opened) >= self._per_address:
            return False
        opened.append(now)
        return True

    def _changed(self, stream: str, listened: bool) -> None:
        self.market.changed(stream, listened)

    def committed(self, effects: Effects, tape: Sequence[tuple[str, TapeTrade]],
                  at_ms: int) -> None:
        if not self.hub.listeners:
            return
        self.market.committed(tape, at_ms)
        self.users.committed(effects, at_ms)

    def start(self, context: ApiContext) -> None:
        self.market.start(context)
        self.users.start(context)

    async def close(self) -> None:
        self.hub.close()
        await self.market.close()
        await self.users.close()


@router.websocket("/ws")
async def raw_socket(websocket: WebSocket, context: Context) -> None:
    await _serve(websocket, context, RAW, [])


@router.websocket("/ws/{names:path}")
async def raw_streams(websocket: WebSocket, context: Context, names: str) -> None:
    await _serve(websocket, context, RAW, names.split("/"))


@router.websocket("/stream")
async def combined_streams(websocket: WebSocket, context: Context,
                           streams: Annotated[str | None, Query(max_length=65_536)] = None
                           ) -> None:
    await _serve(websocket, context, COMBINED, (streams or "").split("/"))


@router.websocket("/ws-api/v3")
async def websocket_api(websocket: WebSocket, context: Context) -> None:
    await _serve(websocket, context, WS_API, [])


async def _serve(websocket: WebSocket, context: ApiContext, form: str, names: list[str]) -> None:
    streams = context.streams
    address = websocket.client.host if websocket.client else "unknown"
    if not streams.admit(address, context.clock.monotonic()):
        await websocket.close(code=1008, reason="too many connections from this address")
        return
    listener = streams.hub.connect(form)
    if listener is None:
        await websocket.close(code=1013, reason="too many connections")
        return
    listener.connected_ms = now_ms(context.clock)
    try:
        await websocket.accept()
        _subscribe(context, streams, listener,
                   [n for n in names if _STREAM_NAME.fullmatch(n)][:streams.hub.max_streams])
        streams.start(context)
        writer = asyncio.create_task(_write(websocket, listener))
        reader = asyncio.create_task(_read(websocket, context, streams, listener))
        await asyncio.wait([reader, writer], return_when=asyncio.FIRST_COMPLETED)
        if not reader.done():  # the writer ended (dropped, or the service is stopping)
            reader.cancel()
        elif not writer.done() and listener.close_code is not None:  # the reader ended it
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(writer), 5.0)  # (its answers first)
        for task in (reader, writer):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
    finally:
        streams.hub.disconnect(listener)


async def _write(websocket: WebSocket, listener: Listener) -> None:
    """Write what the listener is sent; then close the socket (with the reason, if the
    service ended it)."""
    while (frames := await listener.next()) is not None:
        for frame in frames:
            await websocket.send_text(frame.decode())
    code, reason = ((1008, "too slow: dropped") if listener.dropped
                    else (listener.close_code or 1000, listener.close_reason))
    with contextlib.suppress(Exception):
        await websocket.close(code=code, reason=reason)


async def _read(websocket: WebSocket, context: ApiContext, streams: BinanceStreams,
                listener: Listener) -> None:
    """Answer the client's messages until it leaves, or sends more than Binance allows."""
    allowance, checked = BURST, context.clock.monotonic()
    while True:
        message = await websocket.receive()
        if message["type"] == "websocket.disconnect":
            return
        now = context.clock.monotonic()
        allowance = min(BURST, allowance + (now - checked) * RATE_PER_S)
        checked = now
        if allowance < 1:  # (what it was answered is written first)
            listener.close_code, listener.close_reason = 1008, "too many messages"
            listener.close(flush=True)
            return
        allowance -= 1
        text = message.get("text") or (message.get("bytes") or b"").decode(errors="replace")
        listener.answer(_api_call(text, context, streams, listener) if listener.form == WS_API
                        else _method(text, context, streams, listener))


def _subscribe(context: ApiContext, streams: BinanceStreams, listener: Listener,
               names: list[str]) -> bool:
    """Subscribe to the streams named; a market's symbol gets a tape from then on, even
    without a feed (as a REST request about it does)."""
    named = [_lower(name) for name in names]
    if not streams.hub.subscribe(listener, named):
        return False
    markets = context.exchange.markets()
    for name in named:
        parsed = parse_stream(name)
        if parsed is not None and parsed.symbol in markets:
            context.exchange.watch(parsed.symbol)
    return True


def _method(text: str, context: ApiContext, streams: BinanceStreams, listener: Listener
            ) -> dict[str, Any]:
    """A market stream connection's method call, answered as Binance answers it."""
    try:
        call = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        return _refusal(3, f"Invalid JSON: {exc.msg}")
    if not isinstance(call, dict):
        return _refusal(3, "Invalid JSON: expected an object")
    request_id = call.get("id")
    if request_id is not None and (not isinstance(request_id, int) or isinstance(request_id, bool)
                                   or not 0 <= request_id < 2**63):
        return _refusal(2, "Invalid request: request ID must be an unsigned integer", None)
    method, params = call.get("method"), call.get("params", [])
    if not isinstance(method, str):
        return _refusal(2, "Invalid request: missing field `method`", request_id)
    if not isinstance(params, list) or not all(isinstance(p, str | bool) for p in params):
        return _refusal(2, "Invalid request: invalid parameters", request_id)
    names = [p for p in params if isinstance(p, str)]
    if method in ("SUBSCRIBE", "UNSUBSCRIBE") and not all(map(_STREAM_NAME.fullmatch, names)):
        return _refusal(2, "Invalid request: invalid stream name", request_id)
    if method == "SUBSCRIBE":
        if not _subscribe(context, streams, listener, names):
            return _refusal(2, "Invalid request: too many streams", request_id)
        return {"result": None, "id": request_id}
    if method == "UNSUBSCRIBE":
        streams.hub.unsubscribe(listener, [_lower(n) for n in names])
        return {"result": None, "id": request_id}
    if method == "LIST_SUBSCRIPTIONS":
        return {"result": sorted(listener.streams), "id": request_id}
    if method in ("SET_PROPERTY", "GET_PROPERTY"):
        return _property(method, params, listener, request_id)
    return _refusal(2, f"Invalid request: unknown variant {method[:40]}, expected one of"
                       f" {_METHODS}", request_id)


def _property(method: str, params: list[Any], listener: Listener, request_id: int | None
              ) -> dict[str, Any]:
    if not params or params[0] != "combined":
        return _refusal(0, "Unknown property", request_id)
    if method == "GET_PROPERTY":
        return {"result": listener.form == COMBINED, "id": request_id}
    if len(params) != 2 or not isinstance(params[1], bool):
        return _refusal(1, "Invalid value type: expected Boolean", request_id)
    listener.form = COMBINED if params[1] else RAW
    return {"result": None, "id": request_id}


_NO_ID = object()


def _refusal(code: int, msg: str, request_id: object = _NO_ID) -> dict[str, Any]:
    """A stream connection's error answer; without an `id` when the message had none that
    could be read (invalid JSON)."""
    answer: dict[str, Any] = {"error": {"code": code, "msg": msg}}
    if request_id is not _NO_ID:
        answer["id"] = request_id
    return answer


def _lower(name: str) -> str:
    """A market stream's name with its symbol in lower case, as Binance names them (a
    listen key, or anything else, as it is)."""
    symbol, at, rest = name.partition("@")
    return symbol.lower() + at + rest if at and parse_stream(symbol.lower() + at + rest) else name


def _api_call(text: str, context: ApiContext, streams: BinanceStreams, listener: Listener
              ) -> dict[str, Any]:
    """A WebSocket API request, answered as Binance's WebSocket API answers it."""
    try:
        call = orjson.loads(text)
    except orjson.JSONDecodeError:
        return _api_error(None, 400, -1100, "Illegal characters found in a parameter.")
    if not isinstance(call, dict):
        return _api_error(None, 400, -1102, "Mandatory parameter 'method' was not sent.")
    request_id = call.get("id")
    if not isinstance(request_id, str | int) or isinstance(request_id, bool) or (
            isinstance(request_id, str) and len(request_id) > 36):
        request_id = None
    method, params = call.get("method"), call.get("params") or {}
    if not isinstance(params, dict):
        return _api_error(request_id, 400, -1104, "Not all sent parameters were read.")
    try:
        result = _api_method(method, params, context, streams, listener)
    except BinanceError as exc:
        return _api_error(request_id, exc.status, exc.code, exc.msg)
    return {"id": request_id, "status": 200, "result": result}


def _api_method(method: object, params: dict[str, Any], context: ApiContext,
                streams: BinanceStreams, listener: Listener) -> Any:
    if method == "ping":
        return {}
    if method == "time":
        return {"serverTime": now_ms(context.clock)}
    if method == "userDataStream.subscribe.signature":
        return _subscribe_account(streams, listener, _signed_key(params, context))
    if method == "session.logon":
        key = _signed_key(params, context)
        listener.session_key, listener.session_since = key, now_ms(context.clock)
        return _session(listener, context)
    if method == "session.status":
        return _session(listener, context)
    if method == "session.logout":  # (the session's subscription ends with it)
        session = listener.session_key
        listener.session_key = listener.session_since = None
        if session is not None:
            ended = listener.subscriptions.get(account_stream(session.account))
            _end_subscriptions(streams, listener, context, lambda subscription: (
                subscription == ended))
        return _session(listener, context)
    if method == "userDataStream.subscribe":
        if listener.session_key is None:
            raise BinanceError(-1002, "You are not authorized to execute this request.", 401)
        return _subscribe_account(streams, listener, listener.session_key)
    if method == "userDataStream.unsubscribe":
        wanted = params.get("subscriptionId")
        _end_subscriptions(streams, listener, context, lambda subscription: wanted in (
            None, subscription))
        return {}
    if method == "session.subscriptions":
        return [{"subscriptionId": s} for s in sorted(listener.subscriptions.values())]
    if not isinstance(method, str) or not method:
        raise BinanceError.missing("method")
    raise BinanceError(-1020, "This operation is not supported.")


def _signed_key(params: dict[str, Any], context: ApiContext) -> ApiKey:
    """The key of a signed WebSocket API request: its `apiKey`, `timestamp` (and
    `recvWindow`) and `signature`, the HMAC of the other parameters sorted by name."""
    given = {name: str(value) for name, value in params.items()
             if isinstance(value, str | int) and not isinstance(value, bool)}
    key = known_key(context.api_keys, given.get("apiKey"))
    check_timing(dict(given), now_ms(context.clock))
    if not given.get("signature"):
        raise BinanceError.missing("signature")
    check_signature(key, sorted_payload(list(given.items())), given["signature"])
    return key


def _subscribe_account(streams: BinanceStreams, listener: Listener, key: ApiKey
                       ) -> dict[str, int]:
    """The connection follows the key's account (once, however often it asks)."""
    stream = account_stream(key.account)
    subscription = listener.subscriptions.get(stream)
    if subscription is None:
        subscription = max(listener.subscriptions.values(), default=-1) + 1
        listener.subscriptions[stream] = subscription
        streams.hub.subscribe(listener, [stream])
    return {"subscriptionId": subscription}


def _end_subscriptions(streams: BinanceStreams, listener: Listener, context: ApiContext,
                       ending: Callable[[int], bool]) -> None:
    """End the connection's subscriptions `ending` picks; each is told, as Binance tells
    it, with `eventStreamTerminated`."""
    for stream, subscription in list(listener.subscriptions.items()):
        if ending(subscription):
            del listener.subscriptions[stream]
            streams.hub.unsubscribe(listener, [stream])
            listener.answer({"subscriptionId": subscription, "event": {
                "e": "eventStreamTerminated", "E": now_ms(context.clock)}})


def _session(listener: Listener, context: ApiContext) -> dict[str, Any]:
    return {"apiKey": listener.session_key.key if listener.session_key else None,
            "authorizedSince": listener.session_since, "connectedSince": listener.connected_ms,
            "returnRateLimits": False, "serverTime": now_ms(context.clock),
            "userDataStream": bool(listener.subscriptions)}


def _api_error(request_id: object, status: int, code: int, msg: str) -> dict[str, Any]:
    return {"id": request_id, "status": status, "error": {"code": code, "msg": msg}}
