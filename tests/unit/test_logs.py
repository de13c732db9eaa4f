"""A traceback is logged once per cause (the exception's type and the line that raised
it), not once per hostile message or request."""

from __future__ import annotations

import logging

import pytest

from execution_service.logs import OncePerCause


def fail(value: str) -> None:
    int(value)  # ValueError, raised here whatever the value


def fail_elsewhere() -> None:
    raise ValueError("another line")


def caught(call: object, *args: object) -> BaseException:
    try:
        call(*args)  # type: ignore[operator]
    except ValueError as exc:
        return exc
    raise AssertionError("did not raise")


def test_the_same_cause_is_logged_with_its_traceback_once(caplog: pytest.LogCaptureFixture) -> None:
    logger = logging.getLogger("test.once")
    once = OncePerCause(logger)
    with caplog.at_level(logging.DEBUG, logger="test.once"):
        for value in ("x", "y", "z"):
            once.exception("request %s failed", caught(fail, value), value)
        once.exception("other failed", caught(fail_elsewhere))
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert [r.exc_info is not None for r in errors] == [True, True]
    assert [r.getMessage() for r in errors] == ["request x failed", "other failed"]
    assert len([r for r in caplog.records if r.levelno == logging.DEBUG]) == 2
