"""Every outcome of a command has its HTTP status: none falls through to a default."""

from __future__ import annotations

from execution_service.api.routes.orders import STATUS_CODES
from execution_service.bus.envelope import Outcome


def test_every_outcome_has_its_http_status() -> None:
    assert set(STATUS_CODES) == set(Outcome)
