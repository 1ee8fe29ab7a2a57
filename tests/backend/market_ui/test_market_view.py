"""The market view on a recorded session, checked against pandas over the raw messages, and the
changes protocol: a screen applying answers always holds exactly what the view holds."""

from __future__ import annotations

import json
import random
from datetime import datetime, timedelta, timezone

import pandas as pd
import pytest

from backend.market.core import MarketCore
from backend.market.feed.replay import read_messages
from backend.market.market_view import SERIES, MarketViewBuilder, chart_x, parse_cursor
from backend.market.reference import LUNCH_END, LUNCH_START, vn_seconds_of_day
from tests.backend.market.conftest import SESSION_FILE

VN = timezone(timedelta(hours=7))


@pytest.fixture(scope="module")
def messages() -> list[str]:
    return list(read_messages(SESSION_FILE))


@pytest.fixture(scope="module")
def raw(messages: list[str]) -> pd.DataFrame:
    rows = []
    for message in messages:
        outer = json.loads(message)
        content = json.loads(outer["Content"])
        when = datetime.strptime(f"{content['TradingDate']} {content['Time']}", "%d/%m/%Y %H:%M:%S")
        rows.append({"channel": outer["DataType"], "ts": when.replace(tzinfo=VN).timestamp(), **content})
    return pd.DataFrame(rows)


@pytest.fixture(scope="module")
def caught_up(messages: list[str]):
    """The whole day applied at once and viewed once: a session caught up in a single tick."""
    core = MarketCore()
    core.process_many(messages)
    _, rows = core.changed_rows(0)
    return MarketViewBuilder().build(core.summary(), rows)


def _points(series) -> list[tuple[int, tuple]]:
    """(x, values) of the points that are not the lunch gap."""
    cols = list(series.cols.values())
    return [(x, tuple(c[i] for c in cols)) for i, x in enumerate(series.x) if cols[0][i] is not None]


def test_index_minutes_and_traded_value_per_minute_match_pandas(caught_up, raw: pd.DataFrame) -> None:
    mi = raw[raw["channel"] == "MI"].sort_values("ts", kind="stable").copy()
    for key, index_id in (("vn30", "VN30"), ("vnindex", "VNINDEX")):
        frame = mi[mi["IndexId"] == index_id].copy()
        frame["minute"] = frame["ts"] - frame["ts"] % 60
        # Nothing traded while the day's volume is zero, whatever the value field says.
        frame.loc[frame["AllQty"] == 0, "AllValue"] = 0.0
        by_minute = frame.groupby("minute").agg(value=("IndexValue", "last"), total=("AllValue", "last"),
                                                first_total=("AllValue", "first"))
        traded = by_minute["total"].diff()
        first = by_minute["total"].first_valid_index()
        traded[first] = by_minute.loc[first, "total"] - by_minute.loc[first, "first_total"]
        points = _points(caught_up.series[key])
        assert [x for x, _ in points] == [chart_x(m) for m in by_minute.index]
        assert [v[0] for _, v in points] == by_minute["value"].tolist()
        for (_, (_, flow)), expected in zip(points, traded.tolist(), strict=True):
            if pd.isna(expected):
                assert flow is None
            else:
                assert flow == pytest.approx(expected / 1e9)


def test_the_lunch_break_is_one_gap_point_between_morning_and_afternoon(caught_up) -> None:
    for name in SERIES:
        series = caught_up.series[name]
        gaps = [i for i, v in enumerate(next(iter(series.cols.values()))) if v is None and
                all(c[i] is None for c in series.cols.values())]
        assert len(gaps) == 1, name
        i = gaps[0]
        before, after = (series.x[i - 1] / 1000 - 7 * 3600, series.x[i + 1] / 1000 - 7 * 3600)
        assert vn_seconds_of_day(before) < LUNCH_START and vn_seconds_of_day(after) >= LUNCH_END
        assert series.x[i - 1] < series.x[i] < series.x[i + 1]


def test_foreign_speed_has_every_minute_in_event_time_matching_pandas(caught_up, raw: pd.DataFrame) -> None:
    r = raw[raw["channel"] == "R"].sort_values("ts", kind="stable").copy()
    # A symbol's first totals seen after 09:05 are a baseline (the session so far), not flow.
    first_late = ~r["Symbol"].duplicated() & (r["Time"] > "09:05:00")
    r["d_buy"] = r.groupby("Symbol")["FBuyVal"].diff().fillna(r["FBuyVal"]).where(~first_late, 0.0)
    r["d_sell"] = r.groupby("Symbol")["FSellVal"].diff().fillna(r["FSellVal"]).where(~first_late, 0.0)
    flow = r[(r["d_buy"] > 0) | (r["d_sell"] > 0)]
    ts, buy, sell = flow["ts"].to_numpy(), flow["d_buy"].to_numpy(), flow["d_sell"].to_numpy()
    # A point for every minute with any message once flow has started: the speed after the minute's
    # last flow, or as the minute began when no flow came in it.
    events = raw[raw["channel"] != "B"].sort_values("ts", kind="stable")
    events = events[events["ts"] >= ts.min()].assign(minute=lambda f: f["ts"] - f["ts"] % 60)
    expected = []
    for minute, group in events.groupby("minute"):
        in_minute = ts[(ts >= minute) & (ts < minute + 60)]
        at = in_minute.max() if len(in_minute) else group["ts"].min()
        window = (ts > at - 300) & (ts <= at)
        expected.append((chart_x(minute), (buy[window].sum() / 5 / 1e9, -sell[window].sum() / 5 / 1e9)))
    got = _points(caught_up.series["foreign"])
    assert [x for x, _ in got] == [x for x, _ in expected]
    for (_, values), (_, want) in zip(got, expected, strict=True):
        assert values == pytest.approx(want, abs=1e-9)


