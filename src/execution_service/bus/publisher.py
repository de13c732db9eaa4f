"""Results out: PUBLISH order_results, XADD stream.fills, and the acknowledgements, in one call.

A batch's results and acknowledgements go to Redis as the arguments of one Lua script
(`_PUBLISH_BATCH`), which Redis runs as one command: one request, one reply, whatever the
batch's size. Sent as separate pipelined commands, reading back one reply per command
through redis-py was a quarter of the service's time flat out (py-spy). A failure
part-way (Redis gone, out of memory) surfaces as an error; the results stay unsent in
the outbox and are swept out again, so a result is published at least once.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Sequence
from typing import Any, Protocol

import hiredis
from redis.asyncio import Redis
from redis.exceptions import NoScriptError, ResponseError

from execution_service.bus.envelope import EntryRef
from execution_service.domain.codec import stream_fields
from execution_service.pipeline.work import OutboxMessage

# KEYS: the fills stream, then the streams whose entries are acknowledged.
# ARGV: channel ('' for none), fills maxlen ('' for no fills stream), consumer group,
#   the number of messages, then per message: its payload, its number of fields, the fields;
#   then per acknowledged stream (in KEYS order): delete it too (1/0), the number of ids, the ids.
_PUBLISH_BATCH = """
local at = 0
local function take() at = at + 1 return ARGV[at] end
local function take_list(n)
  local list = {}
  for k = 1, n do list[k] = take() end
  return list
end
local function in_chunks(ids, call)  -- unpack() has a stack limit
  for first = 1, #ids, 1000 do call(unpack(ids, first, math.min(first + 999, #ids))) end
end
local channel, maxlen, group = take(), take(), take()
for _ = 1, tonumber(take()) do
  local payload = take()
  local fields = take_list(2 * tonumber(take()))
  if channel ~= '' then redis.call('PUBLISH', channel, payload) end
  if maxlen ~= '' then redis.call('XADD', KEYS[1], 'MAXLEN', '~', maxlen, '*', unpack(fields)) end
end
for k = 2, #KEYS do
  local delete = take() == '1'
  local ids = take_list(tonumber(take()))
  in_chunks(ids, function(...) redis.call('XACK', KEYS[k], group, ...) end)
  if delete then in_chunks(ids, function(...) redis.call('XDEL', KEYS[k], ...) end) end
end
return redis.status_reply('OK')
"""
_SHA = hashlib.sha1(_PUBLISH_BATCH.encode()).hexdigest()  # how EVALSHA names it


class Publisher(Protocol):
    """Where committed results go: `ResultPublisher`, or `bus/recording.py`'s fake."""

    async def publish(self, messages: Sequence[OutboxMessage], acks: Sequence[EntryRef]) -> None:
        ...


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
        """Send `messages` and acknowledge `acks` in one round trip."""
        if not messages and not acks:
            return
        args: list[Any] = [self._channel, self._maxlen if self._fills else "", self._group,
                           len(messages)]
        for message in messages:
            fields = stream_fields(message.result) if self._fills else {}
            args += (message.payload, len(fields))
            for field in fields.items():
                args += field
        by_stream: dict[str, list[str]] = defaultdict(list)
        for ref in acks:
            by_stream[ref.stream].append(ref.entry_id)
        for stream, ids in by_stream.items():
            args += ("1" if stream == self._journal else "0", len(ids), *ids)
        keys = [self._fills, *by_stream]
        try:
            await self._run(keys, args)
        except NoScriptError:  # a new or restarted Redis: give it the script, then run it
            await self._redis.script_load(_PUBLISH_BATCH)
            await self._run(keys, args)

    async def _run(self, keys: list[str], args: list[Any]) -> None:
        """EVALSHA, packed by hiredis (C): redis-py packs every argument in Python."""
        command = hiredis.pack_command(("EVALSHA", _SHA, len(keys), *keys, *args))
        pool = self._redis.connection_pool
        connection = await pool.get_connection()  # type: ignore[no-untyped-call]
        try:
            await connection.send_packed_command(command)
            await connection.read_response()
        except ResponseError:
            raise  # the reply was read: the connection is fine
        except BaseException:
            await connection.disconnect()  # its reply may be left unread
            raise
        finally:
            await pool.release(connection)
