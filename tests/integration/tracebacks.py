"""A test module that uses these fixtures fails any test during which something in the
test process logged a traceback or an ERROR (the dashboard served in-process must answer
every request, however forged or however stale its data, without one).

Import both names into the module: ``from .tracebacks import _no_traceback, tracebacks``.
"""

from __future__ import annotations

import logging

import pytest


class Tracebacks(logging.Handler):
    """Every log record with a traceback, or at ERROR and above."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.exc_info or record.levelno >= logging.ERROR:
            self.records.append(record)


@pytest.fixture(scope="module")
def tracebacks():
    """The records logged so far in the module (cleared after each test)."""
    handler = Tracebacks()
    logging.getLogger().addHandler(handler)
    try:
        yield handler.records
    finally:
        logging.getLogger().removeHandler(handler)


@pytest.fixture(autouse=True)
def _no_traceback(tracebacks):
    yield
    logged = list(tracebacks)
    tracebacks.clear()
    assert not logged, [(r.name, r.getMessage()[:300]) for r in logged]
