"""Home-page overview checked against DuckDB over the fixture Parquet files."""

from __future__ import annotations

import shutil
from datetime import date, timedelta
from itertools import pairwise
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import duckdb
import pytest

from backend.access.principal import EVERYTHING
from backend.overview import (
    CHART_VIEWS,
    DAY_VIEWS,
    TILE_VIEWS,
    TOP_N,
    TREND_DAYS,
    Change,
    Overview,
    build_overview,
    cached_overview,
    chart_click_href,
    desk_href,
)
from backend.pivot.view_state import parse_view
from backend.warehouse import Warehouse

AS_HELD = "('Direct', 'ETF', 'ETC')"
TOTALS_SQL = """SELECT sum(pnl), sum(abs(notional)), sum(notional),
                       sum(CASE WHEN notional > 0 THEN notional ELSE 0 END),
                       sum(CASE WHEN notional < 0 THEN notional ELSE 0 END)
                FROM t WHERE trade_date = DATE '{day}'"""
TOTAL_NAMES = ("pnl", "gross_exposure", "net_exposure", "long_exposure", "short_exposure")


def _duck(trades_folder: Path, sql: str) -> list[tuple]:
    files = str(trades_folder / "trades_1d" / "*.parquet")
    con = duckdb.connect()
    try:
        con.execute(f"CREATE VIEW t AS SELECT * FROM read_parquet('{files}') WHERE exposure_type IN {AS_HELD}")
        return con.execute(sql).fetchall()
    finally:
        con.close()


def _dates_desc(trades_folder: Path) -> list[date]:
    return [r[0] for r in _duck(trades_folder, "SELECT DISTINCT trade_date FROM t ORDER BY 1 DESC")]


def _totals(trades_folder: Path, day: date) -> dict[str, float]:
    [row] = _duck(trades_folder, TOTALS_SQL.format(day=day))
    return dict(zip(TOTAL_NAMES, row, strict=True))


def _parsed(href: str):
    parts = urlsplit(href)
    assert parts.path == "/pivot"
    parsed = parse_view(parts.query)
    assert parsed.notices == []
    return parsed.state


@pytest.fixture(scope="module")
def overview(loaded_warehouse: Warehouse) -> Overview:
    return build_overview(loaded_warehouse)


def test_overview_is_for_the_latest_trade_date_compared_with_the_one_before(
    overview: Overview, trades_folder: Path
) -> None:
    latest, previous = _dates_desc(trades_folder)[:2]
    assert (overview.trade_date, overview.previous_date) == (latest, previous)


def test_day_totals_match_a_brute_force_sum(overview: Overview, trades_folder: Path) -> None:
    expected = _totals(trades_folder, overview.trade_date)
    for name in TOTAL_NAMES:
        assert overview.totals[name] == pytest.approx(expected[name], rel=1e-9)
    assert expected["gross_exposure"] > abs(expected["net_exposure"]) > 0  # the day really has longs and shorts


def test_changes_against_the_previous_trade_date_match_a_brute_force_computation(
    overview: Overview, trades_folder: Path
) -> None:
    latest, previous = _dates_desc(trades_folder)[:2]
    today, before = _totals(trades_folder, latest), _totals(trades_folder, previous)
    for name in TOTAL_NAMES:
        change = overview.change(name)
        assert change is not None
        assert change.previous == pytest.approx(before[name], rel=1e-9)
        assert change.delta == pytest.approx(today[name] - before[name], rel=1e-9, abs=1e-6)
        assert change.pct == pytest.approx((today[name] - before[name]) / abs(before[name]) * 100, rel=1e-9)
    # The fixture's two days differ, so a change computed against the wrong day would show.
    assert before["pnl"] != pytest.approx(today["pnl"])


def test_twenty_day_desk_pnl_matches_a_brute_force_group_by(overview: Overview, trades_folder: Path) -> None:
    days = sorted(_dates_desc(trades_folder)[:TREND_DAYS])
    assert len(days) == TREND_DAYS
    rows = _duck(trades_folder, f"""
        SELECT trade_date, desk, sum(pnl) FROM t
        WHERE trade_date BETWEEN DATE '{days[0]}' AND DATE '{days[-1]}' GROUP BY 1, 2""")
    expected = {(d, desk): pnl for d, desk, pnl in rows}
    trend = overview.trend
    assert trend.dates == days
    assert trend.desks == sorted({desk for _, desk in expected})
    for desk in trend.desks:
        for i, day in enumerate(days):
            assert trend.pnl[desk][i] == pytest.approx(expected.get((day, desk), 0.0), rel=1e-9, abs=1e-6)
    daily = _duck(trades_folder, f"SELECT trade_date, sum(pnl) FROM t WHERE trade_date >= DATE '{days[0]}' "
                                 "GROUP BY 1 ORDER BY 1")
    assert trend.total == pytest.approx([p for _, p in daily], rel=1e-9)


