"""The pivot view in the URL: round trips, defaults, and links that are broken or hostile."""

from __future__ import annotations

import random
from datetime import date
from urllib.parse import quote

import pytest

from backend.pivot.catalog import DIMENSIONS, METRICS
from backend.pivot.request import PivotRequest
from backend.pivot.view_state import (
    DEFAULT_METRICS,
    DEFAULT_ROWS,
    FILTERABLE,
    MAX_QUERY_CHARS,
    Expansion,
    ViewState,
    exposure_conflict,
    grid_rows,
    group_levels,
    narrowed,
    parse_view,
    revise,
    to_query,
    visible_rows,
)

LATEST = date(2024, 2, 29)


def _random_state(rng: random.Random) -> ViewState:
    dims = list(DIMENSIONS)
    rows = tuple(rng.sample(dims, rng.randint(1, 6)))
    cols = tuple(rng.sample([d for d in dims if d not in rows], rng.randint(0, 2)))
    metrics = tuple(rng.sample(list(METRICS), rng.randint(1, 6)))
    filters = {
        d: tuple(rng.choice(["A & B", "x,y", "Ünïcødé €", "50%", "a+b=c", "'; DROP TABLE t --", "v" * 200])
                 for _ in range(rng.randint(1, 3)))
        for d in rng.sample(FILTERABLE, rng.randint(0, 3))
    }
    filters = {d: tuple(dict.fromkeys(v)) for d, v in filters.items()}
    lo = date(2024, 1, rng.randint(1, 31))
    hi = lo if rng.random() < 0.5 else date(2024, 2, rng.randint(1, 29))
    exposure = rng.choice(["as_held", "look_through", "custom"])
    types = tuple(rng.choice([("Direct",), ("Direct", "ETF"), ("Direct", "Constituent", "Residual")])) \
        if exposure == "custom" else ()
    sort_field = rng.choice([None, metrics[0], rows[0]])
    split_values = ["ETF", "", "A & B", "x,y", "Ünïcødé"]
    sort_column = tuple(rng.choice(split_values) for _ in cols) if cols and sort_field in metrics \
        and rng.random() < 0.6 else ()
    return ViewState(
        rows=rows, cols=cols, metrics=metrics, filters=filters, date_from=lo, date_to=hi,
        exposure=exposure, types=types,
        sort_field=sort_field, sort_desc=sort_field is None or rng.random() < 0.5, sort_column=sort_column,
        stocks=rng.choice(["last", "average"]),
        expansion=Expansion(depth=rng.randint(0, len(rows) - 1),
                            open=tuple(f"g/{i}/é,&=" for i in range(rng.randint(0, 3))),
                            closed=tuple(f"c|{i}" for i in range(rng.randint(0, 2)))),
        view=rng.choice(["table", "chart"]), chart_by=rng.choice(FILTERABLE),
        top=rng.randint(1, 50), limit=rng.randint(1, 10_000),
        embed=rng.random() < 0.2, kiosk=rng.random() < 0.2,
    )


@pytest.mark.parametrize("seed", range(40))
def test_any_view_survives_a_round_trip_through_its_url(seed: int) -> None:
    state = _random_state(random.Random(seed))
    parsed = parse_view(to_query(state), latest_date=LATEST)
    assert parsed.notices == []
    assert parsed.state == state


def test_empty_link_gives_the_default_view_on_the_latest_day() -> None:
    parsed = parse_view("", latest_date=LATEST)
    assert parsed.notices == []
    assert parsed.state.rows == DEFAULT_ROWS and parsed.state.metrics == DEFAULT_METRICS
    assert (parsed.state.date_from, parsed.state.date_to) == (LATEST, LATEST)
    assert parsed.state.exposure == "as_held"


def test_every_parsed_view_builds_a_request_the_engine_accepts() -> None:
    rng = random.Random(5)
    for _ in range(50):
        state = parse_view(to_query(_random_state(rng)), latest_date=LATEST).state
        req = PivotRequest.model_validate(state.to_request())
        assert list(req.dimensions) == list(state.rows)


def test_request_carries_dates_filters_and_custom_types() -> None:
    state = parse_view(
        "?rows=desk&m=pnl&date=2024-01-02..2024-01-31&f.desk=Rates&f.desk=FX&exposure=custom&types=Direct,Constituent"
    ).state
    body = state.to_request()
    assert body["filters"] == {
        "trade_date": {"from": "2024-01-02", "to": "2024-01-31"},
        "desk": ["Rates", "FX"],
        "exposure_type": ["Direct", "Constituent"],
    }
    assert body["exposure"] == "look_through"
    assert body["sort"] == {"field": "pnl", "direction": "desc"}