def _apply(screen: dict, answer: dict) -> None:
    """What assets/market.js does with an answer: keep the points before ``from``, append the rest."""
    for name, tail in answer["series"].items():
        held = screen["series"].setdefault(name, {"x": [], "cols": {c: [] for c in SERIES[name]}})
        keep = 0 if answer["full"] else tail["from"]
        held["x"] = held["x"][:keep] + tail["x"]
        for col, values in tail["cols"].items():
            held["cols"][col] = held["cols"][col][:keep] + values
    screen["parts"].update(answer["parts"])
    screen["cursor"] = {"run": answer["run"], "v": answer["v"], "n": answer["n"]}


def _holds(screen: dict, view) -> bool:
    return all(screen["series"][name]["x"] == list(series.x)
               and screen["series"][name]["cols"] == {c: list(v) for c, v in series.cols.items()}
               for name, series in view.series.items()) and screen["parts"] == dict(view.parts)


def test_a_screen_applying_answers_always_holds_what_the_view_holds(messages: list[str]) -> None:
    rng = random.Random(3)
    core, builder = MarketCore(), MarketViewBuilder()
    screen: dict = {"cursor": None, "series": {}, "parts": {}}
    start, applied, versions = 0, 0, []
    while start < len(messages):
        step = rng.randint(1, 120)
        core.process_many(messages[start:start + step])
        start += step
        _, rows = core.changed_rows(0)
        view = builder.build(core.summary(), rows)
        versions.append(view.version)
        if rng.random() < 0.4:
            continue  # this screen skips some versions
        answer = view.changes(screen["cursor"])
        if screen["cursor"] is not None and not answer["full"]:
            # The earliest change the screen has not seen: the first version after the one it holds.
            assert answer["first"] == min(v for v in versions if v > screen["cursor"]["v"])
        _apply(screen, answer)
        applied += 1
        assert _holds(screen, view)
    assert applied > 10
    _apply(screen, view.changes(screen["cursor"]))
    assert _holds(screen, view)
    # A screen that holds everything is told nothing.
    last = view.changes(screen["cursor"])
    assert last["series"] == {} and last["parts"] == {} and not last["full"]


def test_screens_at_the_same_cursor_share_one_answer_and_bad_cursors_get_everything(caught_up) -> None:
    cursor = caught_up.cursor()
    assert caught_up.changes(dict(cursor)) is caught_up.changes(dict(cursor))
    full = caught_up.changes(None)
    assert full["full"] and set(full["series"]) == set(SERIES)
    bad = [
        None, "", 5, [], {"run": cursor["run"]}, {**cursor, "v": -1}, {**cursor, "v": "1"}, {**cursor, "v": True},
        {**cursor, "v": 2**60}, {**cursor, "run": "x" * 41}, {**cursor, "run": "another-run"},
        {**cursor, "n": {}}, {**cursor, "n": {**cursor["n"], "vn30": -1}}, {**cursor, "n": {**cursor["n"], "x": 1}},
        {**cursor, "n": {**cursor["n"], "vn30": len(caught_up.series["vn30"]) + 1}},
        {**cursor, "v": caught_up.version + 1}, {**cursor, "extra": 1},
        {**cursor, "n": {k: 10**9 for k in cursor["n"]}},
    ]
    for raw in bad:
        answer = caught_up.changes(raw)
        assert answer["full"], raw
        assert [len(s["x"]) for s in answer["series"].values()] == [len(s) for s in caught_up.series.values()]
    assert parse_cursor(cursor) is not None


def test_a_view_is_new_only_when_something_shown_changed(messages: list[str]) -> None:
    core, builder = MarketCore(), MarketViewBuilder()
    core.process_many(messages[:800])
    _, rows = core.changed_rows(0)
    first = builder.build(core.summary(), rows)
    assert builder.build(core.summary(), rows) is first
    core.process_many(messages[800:900])
    _, rows = core.changed_rows(0)
    second = builder.build(core.summary(), rows)
    assert second.version > first.version
    # Parts that did not change keep their version, so a screen is not sent them again.
    unchanged = [k for k in second.parts if second.parts[k] == first.parts[k]]
    assert all(second.part_versions[k] == first.part_versions[k] for k in unchanged)
    answer = second.changes(first.cursor())
    assert set(answer["parts"]) == {k for k in second.parts if k not in unchanged}
