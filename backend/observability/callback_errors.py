"""What happens when a Dash callback raises: one log line with the request id, one count, one notice.

The user sees a short notice naming the request id (so a report can be matched to the
log line) instead of a traceback or a view that silently stopped updating; the
callback's outputs are left as they were. The notice is shown through a function the
app passes in (``dash.set_props``): this package never imports Dash.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import has_request_context

from backend.observability import logs, metrics
from backend.observability.requests import UNKNOWN_CALLBACK, current_callback, current_request_id

# The shell's notification container (components/shell.py).
NOTICE_TARGET = "shell-notifications"
NOTICE_TITLE = "This view could not be updated"

Notify = Callable[[str, dict[str, Any]], None]
log = logs.get_logger("deskboard.callbacks")


def notice(request_id: str, detail: str | None = None) -> dict[str, Any]:
    """``detail``: an error's own ``user_message`` (written for users: e.g. which server is down)."""
    what = detail.rstrip(".") if detail else "The server could not complete this update; it has been logged"
    return {
        "id": f"callback-error-{request_id}",
        "action": "show",
        "title": NOTICE_TITLE,
        "message": f"{what}. Reference: {request_id}",
        "color": "red",
        "autoClose": False,
    }


def callback_error_handler(notify: Notify | None = None,
                           previous: Callable[[Exception], Any] | None = None) -> Callable[[Exception], Any]:
    """A Dash ``on_error`` handler; ``previous`` (an earlier handler) still runs and its answer wins."""

    def on_callback_error(err: Exception) -> Any:
        in_request = has_request_context()
        callback = (current_callback() if in_request else None) or UNKNOWN_CALLBACK
        request_id = (current_request_id() if in_request else None) or logs.new_request_id()
        metrics.CALLBACK_ERRORS.labels(callback=callback).inc()
        log.error("callback failed", callback=callback, error=type(err).__name__,
                  exc_info=(type(err), err, err.__traceback__))
        if notify is not None:
            try:
                detail = getattr(err, "user_message", None)
                notify(NOTICE_TARGET, {"sendNotifications": [notice(request_id, detail if isinstance(detail, str) else None)]})
            except Exception as exc:  # noqa: BLE001 - the notice is a courtesy; the log line is the record
                log.warning("callback error notice not shown", error=type(exc).__name__)
        return previous(err) if previous is not None else None

    return on_callback_error
