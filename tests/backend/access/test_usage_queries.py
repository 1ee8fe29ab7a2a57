"""Usage questions answered by the warehouse agree with pandas over the same events."""

from __future__ import annotations

from datetime import date, timedelta

import pandas as pd
import pytest

from backend.access import usage_queries as uq
from backend.access.usage import UsageRecorder
from backend.warehouse import Warehouse
from tests.backend.access.usage_support import DAYS, FIRST_DAY, USERS, frame, make_events

EVENTS = make_events()
FULL = uq.usage_filter(FIRST_DAY, FIRST_DAY + timedelta(days=DAYS))
PART = uq.usage_filter(FIRST_DAY + timedelta(days=3), FIRST_DAY + timedelta(days=9), USERS[4])


@pytest.fixture
def loaded(fresh_warehouse: Warehouse) -> Warehouse:
    recorder = UsageRecorder(fresh_warehouse)
    for event in EVENTS:
        recorder.record(event)
    assert recorder.flush() == len(EVENTS)
    return fresh_warehouse


def _within(df: pd.DataFrame, f: uq.UsageFilter) -> pd.DataFrame:
    out = df[(df["day"] >= f.start) & (df["day"] <= f.end)]
    return out[out["user"] == f.user] if f.user else out


@pytest.mark.parametrize("f", [FULL, PART], ids=["all", "one-user-one-week"])
def test_totals_and_daily_active_users_match_pandas(loaded: Warehouse, f: uq.UsageFilter) -> None:
    df = _within(frame(EVENTS), f)
    got = uq.totals(loaded, f)
    assert got["active_users"] == df["user"].nunique()
    for kind in ("page_view", "api_call", "callback", "pivot", "job"):
        assert got[kind] == int(df.loc[df["kind"] == kind, "count"].sum()), kind
    dau = df.groupby("day")["user"].nunique()
    assert uq.daily_active_users(loaded, f) == [(d, int(n)) for d, n in dau.items()]


@pytest.mark.parametrize("f", [FULL, PART], ids=["all", "one-user-one-week"])
def test_trend_by_kind_matches_pandas(loaded: Warehouse, f: uq.UsageFilter) -> None:
    df = _within(frame(EVENTS), f)
    expected = df.groupby(["day", "kind"])["count"].sum()
    assert uq.trend(loaded, f) == [(d, k, int(n)) for (d, k), n in expected.items()]


@pytest.mark.parametrize("column", ["dimensions", "metrics"])
def test_top_dimensions_and_metrics_match_pandas(loaded: Warehouse, column: str) -> None:
    df = _within(frame(EVENTS), FULL)
    items = df[df["kind"] == "pivot"].explode(column)
    expected = items.groupby(column).agg(uses=("count", "sum"), users=("user", "nunique")).reset_index()
    expected = expected.sort_values(["uses", column], ascending=[False, True])
    got = uq.top_items(loaded, FULL, column, limit=100)
    assert got == [{"name": r[column], "uses": int(r["uses"]), "users": int(r["users"])}
                   for _, r in expected.iterrows()]


def test_busiest_routes_count_and_percentiles_match_pandas(loaded: Warehouse) -> None:
    df = _within(frame(EVENTS), FULL)
    df = df[df["kind"].isin(["page_view", "api_call", "callback"])]
    df = df.assign(failed=df["count"].where(df["status"] >= 400, 0))
    g = df.groupby(["kind", "route"])
    expected = pd.DataFrame({"calls": g["count"].sum(), "p50": g["duration_ms"].quantile(0.5),
                             "p95": g["duration_ms"].quantile(0.95), "errors": g["failed"].sum()}).reset_index()
    expected = expected.sort_values(["calls", "kind", "route"], ascending=[False, True, True])
    got = uq.busiest_routes(loaded, FULL, limit=100)
    assert [(r["kind"], r["route"], r["calls"], r["errors"]) for r in got] == [
        (r.kind, r.route, int(r.calls), int(r.errors)) for r in expected.itertuples()]
    for row, want in zip(got, expected.itertuples(), strict=True):
        assert row["p50"] == pytest.approx(want.p50, rel=1e-9)
        assert row["p95"] == pytest.approx(want.p95, rel=1e-9)


def test_most_used_views_are_page_and_url_state_without_embed_or_kiosk(loaded: Warehouse) -> None:
    df = _within(frame(EVENTS), FULL)
    views = df[df["kind"] == "page_view"]
    expected = views.groupby(["route", "search"]).agg(views=("count", "sum"), users=("user", "nunique"),
                                                       who=("user", lambda u: sorted(set(u))))
    expected = expected.reset_index().sort_values(["views", "route", "search"], ascending=[False, True, True])
    got = uq.top_views(loaded, FULL, limit=100)
    assert got == [{"page": r.route, "query": r.search, "views": int(r.views), "users": int(r.users),
                    "who": r.who} for r in expected.itertuples()]
    # "?m=pnl&rows=desk&embed=1" is the same view as "?rows=desk&m=pnl".
    assert "embed=1" not in {r["query"] for r in got}


