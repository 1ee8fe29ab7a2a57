"""The overview under a data scope: the day, its totals, contributors, desk trend and desk exposure
are those of the allowed rows (DuckDB over the fixture's Parquet files), and the cached overview
is kept apart per scope."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb
import pytest

from backend.access.principal import EVERYTHING
from backend.overview import TOP_N, build_overview, cached_overview
from backend.warehouse import Warehouse
from tests.backend.access.test_scopes_support import AS_HELD, SCOPES, close, duck_connection, duck_rows

DAY_SQL = (f"SELECT sum(pnl), sum(abs(notional)), sum(notional) FROM trades WHERE {AS_HELD} "
           "AND trade_date = $day AND {scope}")


@pytest.fixture(scope="module")
def duck(trades_folder: Path) -> duckdb.DuckDBPyConnection:
    return duck_connection(trades_folder)


@pytest.mark.parametrize("name", list(SCOPES))
def test_overview_figures_are_those_of_the_allowed_rows(
    loaded_warehouse: Warehouse, duck: duckdb.DuckDBPyConnection, name: str,
) -> None:
    scope = SCOPES[name]
    overview = build_overview(loaded_warehouse, scope=scope)
    days = [r[0] for r in duck_rows(duck, f"SELECT DISTINCT trade_date FROM trades WHERE {AS_HELD} AND {{scope}} "
                                          "ORDER BY 1 DESC", scope)]
    if not days:
        assert overview.trade_date is None and not overview.has_data and overview.totals == {}
        return
    assert overview.trade_date == days[0] and overview.previous_date == days[1]
    for day, totals in ((days[0], overview.totals), (days[1], overview.previous_totals)):
        [(pnl, gross, net)] = duck_rows(duck, DAY_SQL, scope, {"day": day})
        assert close(totals["pnl"], pnl, gross) and close(totals["gross_exposure"], gross, gross)
        assert close(totals["net_exposure"], net, gross)
    managers = {r[0] for r in duck_rows(duck, f"SELECT DISTINCT portfolio_manager_id FROM trades WHERE {AS_HELD} "
                                              "AND trade_date = $day AND {scope}", scope, {"day": days[0]})}
    desks = {r[0] for r in duck_rows(duck, "SELECT DISTINCT desk FROM trades WHERE {scope}", scope)}
    by_pm = next(c for c in overview.contributors if c.dimension == "portfolio_manager_id")
    shown = {c.value for c in by_pm.top + by_pm.bottom}
    assert shown <= managers and len(shown) == min(len(managers), 2 * TOP_N)
    assert {d.desk for d in overview.desk_exposure} <= desks
    assert set(overview.trend.desks) <= desks
    assert close(sum(d.gross for d in overview.desk_exposure), overview.totals["gross_exposure"], 1.0)
    trend_days = days[: len(overview.trend.dates)]
    for i, day in enumerate(sorted(trend_days)):
        [(pnl, gross, _)] = duck_rows(duck, DAY_SQL, scope, {"day": day})
        assert close(overview.trend.total[i], pnl, gross)


class _DictCache:
    def __init__(self) -> None:
        self.data: dict[str, Any] = {}

    def get(self, key: str) -> Any:
        return self.data.get(key)

    def set(self, key: str, value: Any, timeout: int | None = None) -> None:
        self.data[key] = value


def test_cached_overviews_are_kept_apart_per_scope(loaded_warehouse: Warehouse) -> None:
    cache = _DictCache()
    desk = cached_overview(loaded_warehouse, cache, scope=SCOPES["desk"])
    pm = cached_overview(loaded_warehouse, cache, scope=SCOPES["pm"])
    everyone = cached_overview(loaded_warehouse, cache, scope=EVERYTHING)
    assert len(cache.data) == 3
    assert {d.desk for d in desk.desk_exposure} <= {"Commodities", "Asia Equities"}
    assert {d.desk for d in pm.desk_exposure} <= {"Global Macro", "US Equities"}
    assert desk.totals != pm.totals != everyone.totals
    assert cached_overview(loaded_warehouse, cache, scope=SCOPES["pm"]) == pm
    assert cached_overview(loaded_warehouse, cache, scope=EVERYTHING) == build_overview(loaded_warehouse)
    assert len(cache.data) == 3
