"""The fan-out behind Binance's WebSocket streams: who listens to which stream, and what
each has not been sent yet.

- An event is serialized once per form, however many listen: a raw stream (`/ws`) gets
  the event itself, a combined one (`/stream`) the same inside `{"stream", "data"}`; both
  frames are made at most once per event, when the first listener of that form needs it.
- Listeners are woken `WOKEN_AT_ONCE` per turn of the event loop, so that the pipeline's
  callbacks run in between (1,000 woken at once held the loop for tens of milliseconds: a
  REST order's p99 went from 13 ms to 137 ms with 1,000 listeners);
- A listener holds at most `backlog_bytes` not yet written; one that falls that far
  behind is dropped (its socket is closed with 1008, as Binance drops a slow reader), so
  a slow client never holds memory or the pipeline.
- At most `max_listeners` connections at once (beyond: refused at the handshake), each
  with at most `max_streams` streams (Binance's 1,024).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import Callable, Coroutine, Iterable, Mapping
from typing import Any

import orjson

BACKLOG_BYTES = 1 << 20
WOKEN_AT_ONCE = 50
MAX_STREAMS = 1024  # per connection, as on Binance


RAW, COMBINED = "raw", "combined"


class Listener:
    """One socket: its streams, and the frames not yet written to it. Its `form` says how
    an event is framed for it: RAW (`/ws`), COMBINED (`/stream`: `{"stream", "data"}`), or
    for a WebSocket API subscription `{"subscriptionId", "event"}` with the id it was given
    for that stream (`subscriptions`)."""

    def __init__(self, *, form: str, backlog_bytes: int) -> None:
        self.form = form
        self.streams: set[str] = set()
        self.subscriptions: dict[str, int] = {}  # a WebSocket API connection's, by stream
        self.session_key: Any = None  # its `session.logon` key (an ApiKey), and since when
        self.session_since: int | None = None
        self.connected_ms = 0
        self.dropped = False  # closed for falling behind
        self.close_code: int | None = None  # and its reason: why the service closes it
        self.close_reason = ""
        self._backlog_bytes = backlog_bytes
        self._frames: deque[bytes] = deque()
        self._queued = 0
        self._ready = asyncio.Event()
        self._closed = False
        self.to_wake = False  # offered frames, not woken yet

    def frame_key(self, stream: str) -> tuple[str, int]:
        """What makes its frame of an event differ from another listener's."""
        return self.form, self.subscriptions.get(stream, -1)

    def answer(self, data: Mapping[str, Any]) -> None:
        """An answer to a method it called: queued whatever its backlog."""
        if not self._closed:
            self._frames.append(orjson.dumps(data))
            self._ready.set()

    def offer(self, frame: bytes) -> bool:
        """Queue `frame`; False (and nothing queued) if that would exceed the backlog."""
        if self._closed:
            return True
        if self._queued + len(frame) > self._backlog_bytes:
            return False
        self._frames.append(frame)
        self._queued += len(frame)
        return True

    def wake(self) -> None:
        """Its writer may write what it was offered."""
        self.to_wake = False
        self._ready.set()

    async def next(self) -> list[bytes] | None:
        """The frames that have arrived (waiting for one), None once closed."""
        while not self._frames and not self._closed:
            self._ready.clear()
            await self._ready.wait()
        if not self._frames:
            return None
        frames = list(self._frames)
        self._frames.clear()
        self._queued = 0
        return frames

    def close(self, *, flush: bool = False) -> None:
        """No more frames; those queued are dropped, or with `flush` still written."""
        self._closed = True
        if not flush:
            self._frames.clear()
        self._ready.set()


class Background:
    """A task the streams run while anyone listens: started when it is not running (it
    ends by itself once nobody listens), cancelled when the service stops."""

    def __init__(self) -> None:
        self._task: asyncio.Task[None] | None = None

    def ensure(self, run: Callable[[], Coroutine[Any, Any, None]]) -> None:
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task


