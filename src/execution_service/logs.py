"""Log setup: one JSON object per line (default) or plain text for humans."""

from __future__ import annotations

import logging
import sys
from datetime import UTC, datetime

import orjson

_RESERVED = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    """`{"ts", "level", "logger", "message", ...extra, "exc"}` per record."""

    def format(self, record: logging.LogRecord) -> str:
        document = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        document.update({k: v for k, v in vars(record).items() if k not in _RESERVED})
        if record.exc_info:
            document["exc"] = self.formatException(record.exc_info)
        return orjson.dumps(document, default=str).decode()


def configure(level: str, fmt: str) -> None:
    """Send every log record to stderr in the chosen format."""
    handler = logging.StreamHandler(sys.stderr)
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for noisy in ("uvicorn.access", "alembic.runtime.migration"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))


class OncePerCause:
    """Logs a traceback once per distinct cause (exception type and the place it was
    raised), then only counts: a hostile input sent a thousand times is one traceback."""

    def __init__(self, logger: logging.Logger, limit: int = 1000) -> None:
        self._logger = logger
        self._seen: set[tuple[str, str, int]] = set()
        self._limit = limit  # distinct causes remembered; beyond it every one is logged

    def exception(self, message: str, exc: BaseException, *args: object) -> None:
        """Log `message % args` with `exc`'s traceback the first time its cause is seen."""
        cause = _cause(exc)
        if cause in self._seen:
            self._logger.debug(message, *args)
            return
        if len(self._seen) < self._limit:
            self._seen.add(cause)
        self._logger.error(message, *args, exc_info=exc)


def _cause(exc: BaseException) -> tuple[str, str, int]:
    frame = exc.__traceback__
    while frame is not None and frame.tb_next is not None:
        frame = frame.tb_next
    if frame is None:
        return type(exc).__name__, "", 0
    return type(exc).__name__, frame.tb_frame.f_code.co_filename, frame.tb_lineno
