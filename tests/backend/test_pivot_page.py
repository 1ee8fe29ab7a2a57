"""The pivot page's pure helpers: chart bars, grid columns, and the words about time."""

from __future__ import annotations

import random
from datetime import date

import pytest

from backend.pivot.view_state import ViewState
from components import pivot_summary as summary
from components.pivot_charts import top_and_bottom
from components.pivot_grid import column_defs, is_stock, split_index


def _answer(values: dict[str, float], limit: int, desc: bool) -> dict:
    """What the engine answers for one dimension sorted by P&L with ``limit``: kept rows and one Other."""
    ranked = sorted(values, key=lambda k: (-values[k] if desc else values[k], k))
    rows = [{"symbol": k, "pnl": values[k]} for k in ranked[:limit]]
    rest = ranked[limit:]
    if rest:
        rows.append({"symbol": None, "pnl": sum(values[k] for k in rest), "_other": True, "_folded": len(rest)})
    return {"rows": rows, "totals": {"pnl": sum(values.values())}}


@pytest.mark.parametrize("seed", range(30))
def test_pnl_bars_show_top_and_bottom_and_add_up_to_the_total(seed: int) -> None:
    rng = random.Random(seed)
    values = {f"S{i}": rng.uniform(-1e6, 1e6) for i in range(rng.randint(0, 30))}
    n = rng.randint(1, 8)
    bars = top_and_bottom(_answer(values, n, True), _answer(values, n, False), "symbol")
    ranked = sorted(values, key=lambda k: -values[k])
    shown = [b["value"] for b in bars if b["value"] is not None]
    if len(ranked) <= 2 * n:
        assert shown == ranked and len(bars) == len(ranked)
    else:
        assert shown == ranked[:n] + ranked[-n:]
        other = bars[n]
        assert other["value"] is None and other["label"] == f"Other ({len(ranked) - 2 * n})"
        assert other["pnl"] == pytest.approx(sum(values[k] for k in ranked[n:-n]), abs=1e-6)
    assert sum(b["pnl"] for b in bars) == pytest.approx(sum(values.values()), abs=1e-6)


def test_split_index_reads_grid_column_ids() -> None:
    assert split_index("pnl__c3") == ("pnl", 3)
    assert split_index("pnl") == ("pnl", None)
    assert split_index("pnl__cx") == ("pnl", None)
    assert split_index("pnl__c9999999") == ("pnl", None)


def _defs(**kwargs) -> list[dict]:
    args = {"dimensions": ["desk"], "column_dims": ["exposure_type"], "metrics": ["pnl", "gross_exposure"],
            "column_values": [["Direct"], ["ETF"]], "tree": [], "sort_field": "pnl", "sort_desc": True}
    return column_defs(**{**args, **kwargs})


def _leaves(defs: list[dict]) -> list[dict]:
    return [c for d in defs for c in d.get("children", [d])]


def test_the_sorted_split_column_carries_the_sort_and_totals_are_pinned_right() -> None:
    cols = {c["colId"]: c for c in _leaves(_defs(sort_column=["ETF"]))}
    assert [k for k, c in cols.items() if c.get("sort")] == ["pnl__c1"]
    assert cols["pnl"]["pinned"] == "right" and cols["gross_exposure"]["pinned"] == "right"
    assert cols["_tree"]["pinned"] == "left"
    totals = {c["colId"]: c for c in _leaves(_defs())}
    assert [k for k, c in totals.items() if c.get("sort")] == ["pnl"]
    # A sorted split column that this answer does not have sorts nothing on screen but the total.
    missing = {c["colId"]: c for c in _leaves(_defs(sort_column=["Constituent"]))}
    assert [k for k, c in missing.items() if c.get("sort")] == ["pnl"]


def test_stock_headers_say_as_of_only_for_stocks() -> None:
    cols = {c["colId"]: c for c in _leaves(_defs(column_dims=[], column_values=[], as_of="2024-02-29"))}
    assert cols["pnl"]["headerName"] == "P&L"
    if is_stock("gross_exposure"):
        assert cols["gross_exposure"]["headerName"] == "Gross exposure · as of 2024-02-29"


def test_freshness_says_how_stocks_were_taken_over_a_range() -> None:
    one_day = ViewState(metrics=("pnl", "gross_exposure"), date_from=date(2024, 2, 1), date_to=date(2024, 2, 1))
    span = one_day.model_copy(update={"date_to": date(2024, 2, 29)})
    assert summary.stock_words(one_day, {"as_of": "2024-02-01"}) is None
    assert summary.as_of(one_day, {"as_of": "2024-02-01"}) is None
    if is_stock("gross_exposure"):
        assert summary.as_of(span, {"as_of": "2024-02-28", "stocks": "last"}) == "2024-02-28"
        assert "as of 2024-02-28" in summary.freshness(span, {"as_of": "2024-02-28", "stocks": "last"})
        average = span.model_copy(update={"stocks": "average"})
        meta = {"stocks": "average", "stock_days": 20, "as_of": "2024-02-28"}
        assert summary.as_of(average, meta) is None
        assert "averaged over 20 dates with data" in summary.freshness(average, meta)
    flows = span.model_copy(update={"metrics": ("pnl",)})
    assert summary.stock_words(flows, {"as_of": "2024-02-28"}) is None


def test_kiosk_title_names_measures_hierarchy_dates_and_filters() -> None:
    state = ViewState(rows=("desk", "symbol"), metrics=("pnl",), date_from=date(2024, 2, 1),
                      date_to=date(2024, 2, 29), filters={"region": ("Europe",)})
    title, sub = summary.view_title(state, {})
    assert title == "P&L by Desk › Symbol"
    assert "2024-02-01 to 2024-02-29" in sub and "As held" in sub and "Region: Europe" in sub


@pytest.mark.parametrize("exposure", ["as_held", "look_through"])
def test_the_trades_grid_names_the_manager_beside_the_id(exposure: str) -> None:
    heads = [c["headerName"] for c in summary.drill_columns(exposure)]
    assert heads[heads.index("Portfolio manager") + 1] == "PM name"
