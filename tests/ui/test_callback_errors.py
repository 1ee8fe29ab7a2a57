"""A page callback that fails, in a real browser: the user sees a notice with a reference, not a
traceback; the server's log line for the failure carries the same reference (the request id)."""

from __future__ import annotations

import io
import json
import logging
import sys

from dash.testing.wait import until
from selenium.webdriver.common.by import By

from backend.observability import logs
from backend.observability.callback_errors import NOTICE_TITLE


def _notices(dash_duo) -> list[str]:
    return [n.text for n in dash_duo.driver.find_elements(By.CSS_SELECTOR, ".mantine-Notification-root")]


def test_a_failing_page_update_shows_a_notice_whose_reference_is_in_the_log(dash_duo, deskboard_app,
                                                                            monkeypatch) -> None:
    stream = io.StringIO()
    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    logs.configure_logging(stream=stream, level="INFO", fmt="json")
    try:
        dash_duo.start_server(deskboard_app)
        dash_duo.wait_for_page(dash_duo.server_url + "/admin/system")
        until(lambda: dash_duo.find_elements("#system-routes .ag-row"), timeout=20)
        assert _notices(dash_duo) == []

        page = sys.modules["pages.admin_system"]

        def broken(_server, **_how):
            raise KeyError("the figures went missing")

        monkeypatch.setattr(page, "system_summary", broken)  # the page's next refresh fails
        # Each refresh that fails brings its own notice; take one once it has fully drawn.
        until(lambda: [n for n in _notices(dash_duo) if NOTICE_TITLE in n and "Reference: " in n], timeout=20)
        notice = next(n for n in _notices(dash_duo) if NOTICE_TITLE in n and "Reference: " in n)
        assert NOTICE_TITLE in notice and "Traceback" not in notice and "KeyError" not in notice
        reference = notice.rsplit("Reference: ", 1)[1].split()[0]

        def failure_line() -> dict | None:
            for line in stream.getvalue().splitlines():
                record = json.loads(line)
                if record.get("event") == "callback failed" and record.get("request_id") == reference:
                    return record
            return None

        record = until(failure_line, timeout=10, msg=f"no failure logged under {reference}")
        assert record["error"] == "KeyError" and "system-stats.children" in record["callback"]
        assert "the figures went missing" in json.dumps(record["exception"])
        # The page keeps what it showed: the figures are still there under the notice.
        assert dash_duo.find_elements("#system-routes .ag-row")
        assert dash_duo.get_logs() == []
    finally:
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])