def test_exposure_is_a_level_on_the_day_never_a_sum_over_days(overview: Overview, trades_folder: Path) -> None:
    day = overview.trade_date
    by_desk = _duck(trades_folder, f"""
        SELECT desk, sum(abs(notional)), sum(CASE WHEN notional > 0 THEN notional ELSE 0 END),
               sum(CASE WHEN notional < 0 THEN notional ELSE 0 END), sum(notional)
        FROM t WHERE trade_date = DATE '{day}' GROUP BY 1 ORDER BY 2 DESC""")
    assert [d.desk for d in overview.desk_exposure] == [r[0] for r in by_desk]
    for shown, (_, gross, long, short, net) in zip(overview.desk_exposure, by_desk, strict=True):
        assert (shown.gross, shown.long, shown.short, shown.net) == pytest.approx((gross, long, short, net), rel=1e-9)
    # Summed over the trend's days the same positions would be ~20 times bigger: the test tells the two apart.
    first = overview.trend.dates[0]
    [(summed,)] = _duck(trades_folder, f"SELECT sum(abs(notional)) FROM t WHERE trade_date >= DATE '{first}'")
    assert summed > 5 * overview.totals["gross_exposure"]
    assert sum(d.gross for d in overview.desk_exposure) == pytest.approx(overview.totals["gross_exposure"], rel=1e-9)


@pytest.mark.parametrize("dimension", ["symbol", "portfolio_manager_id"])
def test_top_and_bottom_contributors_match_a_brute_force_ranking(
    overview: Overview, trades_folder: Path, dimension: str
) -> None:
    ranked = _duck(trades_folder, f"""
        SELECT {dimension}, sum(pnl) AS p, sum(abs(notional)) FROM t
        WHERE trade_date = DATE '{overview.trade_date}' GROUP BY 1 ORDER BY p DESC""")
    assert len(ranked) > TOP_N
    group = next(g for g in overview.contributors if g.dimension == dimension)
    assert [c.value for c in group.top] == [r[0] for r in ranked[:TOP_N]]
    assert [c.value for c in group.bottom] == [r[0] for r in ranked[::-1][:TOP_N]]
    expected = {r[0]: (r[1], r[2]) for r in ranked}
    for c in group.top + group.bottom:
        assert c.pnl == pytest.approx(expected[c.value][0], rel=1e-9)
        assert c.gross_exposure == pytest.approx(expected[c.value][1], rel=1e-9)


def test_managers_are_named_beside_their_ids_and_symbols_stand_alone(overview: Overview, trades_folder: Path) -> None:
    names = dict(_duck(trades_folder, f"""
        SELECT portfolio_manager_id, string_agg(DISTINCT portfolio_manager_name, ' / ' ORDER BY portfolio_manager_name)
        FROM t WHERE trade_date = DATE '{overview.trade_date}' GROUP BY 1"""))
    managers = next(g for g in overview.contributors if g.dimension == "portfolio_manager_id")
    shown = managers.top + managers.bottom
    assert shown and all(c.name for c in shown)
    assert {c.value: c.name for c in shown} == {c.value: names[c.value] for c in shown}
    assert all(c.name != c.value for c in shown)
    symbols = next(g for g in overview.contributors if g.dimension == "symbol")
    assert all(c.name == "" for c in symbols.top + symbols.bottom)


