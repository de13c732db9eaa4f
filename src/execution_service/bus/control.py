"""The control stream: any entry on it engages the kill switch (SPEC 4.4).

Read with plain XREAD from the last entry this service handled, which is stored with the
kill-switch state. A fresh installation starts at the stream's current end, so the old
entries of a previous pipeline are never replayed into a new trigger (the seed pipeline
read from 0-0 and rejected every order for ever).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from redis.asyncio import Redis

from execution_service.domain.commands import SetKillSwitch

log = logging.getLogger(__name__)

Submit = Callable[[SetKillSwitch], Awaitable[object]]


class ControlWatcher:
    """Turns control-stream entries into `SetKillSwitch` commands."""

    def __init__(self, redis: Redis, stream: str, submit: Submit, last_id: str) -> None:
        self._redis = redis
        self._stream = stream
        self._submit = submit
        self.last_id = last_id

    async def read(self) -> None:
        """Follow the stream for ever (one pass of a `keep_running` loop)."""
        if self.last_id == "$":  # Redis was down when the service started
            self.last_id = await stream_end(self._redis, self._stream)
        while True:
            reply: Any = await self._redis.xread({self._stream: self.last_id}, count=100,
                                                 block=1000)
            for _name, entries in reply or []:
                for entry_id, fields in entries:
                    await self._trigger(entry_id.decode(), fields)

    async def _trigger(self, entry_id: str, fields: dict[bytes, bytes]) -> None:
        reason = _reason(fields)
        log.warning("kill switch engaged by %s entry %s: %s", self._stream, entry_id, reason)
        await self._submit(SetKillSwitch(active=True, reason=reason, control_id=entry_id))
        self.last_id = entry_id


async def stream_end(redis: Redis, stream: str) -> str:
    """The id of the newest entry of `stream`, or 0-0 when it is empty or missing."""
    newest: Any = await redis.xrevrange(stream, count=1)
    return str(newest[0][0].decode()) if newest else "0-0"


def _reason(fields: dict[bytes, bytes]) -> str:
    for key in (b"reason", b"message", b"data"):
        if key in fields:
            return fields[key].decode(errors="replace")[:200]
    text = ", ".join(f"{k.decode(errors='replace')}={v.decode(errors='replace')}"
                     for k, v in fields.items())
    return text[:200] or "control stream entry"
