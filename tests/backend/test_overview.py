"""Home-page overview checked against DuckDB over the fixture Parquet files."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import duckdb
import pytest

from backend.overview import TOP_N, Overview, build_overview, cached_overview
from backend.pivot.view_state import parse_view
from backend.warehouse import Warehouse

AS_HELD = "('Direct', 'ETF', 'ETC')"


def _duck(trades_folder: Path, sql: str) -> list[tuple]:
    files = str(trades_folder / "trades_1d" / "*.parquet")
    con = duckdb.connect()
    try:
        con.execute(f"CREATE VIEW t AS SELECT * FROM read_parquet('{files}') WHERE exposure_type IN {AS_HELD}")
        return con.execute(sql).fetchall()
    finally:
        con.close()


@pytest.fixture(scope="module")
def overview(loaded_warehouse: Warehouse) -> Overview:
    return build_overview(loaded_warehouse)


def test_overview_is_for_the_latest_trade_date(overview: Overview, trades_folder: Path) -> None:
    [(latest,)] = _duck(trades_folder, "SELECT max(trade_date) FROM t")
    assert overview.trade_date == latest


def test_day_totals_match_a_brute_force_sum(overview: Overview, trades_folder: Path) -> None:
    [(pnl, gross, net, long, short)] = _duck(trades_folder, f"""
        SELECT sum(pnl), sum(abs(notional)), sum(notional),
               sum(CASE WHEN notional > 0 THEN notional ELSE 0 END),
               sum(CASE WHEN notional < 0 THEN notional ELSE 0 END)
        FROM t WHERE trade_date = DATE '{overview.trade_date}'""")
    assert overview.totals["pnl"] == pytest.approx(pnl, rel=1e-9)
    assert overview.totals["gross_exposure"] == pytest.approx(gross, rel=1e-9)
    assert overview.totals["net_exposure"] == pytest.approx(net, rel=1e-9)
    assert overview.totals["long_exposure"] == pytest.approx(long, rel=1e-9)
    assert overview.totals["short_exposure"] == pytest.approx(short, rel=1e-9)
    assert gross > abs(net) > 0  # the fixture day really has longs and shorts


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


def test_every_contributor_links_to_the_pivot_filtered_on_it(overview: Overview) -> None:
    for group in overview.contributors:
        for c in group.top + group.bottom:
            parts = urlsplit(c.href)
            assert parts.path == "/pivot"
            query = parse_qs(parts.query)
            assert query[f"f.{group.dimension}"] == [c.value]
            assert query["date"] == [overview.trade_date.isoformat()]
            parsed = parse_view("?" + parts.query)
            assert parsed.notices == []
            assert parsed.state.filters == {group.dimension: (c.value,)}
            assert parsed.state.date_from == overview.trade_date
            assert parsed.state.exposure == "as_held"
            assert group.dimension not in parsed.state.rows


def test_the_day_link_opens_the_pivot_on_that_day_unfiltered(overview: Overview) -> None:
    parsed = parse_view(urlsplit(overview.pivot_href).query)
    assert parsed.notices == []
    assert parsed.state.filters == {}
    assert (parsed.state.date_from, parsed.state.date_to) == (overview.trade_date, overview.trade_date)


def test_an_earlier_day_can_be_asked_for(loaded_warehouse: Warehouse, trades_folder: Path) -> None:
    day = date(2024, 1, 15)
    [(pnl,)] = _duck(trades_folder, f"SELECT sum(pnl) FROM t WHERE trade_date = DATE '{day}'")
    result = build_overview(loaded_warehouse, day=day)
    assert result.trade_date == day
    assert result.totals["pnl"] == pytest.approx(pnl, rel=1e-9)


def test_an_empty_warehouse_gives_an_empty_overview(fresh_warehouse: Warehouse) -> None:
    result = build_overview(fresh_warehouse)
    assert not result.has_data
    assert result.totals == {} and result.contributors == []


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"n": 0}, "n:"), ({"n": 51}, "n:"), ({"n": True}, "n:"), ({"n": "5"}, "n:"),
    ({"exposure": "both"}, "exposure:"),
])
def test_bad_arguments_are_refused(loaded_warehouse: Warehouse, kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        build_overview(loaded_warehouse, **kwargs)


def test_the_cached_overview_equals_a_fresh_one_and_survives_a_round_trip(
    loaded_warehouse: Warehouse, overview: Overview, tmp_path: Path
) -> None:
    from cachelib import FileSystemCache

    cache = FileSystemCache(str(tmp_path / "cache"))
    first = cached_overview(loaded_warehouse, cache)
    second = cached_overview(loaded_warehouse, cache)
    assert first == second == overview