@pytest.mark.parametrize(
    ("query", "needle"),
    [
        ("rows=desk,not_a_dim", "Unknown dimension 'not_a_dim'"),
        ("rows=desk&m=pnl,bogus", "Unknown metric 'bogus'"),
        ("date=2024-13-45", "is not a date"),
        ("date=yesterday", "is not a date"),
        ("date=2024-01-01..2024-01-02..2024-01-03", "is not a date or a range"),
        ("date=1066-10-14", "is not a date"),
        ("exposure=everything", "Exposure 'everything' is unknown"),
        ("exposure=custom&types=ETF,Constituent", "count the same funds twice"),
        ("exposure=custom&types=ETC,Residual", "count the same funds twice"),
        ("exposure=custom&types=", "at least one exposure type"),
        ("sort=-bogus", "Sort by 'bogus'"),
        ("depth=lots", "Depth 'lots' is not a number"),
        ("depth=99", "Depth must be between"),
        ("view=3d", "View '3d' is unknown"),
        ("by=password", "Chart dimension 'password'"),
        ("top=0", "Top N must be between"),
        ("limit=-5", "Limit '-5' is not a number"),
        ("f.secret_column=1", "unknown dimension 'secret_column'"),
        ("f.trade_date=2024-01-01", "unknown dimension 'trade_date'"),
        ("evil=1", "Unknown parameter 'evil'"),
        ("rows=desk&rows=book", "more than once"),
        ("rows=desk,desk", "listed twice"),
        ("rows=desk&cols=desk", "rows and columns at once"),
        ("rows=a,b,c", "No valid row dimension"),
        ("cols=exposure_type&sort=-pnl&sortcol=ETF&sortcol=Direct", "has 2 value(s)"),
        ("sort=-pnl&sortcol=ETF", "has 1 value(s) but the view splits columns by 0"),
        ("rows=desk&cols=exposure_type&sort=desk&sortcol=ETF", "needs a metric"),
        ("cols=exposure_type&sort=-pnl&sortcol=%00x", "not a valid value"),
        ("cols=exposure_type&sort=-pnl&sortcol=" + "v" * 201, "not a valid value"),
        ("sort=-pnl__c0", "Sort by 'pnl__c0' is not possible"),
        ("stocks=median", "Stocks 'median' is unknown"),
        ("stocks=last&stocks=average", "more than once"),
    ],
)
def test_bad_parameters_give_a_sane_view_and_a_notice(query: str, needle: str) -> None:
    parsed = parse_view(query, latest_date=LATEST)
    assert any(needle in n for n in parsed.notices), parsed.notices
    PivotRequest.model_validate(parsed.state.to_request())


def test_bad_parameters_do_not_discard_the_good_ones() -> None:
    parsed = parse_view("rows=desk,bogus&m=pnl&date=nope&f.desk=Rates", latest_date=LATEST)
    assert parsed.state.rows == ("desk",)
    assert parsed.state.metrics == ("pnl",)
    assert parsed.state.filters == {"desk": ("Rates",)}
    assert parsed.state.date_from == LATEST
    assert len(parsed.notices) == 2


def test_inverted_date_range_is_swapped_with_a_notice() -> None:
    parsed = parse_view("date=2024-02-10..2024-01-05")
    assert (parsed.state.date_from, parsed.state.date_to) == (date(2024, 1, 5), date(2024, 2, 10))
    assert any("swapped" in n for n in parsed.notices)


@pytest.mark.parametrize(
    "query",
    [
        "rows=" + quote("desk'); DROP TABLE trades_1d; --"),
        "m=" + quote("pnl) FROM system.users --"),
        "sort=" + quote("-pnl; DELETE"),
        "by=" + quote("<script>alert(1)</script>"),
        "f." + quote("desk` OR 1=1 --") + "=x",
        quote("<img src=x onerror=alert(1)>") + "=1",
        "rows=" + quote("產品,désk,🚀"),
        "date=" + quote("２０２４-０１-０１"),
        "rows=%ZZ%00&m=%",
        "&&&==&=&",
        "open=" + quote("\x00\x1b[31m"),
    ],
)
def test_injected_and_garbled_text_never_reaches_the_request(query: str) -> None:
    parsed = parse_view(query, latest_date=LATEST)
    state = parsed.state
    assert set(state.rows) <= set(DIMENSIONS) and set(state.metrics) <= set(METRICS)
    assert set(state.filters) <= set(FILTERABLE)
    assert state.chart_by in FILTERABLE
    assert all("\x00" not in i for i in state.expansion.open)
    assert parsed.notices, "a hostile link must be reported"
    # Notices quote at most a short, printable excerpt of what was ignored.
    assert all(len(n) < 400 and "\x00" not in n and "\x1b" not in n for n in parsed.notices)
    PivotRequest.model_validate(state.to_request())


