"""Results out: PUBLISH order_results, XADD stream.fills, and the acknowledgements, in one trip."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

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
        pipe = self._redis.pipeline(transaction=False)
        for message in messages:
            if self._channel:
                pipe.publish(self._channel, message.payload)
            if self._fills:
                pipe.xadd(self._fills, stream_fields(message.result),  # type: ignore[arg-type]
                          maxlen=self._maxlen, approximate=True)
        by_stream: dict[str, list[str]] = defaultdict(list)
        for ref in acks:
            by_stream[ref.stream].append(ref.entry_id)
        for stream, ids in by_stream.items():
            pipe.xack(stream, self._group, *ids)
            if stream == self._journal:
                pipe.xdel(stream, *ids)
        await pipe.execute()
