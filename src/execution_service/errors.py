"""The exception tree of the service.

    ExecutionServiceError
    ├── ConfigError            bad configuration: stop at start, exit code 2
    ├── InvalidMessage         an intake payload that cannot become a command
    ├── DatabaseUnavailable    the database did not answer: keep the batch, retry
    └── WriteConflict          another writer changed what the batch read: re-run it
"""

from __future__ import annotations

from typing import Any


class ExecutionServiceError(Exception):
    """Base of every error this package raises on purpose."""


class ConfigError(ExecutionServiceError):
    """A setting is invalid; the message is one line naming the variable."""


class InvalidMessage(ExecutionServiceError):
    """An intake payload was malformed, wrong-typed or hostile.

    `client_id` is set when one could be read, so the rejection can be reported to the
    sender; `reason` is the human message; `fingerprint` tells two copies of the message
    apart from two different messages under one client_id; `fields` holds what could be
    read of the order (symbol, side, quantity, ...), echoed in the rejection.
    """

    def __init__(self, reason: str, client_id: str | None = None, fingerprint: str | None = None,
                 fields: dict[str, Any] | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.client_id = client_id
        self.fingerprint = fingerprint
        self.fields = fields or {}


class DatabaseUnavailable(ExecutionServiceError):
    """The database did not answer; the work in hand is kept and retried."""


class WriteConflict(ExecutionServiceError):
    """Another writer got there first (a client_id, or a balance changed meanwhile).

    The batch is re-read and executed again; nothing of it was committed.
    """
