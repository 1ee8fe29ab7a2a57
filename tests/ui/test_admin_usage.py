"""/admin/usage in a real browser: the figures of events recorded through the recorder, in light and dark."""

from __future__ import annotations

import json
from datetime import timedelta

import pandas as pd
import pytest
from dash.testing.wait import until
from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException
from selenium.webdriver.common.by import By

from backend.access.usage import EXTENSION_KEY as USAGE_KEY
from backend.access.usage import install_usage
from backend.warehouse import Warehouse
from components.overview_charts import DARK, LIGHT
from tests.backend.access.usage_support import DAYS, FIRST_DAY, frame, make_events

EVENTS = make_events(seed=9, n=800)
LAST_DAY = FIRST_DAY + timedelta(days=DAYS - 1)
RANGE = f"from={FIRST_DAY}&to={LAST_DAY}"


def _top_view() -> tuple[str, str, str]:
    """The most opened view in the range (page, query) and one of its viewers who can own saved views."""
    df = _expected()
    views = df[df["kind"] == "page_view"].groupby(["route", "search"])["count"].sum().reset_index()
    page, query = views.sort_values(["count", "route", "search"], ascending=[False, True, True]).iloc[0][:2]
    viewers = set(df[(df["kind"] == "page_view") & (df["route"] == page) & (df["search"] == query)]["user"])
    return page, query, min(viewers & {"alice", "bob"})


@pytest.fixture
def usage_app(deskboard_app, fresh_warehouse: Warehouse):
    from backend.meta.views import SavedViews
    from backend.stores import EXTENSION_KEY

    page, query, owner = _top_view()
    SavedViews(deskboard_app.server.extensions[EXTENSION_KEY].meta).create_from_search(owner, "Morning check", page,
                                                                                        query)
    # This test's own recorder on its own database, in place of one the app may have installed.
    installed = deskboard_app.server.extensions.pop(USAGE_KEY, None)
    if installed is not None:
        installed.stop()
    recorder = install_usage(deskboard_app.server, fresh_warehouse, flush_seconds=0.2)
    for event in EVENTS:
        recorder.record(event)
    recorder.flush()
    yield deskboard_app, recorder
    recorder.stop()


def _text(dash_duo, css: str) -> str:
    try:
        return dash_duo.find_element(css).text
    except (NoSuchElementException, StaleElementReferenceException):
        return ""


def _stat(dash_duo, name: str) -> str:
    return _text(dash_duo, f'[id=\'{{"name":"{name}","type":"usage-stat"}}\']')


def _figure(dash_duo, graph: str) -> dict:
    return dash_duo.driver.execute_script(
        "const el = document.querySelector(arguments[0] + ' .js-plotly-plot');"
        "return el && el.data ? {data: el.data.map(t => ({name: t.name, x: t.x, y: t.y, meta: t.meta})),"
        " ink: el.layout.font.color} : null;", f"#{graph}")


def _cell(dash_duo, grid: str, row: str, column: str) -> str:
    row = row.replace("&", "&amp;")  # AG Grid writes row ids into the DOM HTML-escaped
    return _text(dash_duo, f"#{grid} .ag-center-cols-container .ag-row[row-id={json.dumps(row)}] [col-id='{column}']")


def _expected() -> pd.DataFrame:
    df = frame(EVENTS)
    return df[(df["day"] >= FIRST_DAY) & (df["day"] <= LAST_DAY)]