def test_filter_values_are_kept_verbatim_but_bounded() -> None:
    hostile = "'; DROP TABLE trades_1d; --"
    parsed = parse_view(f"f.desk={quote(hostile)}&f.desk={'x' * 201}&f.desk=%01bad")
    assert parsed.state.filters == {"desk": (hostile,)}
    assert sum("not valid" in n for n in parsed.notices) == 2


def test_oversized_link_is_refused_as_a_whole() -> None:
    query = "rows=desk&" + "f.desk=" + "x" * 100_000
    parsed = parse_view(query, latest_date=LATEST)
    assert parsed.state == parse_view("", latest_date=LATEST).state
    assert any("too long" in n for n in parsed.notices)


def test_many_parameters_are_bounded_in_time_and_notices() -> None:
    query = "&".join(f"junk{i}=1" for i in range(1500))
    assert len(query) < MAX_QUERY_CHARS
    parsed = parse_view(query)
    assert len(parsed.notices) == 9 and parsed.notices[-1].startswith("…and more")
    parsed = parse_view("&".join(f"f.desk=v{i}" for i in range(2500)))
    assert parsed.state == parse_view("").state
    assert parsed.notices


def test_filter_lists_are_capped() -> None:
    parsed = parse_view("&".join(f"f.book=b{i}" for i in range(300)))
    assert len(parsed.state.filters["book"]) == 200
    assert any("At most 200 values" in n for n in parsed.notices)


def test_repeated_identical_single_keys_are_harmless() -> None:
    parsed = parse_view("rows=desk&rows=desk&m=pnl")
    assert parsed.notices == [] and parsed.state.rows == ("desk",)


def test_exposure_conflict_rules() -> None:
    assert exposure_conflict(["Direct", "ETF", "ETC"]) is None
    assert exposure_conflict(["Direct", "Constituent", "Residual"]) is None
    assert exposure_conflict(["ETF", "Constituent"]) is not None
    assert exposure_conflict([]) is not None


def test_expansion_toggle_opens_and_closes_at_any_depth() -> None:
    exp = Expansion()
    assert not exp.is_open("a", 0)
    exp = exp.toggle("a", 0)
    assert exp.is_open("a", 0) and exp.open == ("a",)
    exp = exp.toggle("a", 0)
    assert not exp.is_open("a", 0) and exp == Expansion()
    every = Expansion.all_open(3)
    assert every.is_open("x", 2) and not every.is_open("x", 3)
    shut = every.toggle("x", 1)
    assert not shut.is_open("x", 1) and shut.closed == ("x",)
    assert shut.toggle("x", 1) == every


def _tree(rng: random.Random) -> list[dict]:
    """A display-order tree of 3 levels built from random paths (groups before children)."""
    paths = sorted({(rng.choice("ABC"), rng.choice("xyz"), rng.choice("123")) for _ in range(40)})
    tree: list[dict] = []
    seen: set[tuple[str, ...]] = set()
    for path in paths:
        for depth in range(1, 4):
            prefix = path[:depth]
            if prefix not in seen:
                seen.add(prefix)
                kind = "leaf" if depth == 3 else "group"
                tree.append({"_id": "/".join(prefix), "_path": list(prefix), "_level": depth, "_kind": kind})
    return tree


@pytest.mark.parametrize("seed", range(25))
def test_visible_rows_match_an_ancestor_by_ancestor_check(seed: int) -> None:
    rng = random.Random(seed)
    tree = _tree(rng)
    groups = [r for r in tree if r["_kind"] == "group"]
    exp = Expansion(
        depth=rng.randint(0, 2),
        open=tuple(r["_id"] for r in rng.sample(groups, rng.randint(0, len(groups)))),
        closed=tuple(r["_id"] for r in rng.sample(groups, rng.randint(0, 3))),
    )

    def open_(prefix: tuple[str, ...]) -> bool:
        gid, level = "/".join(prefix), len(prefix) - 1
        return gid not in exp.closed and (level < exp.depth or gid in exp.open)

    expected = [r["_id"] for r in tree
                if all(open_(tuple(r["_path"][:k])) for k in range(1, len(r["_path"])))]
    before = [dict(r) for r in tree]
    assert [r["_id"] for r in visible_rows(tree, exp)] == expected
    assert tree == before