class StreamHub:
    """Listeners by stream; `publish` hands an event to every listener of its stream."""

    def __init__(self, *, max_listeners: int = 1000, max_streams: int = MAX_STREAMS,
                 backlog_bytes: int = BACKLOG_BYTES,
                 on_change: Callable[[str, bool], None] = lambda stream, listened: None
                 ) -> None:
        """`on_change(stream, listened)`: a stream got its first listener, or lost its last."""
        self._on_change = on_change
        self.max_listeners = max_listeners
        self.max_streams = max_streams
        self._backlog_bytes = backlog_bytes
        self._listeners: set[Listener] = set()
        self._by_stream: dict[str, set[Listener]] = {}
        self._to_wake: list[Listener] = []
        self.dropped = 0  # listeners dropped for falling behind, since start

    @property
    def listeners(self) -> int:
        return len(self._listeners)

    def connect(self, form: str) -> Listener | None:
        """A new listener; None when `max_listeners` are connected."""
        if len(self._listeners) >= self.max_listeners:
            return None
        listener = Listener(form=form, backlog_bytes=self._backlog_bytes)
        self._listeners.add(listener)
        return listener

    def disconnect(self, listener: Listener, *, flush: bool = False) -> None:
        """Forget the listener and end its socket (with `flush`, once what it was sent is
        written)."""
        self._listeners.discard(listener)
        self.unsubscribe(listener, list(listener.streams))
        listener.close(flush=flush)

    def subscribe(self, listener: Listener, streams: Iterable[str]) -> bool:
        """Add `streams` to the listener's; False (nothing added) beyond `max_streams`."""
        wanted = set(streams) - listener.streams
        if len(listener.streams) + len(wanted) > self.max_streams:
            return False
        for stream in wanted:
            if stream not in self._by_stream:
                self._by_stream[stream] = set()
                self._on_change(stream, True)
            self._by_stream[stream].add(listener)
        listener.streams |= wanted
        return True

    def unsubscribe(self, listener: Listener, streams: Iterable[str]) -> None:
        for stream in streams:
            listener.streams.discard(stream)
            if (listening := self._by_stream.get(stream)) is not None:
                listening.discard(listener)
                if not listening:
                    del self._by_stream[stream]
                    self._on_change(stream, False)

    def close_stream(self, stream: str) -> None:
        """End the sockets that listen to `stream` (once what they were sent is written)."""
        for listener in list(self._by_stream.get(stream, ())):
            self.disconnect(listener, flush=True)

    def streams(self) -> set[str]:
        """The streams someone listens to."""
        return set(self._by_stream)

    def listened(self, stream: str) -> bool:
        return stream in self._by_stream

    def publish(self, stream: str, data: Mapping[str, Any] | list[Any]) -> None:
        """Send `data` to the stream's listeners, each form serialized at most once."""
        listening = self._by_stream.get(stream)
        if not listening:
            return
        frames: dict[tuple[str, int], bytes] = {}
        for listener in list(listening):
            key = listener.frame_key(stream)
            frame = frames.get(key)
            if frame is None:
                frame = frames[key] = orjson.dumps(_framed(key, stream, data))
            if not listener.offer(frame):
                self.dropped += 1
                listener.dropped = True
                self.disconnect(listener)
            elif not listener.to_wake:
                listener.to_wake = True
                self._to_wake.append(listener)
                if len(self._to_wake) == 1:
                    asyncio.get_running_loop().call_soon(self._wake_some)

    def _wake_some(self) -> None:
        """Wake `WOKEN_AT_ONCE` listeners; the rest on the next turn of the loop."""
        woken, self._to_wake = self._to_wake[:WOKEN_AT_ONCE], self._to_wake[WOKEN_AT_ONCE:]
        for listener in woken:
            listener.wake()
        if self._to_wake:
            asyncio.get_running_loop().call_soon(self._wake_some)

    def close(self) -> None:
        """End every listener (the service is stopping)."""
        for listener in list(self._listeners):
            self.disconnect(listener)


def _framed(key: tuple[str, int], stream: str, data: Mapping[str, Any] | list[Any]) -> object:
    form, subscription = key
    if form == RAW:
        return data
    if form == COMBINED:
        return {"stream": stream, "data": data}
    return {"subscriptionId": subscription, "event": data}