def _check_figures(dash_duo, df: pd.DataFrame) -> None:
    for kind in ("active_users", "page_view", "api_call", "pivot", "job"):
        want = df["user"].nunique() if kind == "active_users" else int(df.loc[df["kind"] == kind, "count"].sum())
        until(lambda k=kind, w=want: _stat(dash_duo, k) == f"{w:,}", timeout=20, msg=f"{kind} tile")
    trend = _figure(dash_duo, "usage-trend")
    per_day = df.groupby(["kind", "day"])["count"].sum()
    days = [(FIRST_DAY + timedelta(days=i)).isoformat() for i in range(DAYS)]
    for trace in trend["data"]:
        assert trace["x"] == days
        want = [int(per_day.get((trace["meta"], d), 0)) for d in (FIRST_DAY + timedelta(days=i) for i in range(DAYS))]
        assert trace["y"] == want, trace["meta"]
    dims = df[df["kind"] == "pivot"].explode("dimensions").groupby("dimensions")["count"].sum()
    shown = _figure(dash_duo, "usage-dimensions")["data"][0]
    assert dict(zip(shown["y"], shown["x"], strict=True)) == {k: int(v) for k, v in dims.items()}
    dau = df.groupby("day")["user"].nunique()
    assert _figure(dash_duo, "usage-dau")["data"][0]["y"] == [int(dau.get(FIRST_DAY + timedelta(days=i), 0))
                                                              for i in range(DAYS)]
    # Tables: the busiest API route and the most opened view, as pandas counts them.
    api = df[df["kind"] == "api_call"].groupby("route")["count"].sum().sort_values(ascending=False)
    until(lambda: _cell(dash_duo, "usage-routes", f"api_call|{api.index[0]}", "calls") == f"{int(api.iloc[0]):,}",
          timeout=20)
    page, query, owner = _top_view()
    if owner in set(df["user"]):  # the saved view's owner opened it: the view carries its saved name
        until(lambda: _cell(dash_duo, "usage-views", f"{page}?{query}", "saved") == "Morning check", timeout=20)


def test_the_usage_page_shows_what_was_recorded_in_light_and_dark(dash_duo, usage_app) -> None:
    app, recorder = usage_app
    dash_duo.start_server(app)
    dash_duo.driver.set_window_size(1366, 900)
    df = _expected()
    dash_duo.wait_for_page(f"{dash_duo.server_url}/admin/usage?{RANGE}")
    _check_figures(dash_duo, df)
    assert _figure(dash_duo, "usage-trend")["ink"] == LIGHT["ink"]
    assert _text(dash_duo, "#usage-notices") == ""

    dash_duo.find_element("#shell-theme-toggle").click()
    until(lambda: _figure(dash_duo, "usage-trend")["ink"] == DARK["ink"], timeout=20)
    until(lambda: _figure(dash_duo, "usage-dimensions")["ink"] == DARK["ink"], timeout=20)
    assert dash_duo.driver.execute_script("return document.documentElement.getAttribute('data-db-theme')") == "dark"
    _check_figures(dash_duo, df)  # the numbers do not change with the colours

    # Picking a user narrows every figure to that user, and the choice lands in the URL.
    user = "chloé"
    dash_duo.find_element("#usage-user").click()
    option = until(lambda: [o for o in dash_duo.driver.find_elements(By.CSS_SELECTOR, "[role='option']")
                            if o.text == user], timeout=10)[0]
    option.click()
    until(lambda: "user=chlo%C3%A9" in dash_duo.driver.current_url, timeout=20)
    _check_figures(dash_duo, df[df["user"] == user])
    dash_duo.find_element("#shell-theme-toggle").click()  # back to light for the next test
    until(lambda: _figure(dash_duo, "usage-trend")["ink"] == LIGHT["ink"], timeout=20)

    # The page's own views were recorded too, with their URL state.
    until(lambda: recorder.written > len(EVENTS), timeout=20)
    views = recorder.warehouse.query_rows(
        "SELECT JSONExtractString(detail, 'search') FROM {db}.usage_events WHERE kind = 'page_view' "
        "AND route = '/admin/usage' AND day = today()")
    assert f"from={FIRST_DAY}&to={LAST_DAY}&user=chlo%C3%A9" in {q for (q,) in views}
    assert dash_duo.get_logs() == []