def test_the_worst_are_found_even_when_there_are_more_values_than_one_answer_holds(
    loaded_warehouse: Warehouse, overview: Overview, trades_folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import backend.overview as module

    monkeypatch.setattr(module, "RANK_LIMIT", 7)
    small = build_overview(loaded_warehouse)
    for before, after in zip(overview.contributors, small.contributors, strict=True):
        assert [c.value for c in after.top] == [c.value for c in before.top]
        assert [c.value for c in after.bottom] == [c.value for c in before.bottom]
        assert [c.name for c in after.top + after.bottom] == [c.name for c in before.top + before.bottom]


def test_every_contributor_links_to_the_pivot_filtered_on_it_one_level_down(overview: Overview) -> None:
    for group in overview.contributors:
        for c in group.top + group.bottom:
            assert parse_qs(urlsplit(c.href).query)[f"f.{group.dimension}"] == [c.value]
            state = _parsed(c.href)
            assert state.filters == {group.dimension: (c.value,)}
            assert (state.date_from, state.date_to) == (overview.trade_date, overview.trade_date)
            assert state.exposure == "as_held"
            assert group.dimension not in state.rows
            assert (state.sort_field, state.sort_desc) == ("pnl", True)


@pytest.mark.parametrize(("tile", "rows", "metrics", "sort"), [
    ("pnl", ("portfolio_manager_id",), ("pnl",), "pnl"),
    ("gross_exposure", ("desk", "asset_class"), ("gross_exposure", "long_exposure", "short_exposure"),
     "gross_exposure"),
    ("net_exposure", ("asset_class", "symbol"), ("net_exposure", "long_exposure", "short_exposure"), "net_exposure"),
])
def test_each_tile_links_to_its_own_pivot_view(
    overview: Overview, tile: str, rows: tuple, metrics: tuple, sort: str
) -> None:
    state = _parsed(overview.links[tile])
    assert (state.rows, state.metrics, state.sort_field, state.sort_desc) == (rows, metrics, sort, True)
    assert (state.date_from, state.date_to) == (overview.trade_date, overview.trade_date)
    assert state.filters == {} and state.exposure == "as_held"


def test_tile_links_differ_from_each_other(overview: Overview) -> None:
    assert len(set(overview.links.values())) == len(TILE_VIEWS) == 3


@pytest.mark.parametrize("chart", sorted(CHART_VIEWS))
def test_a_chart_click_links_to_that_desk_and_day(overview: Overview, chart: str) -> None:
    desk, day = overview.desk_exposure[0].desk, overview.trend.dates[3]
    href = chart_click_href(chart, {"points": [{"x": day.isoformat(), "customdata": [desk, day.isoformat()]}]})
    assert href == desk_href(chart, desk, day)
    state = _parsed(href)
    assert state.filters == {"desk": (desk,)}
    assert (state.date_from, state.date_to) == (day, day)
    assert (state.rows, state.metrics) == (CHART_VIEWS[chart].rows, CHART_VIEWS[chart].metrics)
    assert "desk" not in state.rows


@pytest.mark.parametrize("chart", sorted(CHART_VIEWS))
def test_a_click_on_a_days_total_opens_the_whole_day_one_level_down(overview: Overview, chart: str) -> None:
    day = overview.trend.dates[-2]
    state = _parsed(chart_click_href(chart, {"points": [{"customdata": [day.isoformat()]}]}))
    assert state.filters == {}
    assert (state.date_from, state.date_to) == (day, day)
    assert (state.rows, state.metrics, state.sort_field) == (
        DAY_VIEWS[chart].rows, DAY_VIEWS[chart].metrics, DAY_VIEWS[chart].sort)
    assert state.rows[0] == "desk"


def test_a_desk_name_with_link_characters_survives_the_round_trip() -> None:
    desk = "R&D / Rates?x=1#frag + ½"
    state = _parsed(chart_click_href("pnl", {"points": [{"customdata": [desk, "2024-02-01"]}]}))
    assert state.filters == {"desk": (desk,)}


@pytest.mark.parametrize("click", [
    None, "", "points", 42, [], {}, {"points": None}, {"points": []}, {"points": "x"}, {"points": [None]},
    {"points": [{}]}, {"points": [{"customdata": None}]}, {"points": [{"customdata": "Rates"}]},
    {"points": [{"customdata": ["Rates"]}]}, {"points": [{"customdata": ["Rates", "2024-02-01", "x"]}]},
    {"points": [{"customdata": []}]}, {"points": [{"customdata": [""]}]}, {"points": [{"customdata": [20240201]}]},
    {"points": [{"customdata": ["2024-13-01"]}]}, {"points": [{"customdata": ["2024-02-01" * 1000]}]},
    {"points": [{"customdata": [1, "2024-02-01"]}]}, {"points": [{"customdata": ["Rates", 20240201]}]},
    {"points": [{"customdata": ["", "2024-02-01"]}]}, {"points": [{"customdata": ["Rates", "2024-02-30"]}]},
    {"points": [{"customdata": ["Rates", "not a date"]}]}, {"points": [{"customdata": ["Rates", "2024-2-1"]}]},
    {"points": [{"customdata": ["Rates", "2024-02-01T00:00"]}]},
    {"points": [{"customdata": ["Ra\x00tes", "2024-02-01"]}]}, {"points": [{"customdata": ["x" * 201, "2024-02-01"]}]},
    {"points": [{"customdata": ["x" * 1_000_000, "2024-02-01"]}]}, {"points": [{"customdata": [None, None]}]},
])
def test_a_malformed_or_hostile_click_leads_nowhere(click: object) -> None:
    assert chart_click_href("pnl", click) is None


def test_an_unknown_chart_leads_nowhere() -> None:
    assert chart_click_href("<script>", {"points": [{"customdata": ["Rates", "2024-02-01"]}]}) is None


def test_a_change_from_zero_has_no_percentage_and_a_negative_base_keeps_the_direction() -> None:
    assert Change.between(5.0, 0.0) == Change(previous=0.0, delta=5.0, pct=None)
    # From a loss of 100 to a loss of 50 is an improvement: +50, +50 %.
    assert Change.between(-50.0, -100.0) == Change(previous=-100.0, delta=50.0, pct=50.0)
    assert Change.between(80.0, 100.0).pct == pytest.approx(-20.0)


def test_an_earlier_day_can_be_asked_for(loaded_warehouse: Warehouse, trades_folder: Path) -> None:
    dates = sorted(_dates_desc(trades_folder))
    day = dates[10]
    result = build_overview(loaded_warehouse, day=day)
    assert (result.trade_date, result.previous_date) == (day, dates[9])
    assert result.totals["pnl"] == pytest.approx(_totals(trades_folder, day)["pnl"], rel=1e-9)
    assert result.trend.dates == dates[:11]  # fewer than 20 trade dates before it: all of them


def test_a_day_without_trades_shows_the_last_trade_date_before_it(loaded_warehouse: Warehouse,
                                                                   trades_folder: Path) -> None:
    dates = sorted(_dates_desc(trades_folder))
    gap = next(d for d, e in pairwise(dates) if (e - d).days > 1)
    result = build_overview(loaded_warehouse, day=gap + timedelta(days=1))
    assert result.trade_date == gap


def test_an_empty_warehouse_gives_an_empty_overview(fresh_warehouse: Warehouse) -> None:
    result = build_overview(fresh_warehouse)
    assert not result.has_data
    assert result.totals == {} and result.contributors == [] and result.trend.dates == []
    assert result.change("pnl") is None
    assert Overview.from_dict(result.to_dict()) == result


def test_a_single_trade_date_has_no_previous_day_and_still_links(
    fresh_warehouse: Warehouse, trades_folder: Path, tmp_path: Path
) -> None:
    from backend.warehouse.loader import load_folder

    day = _dates_desc(trades_folder)[0]
    folder = tmp_path / "one-day"
    (folder / "trades_1d").mkdir(parents=True)
    for name in ("instruments.parquet", "constituents.parquet"):
        shutil.copy(trades_folder / name, folder / name)
    files = str(trades_folder / "trades_1d" / "*.parquet")
    duckdb.execute(f"COPY (SELECT * FROM read_parquet('{files}') WHERE trade_date = DATE '{day}') "
                   f"TO '{folder / 'trades_1d' / 'part-00000.parquet'}' (FORMAT parquet)")
    load_folder(fresh_warehouse, folder)

    result = build_overview(fresh_warehouse)
    assert (result.trade_date, result.previous_date) == (day, None)
    assert result.previous_totals == {} and result.change("pnl") is None
    assert result.trend.dates == [day]
    assert result.totals["pnl"] == pytest.approx(_totals(trades_folder, day)["pnl"], rel=1e-9)
    for href in result.links.values():
        assert _parsed(href).date_from == day


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"n": 0}, "n:"), ({"n": 51}, "n:"), ({"n": True}, "n:"), ({"n": "5"}, "n:"),
    ({"days": 0}, "days:"), ({"days": 10_000}, "days:"), ({"days": 2.5}, "days:"),
    ({"exposure": "both"}, "exposure:"), ({"day": "2024-01-15"}, "day:"),
])
def test_bad_arguments_are_refused(loaded_warehouse: Warehouse, kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        build_overview(loaded_warehouse, **kwargs)


def test_the_cached_overview_equals_a_fresh_one_and_survives_a_round_trip(
    loaded_warehouse: Warehouse, overview: Overview, tmp_path: Path
) -> None:
    from cachelib import FileSystemCache

    cache = FileSystemCache(str(tmp_path / "cache"))
    first = cached_overview(loaded_warehouse, cache, scope=EVERYTHING)
    second = cached_overview(loaded_warehouse, cache, scope=EVERYTHING)
    assert first == second == overview


def test_a_damaged_cache_entry_is_recomputed_not_shown(loaded_warehouse: Warehouse, overview: Overview) -> None:
    class Damaged:
        def get(self, key: str) -> dict:
            return {"trade_date": "2024-01-02", "totals": "nonsense"}

        def set(self, *args: object, **kwargs: object) -> None:
            pass

    assert cached_overview(loaded_warehouse, Damaged(), scope=EVERYTHING) == overview
