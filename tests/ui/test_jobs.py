"""The pivot page's "Export all trades (job)" in the browser: queue, progress, completion, download, cancel.

The app runs one job at a time here, so a job started elsewhere (another tab, the API)
makes the export wait visibly in the queue. What the page shows is checked against
the job record, and the downloaded file against DuckDB over the same Parquet files.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest
from dash.testing.wait import until
from selenium.common.exceptions import StaleElementReferenceException

from backend.jobs import JobRunner, JobSettings, JobState
from backend.jobs.runtime import install_jobs
from backend.stores import EXTENSION_KEY

# The control's callbacks are hooks: its module is imported before any app is built.
from components.job_progress import POLL_MS

DATES = ("2024-01-02", "2024-02-29")  # every fixture day: the export takes a few polls
PAGE = f"/pivot?rows=desk&date={DATES[0]}..{DATES[1]}"
LABEL = "Export all trades (job)"
# Records every text the control shows (polled answers can be short-lived).
RECORD_TEXTS = """
const el = document.querySelector(arguments[0]);
window.__jobTexts = [el.textContent];
new MutationObserver(() => window.__jobTexts.push(el.textContent))
    .observe(el, {childList: true, characterData: true, subtree: true});
"""


def _sel(part: str) -> str:
    return f"[id*='\"aio_id\":\"pivot-trades\"'][id*='\"part\":\"{part}\"']"


def _read(dash_duo, read):
    try:
        return read()
    except StaleElementReferenceException:
        return None


def _text(dash_duo) -> str:
    return _read(dash_duo, lambda: dash_duo.find_element(_sel("text")).text) or ""


def _enabled(dash_duo, part: str) -> bool:
    return bool(_read(dash_duo, lambda: dash_duo.find_element(_sel(part)).is_enabled()))


@pytest.fixture
def jobs_app(deskboard_app) -> Iterator[tuple[object, JobRunner]]:
    server = deskboard_app.server
    # One job at a time, in place of whatever runner the app started with.
    runner = install_jobs(server, server.extensions[EXTENSION_KEY],
                          JobSettings(runner="embedded", concurrency=1, heartbeat_seconds=0.5), replace=True)
    yield deskboard_app, runner
    runner.stop(5.0)


def _blocker(runner: JobRunner) -> int:
    """A job started elsewhere that holds the one slot until it is cancelled."""
    job = runner.submit("probe", {"steps": 2_000, "step_seconds": 0.05}, "local")
    until(lambda: runner.get(job.id).state == JobState.RUNNING, timeout=30)
    return job.id


def _expected_rows(trades_folder: Path) -> int:
    (count,), = duckdb.sql(
        f"SELECT count(*) FROM read_parquet('{trades_folder}/trades_1d/*.parquet') "
        f"WHERE trade_date BETWEEN DATE '{DATES[0]}' AND DATE '{DATES[1]}' "
        "AND exposure_type IN ('Direct', 'ETF', 'ETC')").fetchall()
    return int(count)


def test_export_all_trades_as_a_job_waits_runs_completes_downloads_and_cancels(
        dash_duo, jobs_app, trades_folder: Path) -> None:
    app, runner = jobs_app
    dash_duo.start_server(app)
    dash_duo.driver.get(dash_duo.server_url + PAGE)
    dash_duo.wait_for_text_to_equal(_sel("start"), LABEL, timeout=30)
    assert not _enabled(dash_duo, "cancel")

    # 1. Another job holds the only slot: the export waits, first in line, and says so.
    blocker = _blocker(runner)
    dash_duo.driver.execute_script(RECORD_TEXTS, _sel("text"))
    dash_duo.find_element(_sel("start")).click()
    until(lambda: _text(dash_duo) == "Queued — 1st in line", timeout=30)
    until(lambda: _enabled(dash_duo, "cancel") and not _enabled(dash_duo, "start"), timeout=10)
    export = runner.list(kind="trades_csv")[0]
    assert export.state == JobState.QUEUED and export.queue_position == 1
    assert export.parameters["view"].startswith("?") and f"date={DATES[0]}" in export.parameters["view"]

    # 2. The slot frees up: the export runs to completion and offers its file.
    runner.cancel(blocker, "local")
    until(lambda: _text(dash_duo).startswith("Completed — "), timeout=60)
    done = runner.get(export.id)
    assert done.state == JobState.COMPLETED
    assert _text(dash_duo) == f"Completed — {done.message}"
    seen = dash_duo.driver.execute_script("return window.__jobTexts")
    assert "Queued — 1st in line" in seen
    running = [t for t in seen if t.startswith("Running — ")]
    if (done.finished_at - done.started_at).total_seconds() * 1000 > 2 * POLL_MS:
        assert running, seen  # it ran for several polls: progress was drawn on the way
    # Claimed but not yet counting ("started", the runner's own word), or counting rows.
    progress = r"Running — 0% · started|Running — [0-9.]+% · [0-9,]+ of [0-9,]+ rows"
    assert all(re.fullmatch(progress, t) for t in running), running
    bar = dash_duo.find_element(f"{_sel('bar')} [role='progressbar']")
    assert bar.get_attribute("aria-valuenow") == "100"
    assert _enabled(dash_duo, "start") and not _enabled(dash_duo, "cancel")

    link = dash_duo.find_element(_sel("link"))
    assert link.text == f"Download {done.result['file']}"
    assert link.get_attribute("href").endswith(f"/api/v1/jobs/{done.id}/result")
    body = dash_duo.driver.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "fetch(arguments[0]).then(r => r.text().then(t => done([r.status, t])));", link.get_attribute("href"))
    assert body[0] == 200
    rows = list(csv.reader(io.StringIO(body[1])))
    assert {"trade_id", "trade_date", "pnl"} <= set(rows[0]) and len(rows) - 1 == _expected_rows(trades_folder) == done.result["rows"]

    # 3. A reload finds the job again from the record.
    dash_duo.driver.refresh()
    until(lambda: _text(dash_duo) == f"Completed — {done.message}", timeout=30)

    # 4. Another export, cancelled while it waits: it never starts and leaves no file.
    blocker = _blocker(runner)
    dash_duo.find_element(_sel("start")).click()
    until(lambda: _text(dash_duo) == "Queued — 1st in line", timeout=30)
    second = runner.list(kind="trades_csv")[0]
    assert second.id != done.id
    until(lambda: _enabled(dash_duo, "cancel"), timeout=10)
    dash_duo.find_element(_sel("cancel")).click()
    until(lambda: _text(dash_duo) == "Cancelled — cancelled before it started", timeout=30)
    cancelled = runner.get(second.id)
    assert cancelled.state == JobState.CANCELLED and cancelled.started_at is None
    assert not _read(dash_duo, lambda: dash_duo.find_element(_sel("link")).is_displayed())
    runner.cancel(blocker, "local")
    until(lambda: runner.get(blocker).finished, timeout=30)
    assert _enabled(dash_duo, "start")

    assert dash_duo.get_logs() == []