@pytest.mark.parametrize("query", [
    "from=garbage&to=2026-13-45",
    "from=1900-01-01&to=2999-12-31",
    "from=2026-03-20&to=2026-03-01",
    "user=" + "x" * 10_000,
    "user=%27%3B%20DROP%20TABLE%20usage_events%3B--&from=%00",
])
def test_bad_url_values_get_a_notice_and_defaults(dash_duo, usage_app, query: str) -> None:
    app, recorder = usage_app
    dash_duo.start_server(app)
    dash_duo.driver.set_window_size(1366, 900)
    dash_duo.wait_for_page(f"{dash_duo.server_url}/admin/usage?{query}")
    until(lambda: "Active users" in _text(dash_duo, "#usage-stats"), timeout=20)
    if "DROP" not in query:
        until(lambda: _text(dash_duo, "#usage-notices") != "", timeout=20)
    else:  # an odd user name is just a name nobody has: nothing found, nothing broken
        until(lambda: _text(dash_duo, "#usage-notices") != "", timeout=20)  # the %00 date
        assert _stat(dash_duo, "active_users") == "0"
    assert recorder.warehouse.query_rows("SELECT count() FROM {db}.usage_events WHERE day < today()")[0][0] == len(
        EVENTS)
    assert dash_duo.get_logs() == []


def test_the_kiosk_view_hides_the_controls_and_is_dark(dash_duo, usage_app) -> None:
    app, _ = usage_app
    dash_duo.start_server(app)
    dash_duo.driver.set_window_size(1366, 900)
    dash_duo.wait_for_page(f"{dash_duo.server_url}/admin/usage?{RANGE}&kiosk=1")
    _check_figures(dash_duo, _expected())
    until(lambda: _figure(dash_duo, "usage-trend")["ink"] == DARK["ink"], timeout=20)
    assert not dash_duo.find_element("#usage-dates").is_displayed()
    assert dash_duo.get_logs() == []


def test_without_a_recorder_the_page_says_usage_is_not_recorded(dash_duo, deskboard_app) -> None:
    installed = deskboard_app.server.extensions.pop(USAGE_KEY, None)
    if installed is not None:
        installed.stop()
    dash_duo.start_server(deskboard_app)
    dash_duo.wait_for_page(f"{dash_duo.server_url}/admin/usage")
    until(lambda: "not recorded" in _text(dash_duo, "#usage-notices"), timeout=20)
    assert _stat(dash_duo, "page_view") == "0"
    assert dash_duo.get_logs() == []


def test_a_kiosk_tick_redraws_the_same_view_with_the_newest_events(usage_app) -> None:
    import sys

    app, recorder = usage_app
    page = sys.modules["pages.admin_usage"]
    with app.server.test_request_context("/_dash-update-component", method="POST"):
        before = page.refresh(1, f"?{RANGE}&kiosk=1")
        recorder.record(EVENTS[0].__class__("job", "late", route="export", time=EVENTS[0].time))
        recorder.flush()
        after = page.refresh(2, f"?{RANGE}&kiosk=1")
    df = _expected()
    jobs = int(df.loc[df["kind"] == "job", "count"].sum())
    job_y = {t["meta"]: sum(t["y"]) for t in before["trend"]["data"]}["job"]
    assert job_y == jobs
    assert {t["meta"]: sum(t["y"]) for t in after["trend"]["data"]}["job"] == jobs + 1
    assert after["drawn"] == 2 and after["notices"] == []


@pytest.mark.parametrize(("dates", "user", "search", "href"), [
    (["2026-03-01", "2026-03-05"], None, "", "/admin/usage?from=2026-03-01&to=2026-03-05"),
    (["2026-03-01T00:00:00", "2026-03-05"], "chloé", "?kiosk=1&from=x&junk=1",
     "/admin/usage?from=2026-03-01&to=2026-03-05&user=chlo%C3%A9&kiosk=1"),
    (["2026-03-01", None], "bob", "", None),  # the second date is still being picked
    (None, "bob", "", None),
    ("2026-03-01", "bob", "", None),
])
def test_the_chosen_dates_and_user_become_the_url(deskboard_app, dates, user, search, href) -> None:
    import sys

    page = sys.modules["pages.admin_usage"]  # imported by the app, as Dash imports pages
    assert page.usage_href(dates, user, search) == href