def test_expand_all_and_collapse_all_show_everything_and_the_top_level() -> None:
    tree = _tree(random.Random(1))
    assert group_levels(tree) == 2
    assert len(visible_rows(tree, Expansion.all_open(group_levels(tree)))) == len(tree)
    assert [r["_level"] for r in visible_rows(tree, Expansion())] == [1] * len({r["_path"][0] for r in tree})


def test_a_split_column_sort_reaches_the_request_and_falls_back_with_its_sort() -> None:
    state = parse_view("rows=desk&cols=exposure_type,asset_class&m=pnl&sort=pnl&sortcol=ETF&sortcol=",
                       latest_date=LATEST).state
    assert state.sort_column == ("ETF", "") and not state.sort_desc
    body = state.to_request()
    assert body["sort"] == {"field": "pnl", "direction": "asc", "column": ["ETF", ""]}
    assert body["stocks"] == "last"
    PivotRequest.model_validate(body)
    # A sort that falls back (bad field) takes no split column along.
    fallen = parse_view("rows=desk&cols=exposure_type&m=pnl&sort=-bogus&sortcol=ETF", latest_date=LATEST)
    assert fallen.state.sort_column == () and fallen.state.sort_field == "pnl"
    # Changing the split drops the sorted split column; the metric sort stays.
    changed = revise(state, cols=("exposure_type",)).state
    assert changed.sort_column == () and changed.sort_field == "pnl"


def test_narrowed_view_selects_one_cell_or_says_why_not() -> None:
    state = parse_view("rows=trade_date,desk&cols=exposure_type&date=2024-01-02..2024-01-31&f.desk=Rates&f.desk=FX",
                       latest_date=LATEST).state
    cell = narrowed(state, [("trade_date", "2024-01-15"), ("desk", "FX"), ("exposure_type", "ETF")])
    assert isinstance(cell, ViewState)
    assert (cell.date_from, cell.date_to) == (date(2024, 1, 15), date(2024, 1, 15))
    assert cell.filters == {"desk": ("FX",)}
    assert cell.exposure == "custom" and cell.types == ("ETF",)
    body = parse_view(to_query(cell), latest_date=LATEST).state.to_request()
    assert body["filters"] == {"trade_date": "2024-01-15", "desk": ["FX"], "exposure_type": ["ETF"]}
    assert body["exposure"] == "as_held"
    looked = parse_view("rows=exposure_type&exposure=look_through&date=2024-01-05", latest_date=LATEST).state
    residual = narrowed(looked, [("exposure_type", "Residual")])
    assert isinstance(residual, ViewState) and residual.engine_exposure() == "look_through"


@pytest.mark.parametrize(
    ("cells", "why"),
    [
        ([("trade_date", "2024-03-01")], "not a day of this view"),
        ([("trade_date", "yesterday")], "not a day of this view"),
        ([("desk", "Equities")], "outside the current filter"),
        ([("book", "")], "blank or unusual"),
        ([("book", "x\x00y")], "blank or unusual"),
        ([("book", None)], "blank or unusual"),
        ([("exposure_type", "Constituent")], "not part of this view"),
    ],
)
def test_narrowed_view_refuses_what_a_link_cannot_say(cells: list, why: str) -> None:
    state = parse_view("rows=desk&date=2024-01-02..2024-01-31&f.desk=Rates", latest_date=LATEST).state
    problem = narrowed(state, cells)
    assert isinstance(problem, str) and why in problem


def test_grid_rows_mark_open_groups_like_the_browser() -> None:
    tree = _tree(random.Random(3))
    exp = Expansion(depth=1)
    shown = grid_rows(tree, exp)
    assert [r["_id"] for r in shown] == [r["_id"] for r in visible_rows(tree, exp)]
    assert all(r["_open"] == (r["_kind"] == "group" and r["_level"] == 1) for r in shown)
    assert all("_open" not in r for r in tree)  # the tree itself is left alone


def test_revise_takes_control_values_as_the_controls_send_them() -> None:
    state = parse_view("rows=desk&m=pnl", latest_date=LATEST).state
    one_day = revise(state, date_from="2024-02-05", date_to="2024-02-05")
    assert one_day.notices == [] and one_day.state.date_from == one_day.state.date_to == date(2024, 2, 5)
    span = revise(state, date_from="2024-02-05", date_to="2024-02-09").state
    assert (span.date_from, span.date_to) == (date(2024, 2, 5), date(2024, 2, 9))
    assert revise(state, rows=["book", "desk"]).state.rows == ("book", "desk")
    broken = revise(state, date_from="not a date", date_to="2024-02-09")
    assert broken.state == state and broken.notices
