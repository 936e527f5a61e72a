"""Which call a log line is about: `call_id` and `session_id` carried in a context variable, so every line
logged while a call is handled (by any task it starts) names it without each call site passing it on."""

from __future__ import annotations

import contextlib
import copy
import logging
from collections.abc import Iterator
from contextvars import ContextVar
from typing import Any

_CALL: ContextVar[tuple[str, str]] = ContextVar("voxline_call", default=("-", "-"))
FORMAT = "%(asctime)s %(levelname)s %(name)s call_id=%(call_id)s session_id=%(session_id)s: %(message)s"


@contextlib.contextmanager
def log_context(call_id: str, session_id: str | None = None) -> Iterator[None]:
    token = _CALL.set((call_id, session_id or "-"))
    try:
        yield
    finally:
        _CALL.reset(token)


class CallFilter(logging.Filter):
    """Adds `call_id` and `session_id` to every record (a dash outside a call), for a handler's format."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.call_id, record.session_id = _CALL.get()
        return True


def logging_config(base: dict[str, Any], level: str) -> dict[str, Any]:
    """A `logging.config.dictConfig` (uvicorn's `log_config`, applied in every worker process) that adds a
    stderr handler for the `voxline` loggers whose lines carry the call."""
    config = copy.deepcopy(base)
    config.setdefault("filters", {})["voxline_call"] = {"()": f"{__name__}.CallFilter"}
    config.setdefault("formatters", {})["voxline"] = {"format": FORMAT}
    config.setdefault("handlers", {})["voxline"] = {
        "class": "logging.StreamHandler",
        "stream": "ext://sys.stderr",
        "formatter": "voxline",
        "filters": ["voxline_call"],
    }
    config.setdefault("loggers", {})["voxline"] = {"handlers": ["voxline"], "level": level.upper(), "propagate": False}
    return config