def test_sql_looking_and_unicode_user_filters_are_values_not_sql(loaded: Warehouse) -> None:
    df = frame(EVENTS)
    for user in USERS:
        f = uq.usage_filter(FIRST_DAY, FIRST_DAY + timedelta(days=DAYS), user)
        assert uq.totals(loaded, f)["active_users"] == 1
        assert sum(n for _, _, n in uq.trend(loaded, f)) == int(df.loc[df["user"] == user, "count"].sum())
    nobody = uq.usage_filter(FIRST_DAY, FIRST_DAY, "' OR 1=1 --")
    assert uq.totals(loaded, nobody)["active_users"] == 0
    assert loaded.query_rows("SELECT count() FROM {db}.usage_events")[0][0] == len(EVENTS)


def test_empty_range_gives_zeroes_not_errors(loaded: Warehouse) -> None:
    f = uq.usage_filter(date(2001, 1, 1), date(2001, 1, 31))
    assert uq.totals(loaded, f) == {"active_users": 0, "page_view": 0, "api_call": 0, "callback": 0, "pivot": 0,
                                    "job": 0}
    assert uq.trend(loaded, f) == [] and uq.busiest_routes(loaded, f) == [] and uq.top_views(loaded, f) == []


@pytest.mark.parametrize(("start", "end", "user", "message"), [
    ("2026-03-10", "2026-03-01", None, "starts"),
    ("1900-01-01", "1900-01-02", None, "between"),
    ("2026-01-01", "2099-01-01", None, "at most"),
    ("20260301", "2026-03-02", None, "YYYY-MM-DD"),
    ("2026-02-30", "2026-03-02", None, "YYYY-MM-DD"),
    (None, "2026-03-02", None, "YYYY-MM-DD"),
    (12345, "2026-03-02", None, "YYYY-MM-DD"),
    ("2026-03-01", "2026-03-02", "u" * 10_000, "at most 200"),
    ("2026-03-01", "2026-03-02", "a\x00b", "control"),
    ("2026-03-01", "2026-03-02", ["alice"], "text"),
])
def test_bad_filters_are_refused_with_a_reason(start, end, user, message: str) -> None:
    with pytest.raises(uq.UsageQueryError, match=message):
        uq.usage_filter(start, end, user)


def test_bad_limits_and_columns_are_refused(loaded: Warehouse) -> None:
    for limit in (0, -1, 10_001, True, 2.5, "5"):
        with pytest.raises(uq.UsageQueryError):
            uq.busiest_routes(loaded, FULL, limit=limit)  # type: ignore[arg-type]
    with pytest.raises(uq.UsageQueryError):
        uq.top_items(loaded, FULL, "route; DROP TABLE x")


@pytest.mark.parametrize(("query", "start", "end", "user", "notices"), [
    ({}, date(2026, 3, 2), date(2026, 3, 31), None, 0),
    ({"from": "2026-03-05", "to": "2026-03-07", "user": "chloé"}, date(2026, 3, 5), date(2026, 3, 7), "chloé", 0),
    ({"from": "garbage", "to": "2026-03-07"}, date(2026, 3, 2), date(2026, 3, 7), None, 1),
    ({"from": "2026-03-09", "to": "2026-03-01"}, date(2026, 3, 2), date(2026, 3, 31), None, 1),
    ({"from": "2000-01-01", "to": "2026-03-31"}, date(2025, 2, 25), date(2026, 3, 31), None, 1),
    ({"from": "9999-01-01"}, date(2026, 3, 2), date(2026, 3, 31), None, 1),
    ({"user": "x" * 10_000}, date(2026, 3, 2), date(2026, 3, 31), None, 1),
    ({"user": ["bob", "alice"]}, date(2026, 3, 2), date(2026, 3, 31), "bob", 0),
])
def test_url_values_fall_back_to_defaults_with_a_notice(query, start, end, user, notices: int) -> None:
    f, said = uq.filter_from_url(query, today=date(2026, 3, 31))
    assert (f.start, f.end, f.user) == (start, end, user)
    assert len(said) == notices


def test_views_are_named_after_the_saved_views_of_the_people_who_opened_them(loaded: Warehouse) -> None:
    from backend.meta import open_meta
    from backend.meta.views import SavedViews

    asked: list[str] = []
    saved = SavedViews(open_meta("sqlite://"))
    saved.create_from_search("alice", "Desk P&L", "/pivot", "?m=pnl&rows=desk")
    saved.create_from_search("bob", "Desks", "/pivot", "?rows=desk&m=pnl")
    saved.create_from_search("bob", "Board", "/board", "")

    def saved_of(user: str):
        asked.append(user)
        return saved.list(user)  # refuses the SQL-looking and non-ASCII names: no views for them

    views = uq.top_views(loaded, FULL, limit=100)
    uq.name_saved_views(views, saved_of)
    by_key = {(v["page"], v["query"]): v["saved"] for v in views}
    assert by_key[("/pivot", "m=pnl&rows=desk")] == "Desk P&L, Desks"
    assert by_key[("/board", "")] == "Board"
    assert by_key[("/pivot", "rows=desk")] == ""
    assert sorted(asked) == sorted(set(asked)) == sorted(USERS)  # each user asked once
