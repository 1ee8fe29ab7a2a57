"""Structured logs: one JSON object per line, with the request id of the request that wrote it.

Every logger in the process (the standard library's, Flask's, the app's own) goes
through one handler whose formatter is structlog's: a line written while a request
is being served carries ``request_id`` (bound in a context variable for that
request, see ``requests.py``), so one id finds every line of one request — and the
same id is in the response's ``X-Request-ID`` header for the user to quote.

``DESKBOARD_LOG_FORMAT=console`` gives readable lines for a terminal instead;
``DESKBOARD_LOG_LEVEL`` sets the level (``INFO`` by default).
"""

from __future__ import annotations

import logging
import os
import re
import sys
import uuid
from typing import Any, TextIO

import structlog

REQUEST_ID_HEADER = "X-Request-ID"
# An incoming id is kept only when it is short, printable and unambiguous in a log search;
# anything else (oversized, control characters, quotes, spaces) is replaced by a new id.
_SANE_REQUEST_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{7,127}")
_HANDLER_MARK = "_deskboard_structured"
LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


def new_request_id() -> str:
    return uuid.uuid4().hex


def accept_request_id(incoming: str | None) -> str:
    """The client's id when it is sane (8–128 of ``A-Z a-z 0-9 . _ : -``), otherwise a new one."""
    if incoming and _SANE_REQUEST_ID.fullmatch(incoming):
        return incoming
    return new_request_id()


_pid = [os.getpid()]
os.register_at_fork(after_in_child=lambda: _pid.__setitem__(0, os.getpid()))


def _add_pid(_logger: Any, _method: str, event_dict: dict[str, Any]) -> dict[str, Any]:
    # Which gunicorn worker wrote the line; read once per process (a system call per line is not free).
    event_dict.setdefault("pid", _pid[0])
    return event_dict


def _shared_processors() -> list[Any]:
    return [
        structlog.contextvars.merge_contextvars,
        _add_pid,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.stdlib.ExtraAdder(),
    ]


def _formatter(fmt: str) -> structlog.stdlib.ProcessorFormatter:
    if fmt == "console":
        renderer: Any = structlog.dev.ConsoleRenderer(colors=False)
        final: list[Any] = [structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer]
    else:
        final = [
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.dict_tracebacks,
            structlog.processors.JSONRenderer(default=str),
        ]
    return structlog.stdlib.ProcessorFormatter(foreign_pre_chain=_shared_processors(), processors=final)


def configure_logging(*, stream: TextIO | None = None, level: str | None = None, fmt: str | None = None) -> None:
    """Route every logger through one structured handler (idempotent: a second call changes nothing new).

    A plain ``logging.StreamHandler`` left by ``logging.basicConfig`` is replaced, so lines are
    not written twice; other handlers (a test's log capture, a file handler) are left alone.
    """
    level = (level or os.environ.get("DESKBOARD_LOG_LEVEL", "INFO")).upper()
    if level not in LEVELS:
        level = "INFO"
    fmt = (fmt or os.environ.get("DESKBOARD_LOG_FORMAT", "json")).lower()
    structlog.configure(
        # Level first: a line below the level costs one check, not the whole chain.
        processors=[structlog.stdlib.filter_by_level, *_shared_processors(),
                    structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    # Records would look up the process and its multiprocessing name on every line; the pid is added
    # above from a value read once per process instead.
    logging.logProcesses = False
    logging.logMultiprocessing = False
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, _HANDLER_MARK, False) or type(handler) is logging.StreamHandler:
            root.removeHandler(handler)
    handler = logging.StreamHandler(stream or sys.stderr)
    setattr(handler, _HANDLER_MARK, True)
    handler.setFormatter(_formatter(fmt))
    root.addHandler(handler)
    root.setLevel(level)
    werkzeug = logging.getLogger("werkzeug")
    if not any(isinstance(f, _DropAccessLines) for f in werkzeug.filters):
        werkzeug.addFilter(_DropAccessLines())


class _DropAccessLines(logging.Filter):
    """Each request gets one structured access line (requests.py); the development server's own
    access line would repeat it without the request id. Its other lines (start-up) stay."""

    def filter(self, record: logging.LogRecord) -> bool:
        msg = record.msg
        # werkzeug strips the line end before logging: match the access line's format either way.
        return not (isinstance(msg, str) and " - - [" in msg and msg.rstrip().endswith('"%s" %s %s'))


def bind_request(request_id: str, **values: Any) -> None:
    """Start a request's log context (a thread serves many requests: the old one is cleared)."""
    structlog.contextvars.clear_contextvars()
    structlog.contextvars.bind_contextvars(request_id=request_id, **values)


def unbind_request() -> None:
    structlog.contextvars.clear_contextvars()


def get_logger(name: str) -> Any:
    return structlog.get_logger(name)
