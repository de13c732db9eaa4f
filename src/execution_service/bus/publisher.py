"""Results out: PUBLISH order_results, XADD stream.fills, and the acknowledgements, in one trip.

The commands of a batch are packed by hiredis (C) into one buffer, written on one pooled
connection and their replies read back, without redis-py's pipeline object: building and
checking it per command was a sixth of the service's time flat out (py-spy). Any error
drops the connection (replies may be left unread on it) and surfaces as Redis down; the
results stay unsent in the outbox and are swept out again.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any

import hiredis
from redis.asyncio import Redis

from execution_service.bus.envelope import EntryRef
from execution_service.domain.codec import stream_fields
from execution_service.store.writer import OutboxMessage


class ResultPublisher:
    """Publishes committed results and acknowledges the entries they answer.

    Journal entries are also deleted once acknowledged: the journal is this service's own
    and would otherwise grow without bound.
    """

    def __init__(
        self,
        redis: Redis,
        *,
        results_channel: str,
        fills_stream: str,
        fills_maxlen: int,
        group: str,
        journal_stream: str,
    ) -> None:
        self._redis = redis
        self._channel = results_channel
        self._fills = fills_stream
        self._maxlen = fills_maxlen
        self._group = group
        self._journal = journal_stream

    async def publish(self, messages: Sequence[OutboxMessage], acks: Sequence[EntryRef]) -> None:
        """Send `messages` and acknowledge `acks` in one pipelined round trip."""
        if not messages and not acks:
            return
        commands: list[bytes] = []
        for message in messages:
            if self._channel:
                commands.append(_pack(("PUBLISH", self._channel, message.payload)))
            if self._fills:
                xadd: list[Any] = ["XADD", self._fills, "MAXLEN", "~", self._maxlen, "*"]
                for field, value in stream_fields(message.result).items():
                    xadd += (field, value)
                commands.append(_pack(tuple(xadd)))
        by_stream: dict[str, list[str]] = defaultdict(list)
        for ref in acks:
            by_stream[ref.stream].append(ref.entry_id)
        for stream, ids in by_stream.items():
            commands.append(_pack(("XACK", stream, self._group, *ids)))
            if stream == self._journal:
                commands.append(_pack(("XDEL", stream, *ids)))
        await self._send(commands)

    async def _send(self, commands: list[bytes]) -> None:
        """Write the packed commands at once, then read one reply each."""
        pool = self._redis.connection_pool
        connection = await pool.get_connection()  # type: ignore[no-untyped-call]
        try:
            await connection.send_packed_command(b"".join(commands))
            for _ in commands:
                await connection.read_response()
        except BaseException:
            await connection.disconnect()
            raise
        finally:
            await pool.release(connection)


def _pack(command: tuple[Any, ...]) -> bytes:
    """One command in RESP, packed by hiredis."""
    packed: bytes = hiredis.pack_command(command)
    return packed
